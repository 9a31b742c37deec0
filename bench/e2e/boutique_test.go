//go:build schedperf

/*
Copyright The Proxima Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	benchmark "k8s.io/kubernetes/test/integration/scheduler_perf"
	"k8s.io/kubernetes/test/utils/ktesting"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// BoutiqueConfigEnv names the scheduler_perf configuration of an Online
// Boutique world: the proxima.yaml that `go run ./bench/boutique world`
// writes (`make bench-boutique` runs it all).
const BoutiqueConfigEnv = "PROXIMA_BOUTIQUE_CONFIG"

// BenchmarkOnlineBoutique runs the Online Boutique comparison's test cases
// for the default profile and Proxima's on a world of bench/boutique, and
// after each writes where every pod went (placements_*.json) next to the
// data items, for `boutique report`.
func BenchmarkOnlineBoutique(b *testing.B) {
	config := os.Getenv(BoutiqueConfigEnv)
	if config == "" {
		b.Fatalf("%s must name the proxima.yaml of a world written by `go run ./bench/boutique world`; `make bench-boutique` does both", BoutiqueConfigEnv)
	}
	w := newPerfHooks(b)
	benchmark.RunBenchmarkPerfScheduling(b, config, "proxima", w.registry(),
		benchmark.WithPrepareFn(func(tCtx ktesting.TContext) error {
			if err := w.installCRDs(tCtx.RESTConfig()); err != nil {
				return err
			}
			// Runs before scheduler_perf stops the apiserver.
			tCtx.Cleanup(func() { writePlacements(tCtx) })
			return nil
		}))
}

// placement is bench/boutique's PodPlacement.
type placement struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	App       string `json:"app"`
	Node      string `json:"node,omitempty"`
	Site      string `json:"site,omitempty"`
}

// writePlacements writes every pod with an app label and the site of its
// node as placements_<test>.json in the data items directory.
func writePlacements(tCtx ktesting.TContext) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := tCtx.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		tCtx.Errorf("placements: listing nodes: %v", err)
		return
	}
	siteOf := map[string]string{}
	for _, n := range nodes.Items {
		siteOf[n.Name] = n.Labels[placementv1alpha1.SiteLabel]
	}
	pods, err := tCtx.Client().CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "app"})
	if err != nil {
		tCtx.Errorf("placements: listing pods: %v", err)
		return
	}
	out := struct {
		Name string      `json:"name"`
		Pods []placement `json:"pods"`
	}{Name: tCtx.Name()}
	placed := 0
	for _, p := range pods.Items {
		pl := placement{Namespace: p.Namespace, Name: p.Name, App: p.Labels["app"], Node: p.Spec.NodeName, Site: siteOf[p.Spec.NodeName]}
		if pl.Site != "" {
			placed++
		}
		out.Pods = append(out.Pods, pl)
	}
	tCtx.Logf("placements: %d of %d pods placed", placed, len(out.Pods))
	dir := ""
	if f := flag.Lookup("data-items-dir"); f != nil {
		dir = f.Value.String()
	}
	if dir == "" {
		return
	}
	data, err := json.MarshalIndent(out, "", " ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "placements_"+unsafeFileChars.ReplaceAllString(tCtx.Name(), "_")+".json"), data, 0o644)
	}
	if err != nil {
		tCtx.Errorf("placements: %v", err)
	}
}
