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

// Package e2e measures scheduler-plugins' NetworkOverhead + TopologicalSort
// with kube-scheduler's own scheduler_perf harness at Kubernetes 1.34, on the
// world of Proxima's bench/e2e (the same templates, read from there and
// translated for 1.34's template functions), so that its data items sit next
// to those of Proxima's run and bench/e2e/report prints them together. See
// bench/README.md.
package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	benchmark "k8s.io/kubernetes/test/integration/scheduler_perf"
	"k8s.io/kubernetes/test/utils/ktesting"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/networkoverhead"
	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/topologicalsort"

	// Registers the peers' plugin args into the kube-scheduler config scheme.
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"

	"github.com/proxima-sched/proxima/bench/peers"
)

// The EU-resident pods (bench/e2e/templates/pod.yaml) and the jurisdiction
// their policy allows (bench/e2e/templates/placement-policy.yaml).
const (
	residentLabel, residentValue = "workload", "resident"
	allowedJurisdiction          = "EU"
)

// sites are Proxima's Sites, read without Proxima's Go types (which are
// built against another Kubernetes).
var sites = schema.GroupVersionResource{Group: "placement.proxima.dev", Version: "v1alpha1", Resource: "sites"}

// BenchmarkPerfScheduling runs performance-config.yaml. Its name is that of
// Proxima's bench/e2e benchmark, so the data items of both read alike.
func BenchmarkPerfScheduling(b *testing.B) {
	w := newPerfHooks(b)
	// performance-config.yaml names bench/e2e's templates, written for the
	// template functions of Proxima's scheduler_perf; run their translation
	// for 1.34's (the same text, checked by TestTranslateTemplates).
	config, err := peers.TranslateConfig("performance-config.yaml", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	// The topic names the data items file,
	// BenchmarkPerfScheduling_benchmark_<topic>_<time>.json: after Proxima's
	// ("proxima") in a directory holding both, so bench/e2e/report lists
	// these test cases after Proxima's.
	benchmark.RunBenchmarkPerfScheduling(b, config, "scheduler-plugins", w.registry(),
		benchmark.WithPrepareFn(w.prepare))
}

// newPerfHooks puts bin/ first on PATH (scheduler_perf starts etcd from
// PATH; use the one Proxima's hack/tools.sh built) and returns the hooks
// with Proxima's and the peers' CRDs.
func newPerfHooks(b *testing.B) *perfHooks {
	bin, err := peers.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "etcd")); err != nil {
		b.Fatalf("etcd not found in %s: run `make tools` at the repository root first: %v", bin, err)
	}
	b.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	crds, err := crdInstallOptions()
	if err != nil {
		b.Fatal(err)
	}
	return &perfHooks{crds: crds}
}

// perfHooks installs the CRDs every workload needs into each fresh apiserver
// and records residency after each workload.
type perfHooks struct {
	crds envtest.CRDInstallOptions
}

// registry holds the peers, each factory first installing the CRDs:
// scheduler_perf builds the scheduler, and so the plugins, right after
// starting the apiserver, before any workload step could create them.
func (w *perfHooks) registry() frameworkruntime.Registry {
	out := frameworkruntime.Registry{}
	for name, factory := range map[string]frameworkruntime.PluginFactory{
		networkoverhead.Name: networkoverhead.New,
		topologicalsort.Name: topologicalsort.New,
	} {
		out[name] = func(ctx context.Context, args runtime.Object, h framework.Handle) (framework.Plugin, error) {
			if err := w.installCRDs(h.KubeConfig()); err != nil {
				return nil, err
			}
			return factory(ctx, args, h)
		}
	}
	return out
}

func (w *perfHooks) installCRDs(cfg *rest.Config) error {
	opts := w.crds
	// InstallCRDs fills in the objects it read; keep the template clean.
	opts.CRDs = nil
	if _, err := envtest.InstallCRDs(cfg, opts); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	return nil
}

// prepare runs before each workload: it installs the CRDs (in case no
// plugin factory did) and registers the residency count.
func (w *perfHooks) prepare(tCtx ktesting.TContext) error {
	if err := w.installCRDs(tCtx.RESTConfig()); err != nil {
		return err
	}
	// Cleanups run last-registered first: this one runs before scheduler_perf
	// stops the apiserver.
	tCtx.Cleanup(func() { countResidency(tCtx) })
	return nil
}

// countResidency counts the EU-resident pods placed outside the EU, as
// Proxima's bench/e2e does for profiles without EdgePlacement (nothing here
// enforces residency, so nothing fails), and writes the result next to the
// data items for bench/e2e/report.
func countResidency(tCtx ktesting.TContext) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := tCtx.Dynamic().Resource(sites).List(ctx, metav1.ListOptions{})
	if err != nil {
		tCtx.Errorf("residency check: listing sites: %v", err)
		return
	}
	inEU := map[string]bool{}
	for _, s := range list.Items {
		jurisdictions, _, err := unstructured.NestedStringSlice(s.Object, "spec", "jurisdictions")
		if err != nil {
			tCtx.Errorf("residency check: site %s: %v", s.GetName(), err)
			return
		}
		inEU[s.GetName()] = slices.Contains(jurisdictions, allowedJurisdiction)
	}
	nodes, err := tCtx.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		tCtx.Errorf("residency check: listing nodes: %v", err)
		return
	}
	siteOf := map[string]string{}
	for _, n := range nodes.Items {
		siteOf[n.Name] = n.Labels[peers.SiteLabel]
	}
	pods, err := tCtx.Client().CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		LabelSelector: residentLabel + "=" + residentValue})
	if err != nil {
		tCtx.Errorf("residency check: listing pods: %v", err)
		return
	}
	result := residencyResult{Workload: tCtx.Name()}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == "" {
			continue
		}
		result.Placed++
		if !inEU[siteOf[p.Spec.NodeName]] {
			result.Outside++
		}
	}
	tCtx.Logf("residency: %d of %d placed EU-resident pods are outside the EU", result.Outside, result.Placed)
	if err := result.write(); err != nil {
		tCtx.Errorf("residency check: %v", err)
	}
}

// residencyResult is bench/e2e's residency_*.json, which bench/e2e/report
// reads.
type residencyResult struct {
	Workload string `json:"workload"`
	// Enforced is always false here: no peer enforces residency.
	Enforced bool `json:"enforced"`
	Placed   int  `json:"placed"`
	Outside  int  `json:"outside"`
	// Unexplained counts placed pods without Proxima's placement
	// annotation under EdgePlacement; always 0 here.
	Unexplained int `json:"unexplained"`
}

var unsafeFileChars = regexp.MustCompile(`[^a-zA-Z0-9-_]`)

func (r residencyResult) write() error {
	dir := ""
	if f := flag.Lookup("data-items-dir"); f != nil {
		dir = f.Value.String()
	}
	if dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "residency_"+unsafeFileChars.ReplaceAllString(r.Workload, "_")+".json"), data, 0o644)
}

// crdInstallOptions lists Proxima's CRDs (manifests/crds, as shipped) and the
// AppGroup and NetworkTopology CRDs from the modules scheduler-plugins uses.
func crdInstallOptions() (envtest.CRDInstallOptions, error) {
	ours, err := peers.ProximaCRDDir()
	if err != nil {
		return envtest.CRDInstallOptions{}, err
	}
	theirs, err := peers.CRDPaths()
	if err != nil {
		return envtest.CRDInstallOptions{}, err
	}
	return envtest.CRDInstallOptions{Paths: append([]string{ours}, theirs...), ErrorIfPathMissing: true, MaxTime: time.Minute}, nil
}
