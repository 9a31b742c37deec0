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

// Package e2e measures whole-scheduler throughput with kube-scheduler's own
// scheduler_perf harness (k8s.io/kubernetes/test/integration/scheduler_perf):
// the real scheduler with the shipped plugin registry, on an in-process
// kube-apiserver and a real etcd, for the default profile and Proxima's.
// scheduler-plugins' NetworkOverhead, built for an older framework, runs on
// the same world from its own module, bench/peers/e2e. See README.md.
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
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/metrics/testutil"
	fwk "k8s.io/kube-scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	benchmark "k8s.io/kubernetes/test/integration/scheduler_perf"
	"k8s.io/kubernetes/test/utils/ktesting"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/bench/perfdata"
	"github.com/proxima-sched/proxima/manifests"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
	"github.com/proxima-sched/proxima/pkg/registry"
	"github.com/proxima-sched/proxima/pkg/state"
)

// The EU-resident pods (templates/pod.yaml) and the jurisdiction their
// policy allows (templates/placement-policy.yaml).
const (
	residentLabel, residentValue = "workload", "resident"
	allowedJurisdiction          = "EU"
)

// BenchmarkPerfScheduling runs performance-config.yaml.
func BenchmarkPerfScheduling(b *testing.B) {
	w := newPerfHooks(b)
	benchmark.RunBenchmarkPerfScheduling(b, "performance-config.yaml", "proxima", w.registry(),
		benchmark.WithPrepareFn(w.prepare))
}

// newPerfHooks puts bin/ first on PATH (scheduler_perf starts etcd from
// PATH; use the one hack/tools.sh built) and returns the hooks with
// Proxima's CRDs.
func newPerfHooks(b *testing.B) *perfHooks {
	bin, err := controlplane.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "etcd")); err != nil {
		b.Fatalf("etcd not found in %s: run `make tools` first: %v", bin, err)
	}
	b.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	crds, err := crdInstallOptions()
	if err != nil {
		b.Fatal(err)
	}
	return &perfHooks{crds: crds, edgePlacement: map[string]bool{}}
}

// perfHooks installs the CRDs every workload needs into each fresh apiserver and
// checks residency after each workload.
type perfHooks struct {
	crds envtest.CRDInstallOptions

	mu sync.Mutex
	// edgePlacement records the apiservers (by host) whose scheduler runs
	// EdgePlacement: there every EU-resident pod must be in the EU.
	edgePlacement map[string]bool
}

// registry is the shipped registry with each factory first installing the
// CRDs: scheduler_perf builds the scheduler, and so the plugins, right after
// starting the apiserver, before any workload step could create them.
func (w *perfHooks) registry() frameworkruntime.Registry {
	out := frameworkruntime.Registry{}
	for name, factory := range withUnsigned(registry.Plugins()) {
		out[name] = func(ctx context.Context, args runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
			if err := w.installCRDs(h.KubeConfig()); err != nil {
				return nil, err
			}
			if name == edgeplacement.Name || name == unsignedName {
				w.mu.Lock()
				w.edgePlacement[h.KubeConfig().Host] = true
				w.mu.Unlock()
			}
			return factory(ctx, args, h)
		}
	}
	return out
}

func (w *perfHooks) installCRDs(cfg *rest.Config) error {
	opts := w.crds
	// InstallCRDs fills in the objects it created; keep the template clean.
	opts.CRDs = slices.Clone(opts.CRDs)
	for i := range opts.CRDs {
		opts.CRDs[i] = opts.CRDs[i].DeepCopy()
	}
	if _, err := envtest.InstallCRDs(cfg, opts); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	return nil
}

// prepare runs before each workload: it installs the CRDs (for profiles
// without out-of-tree plugins) and registers the residency check.
func (w *perfHooks) prepare(tCtx ktesting.TContext) error {
	cfg := tCtx.RESTConfig()
	if err := w.installCRDs(cfg); err != nil {
		return err
	}
	w.mu.Lock()
	enforced := w.edgePlacement[cfg.Host]
	w.mu.Unlock()
	batched := watchBatchedPods()
	// Cleanups run last-registered first: this one runs before scheduler_perf
	// stops the apiserver.
	tCtx.Cleanup(func() { checkResidency(tCtx, enforced, batched()) })
	return nil
}

// watchBatchedPods follows scheduler_batch_attempts_total{result=hint_used}
// of scheduler_perf's profile from now on, and returns a function that
// stops and gives its highest value: scheduler_perf resets every metric
// when a workload ends, before the cleanups run.
func watchBatchedPods() func() float64 {
	var (
		mu   sync.Mutex
		most float64
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	read := func() {
		v, err := testutil.GetCounterMetricValue(schedmetrics.BatchAttemptStats.WithLabelValues(
			v1.DefaultSchedulerName, schedmetrics.BatchAttemptHintUsed))
		mu.Lock()
		defer mu.Unlock()
		if err == nil && v > most {
			most = v
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}

// checkResidency verifies where the EU-resident pods went. Under a profile
// with EdgePlacement every one must be in a site of the EU and carry the
// placement annotation, and there must be some; under the others it reports
// how many are outside the EU.
func checkResidency(tCtx ktesting.TContext, enforced bool, batchedPods float64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sites, err := versioned.NewForConfigOrDie(tCtx.RESTConfig()).PlacementV1alpha1().Sites().List(ctx, metav1.ListOptions{})
	if err != nil {
		tCtx.Errorf("residency check: listing sites: %v", err)
		return
	}
	inEU := map[string]bool{}
	for _, s := range sites.Items {
		inEU[s.Name] = slices.Contains(s.Spec.Jurisdictions, allowedJurisdiction)
	}
	nodes, err := tCtx.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		tCtx.Errorf("residency check: listing nodes: %v", err)
		return
	}
	siteOf := map[string]string{}
	churned := 0
	for _, n := range nodes.Items {
		siteOf[n.Name], _ = state.NodeSite(n.Labels, false)
		if strings.HasPrefix(n.Name, "churn-node-") {
			churned++
		}
	}
	tCtx.Logf("residency check: %d nodes, %d of them joined by the churn op", len(nodes.Items), churned)
	pods, err := tCtx.Client().CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		LabelSelector: residentLabel + "=" + residentValue})
	if err != nil {
		tCtx.Errorf("residency check: listing pods: %v", err)
		return
	}
	result := residencyResult{Workload: tCtx.Name(), Enforced: enforced, BatchedPods: batchedPods}
	var examples []string
	departed := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == "" {
			continue
		}
		result.Placed++
		if _, ok := p.Annotations[placementv1alpha1.PlacementAnnotation]; enforced && !ok {
			result.Unexplained++
		}
		site, known := siteOf[p.Spec.NodeName]
		if !known {
			departed++ // bound to a node that has since left (node churn): its site is not known here
			continue
		}
		if !inEU[site] {
			result.Outside++
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprintf("%s/%s on %s (site %q)", p.Namespace, p.Name, p.Spec.NodeName, site))
			}
		}
	}
	tCtx.Logf("residency: %d of %d placed EU-resident pods are outside the EU (%d on nodes that have left, not judged); %v pods placed on a batching hint",
		result.Outside, result.Placed, departed, result.BatchedPods)
	result.LatencyPods, result.MeanRTTMs, err = judgeLatency(ctx, tCtx, sites.Items, nodes.Items)
	if err != nil {
		tCtx.Errorf("latency check: %v", err)
	} else {
		tCtx.Logf("latency: the measured pods whose policy reads client RTTs, %d placed, %.1f ms from their clients on average", result.LatencyPods, result.MeanRTTMs)
	}
	if enforced {
		if result.Placed == 0 {
			tCtx.Errorf("residency check: no EU-resident pod was placed")
		}
		if result.Unexplained > 0 {
			tCtx.Errorf("residency check: %d of %d EU-resident pods lack the %s annotation (was EdgePlacement's Bind skipped?)",
				result.Unexplained, result.Placed, placementv1alpha1.PlacementAnnotation)
		}
		if result.Outside > 0 {
			tCtx.Errorf("residency check: %d of %d EU-resident pods placed outside the EU, e.g. %s",
				result.Outside, result.Placed, strings.Join(examples, ", "))
		}
	}
	if err := result.write(); err != nil {
		tCtx.Errorf("residency check: %v", err)
	}
}

// measuredNamespace holds the measured pods (performance-config.yaml).
const measuredNamespace = "measure"

// judgeLatency judges every profile's placements alike, on the same pods:
// the mean, over the placed pods of the measured namespace whose policy
// reads client RTTs (its latency sources), of the policy's latency
// objective at the pod's site (the weighted mean or worst RTT from its
// sources), on the world the Sites and TrafficSources declare (RTTs
// estimated from their locations, as the scheduler's world model has
// them), with the scheduler's own plan (state.Snapshot.PlanPod). Pods on a
// node that has left, or in no known site, are not judged.
func judgeLatency(ctx context.Context, tCtx ktesting.TContext, sites []placementv1alpha1.Site, nodes []v1.Node) (judged int, mean float64, err error) {
	placement := versioned.NewForConfigOrDie(tCtx.RESTConfig()).PlacementV1alpha1()
	sources, err := placement.TrafficSources().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("listing traffic sources: %w", err)
	}
	policies, err := placement.PlacementPolicies(measuredNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("listing policies: %w", err)
	}
	pods, err := tCtx.Client().CoreV1().Pods(measuredNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("listing pods: %w", err)
	}
	in := state.Objects{}
	for i := range sites {
		in.Sites = append(in.Sites, &sites[i])
	}
	for i := range sources.Items {
		in.Sources = append(in.Sources, &sources.Items[i])
	}
	for i := range policies.Items {
		in.Policies = append(in.Policies, &policies.Items[i])
	}
	byName := map[string]*v1.Node{}
	for i := range nodes {
		in.Nodes = append(in.Nodes, &nodes[i])
		byName[nodes[i].Name] = &nodes[i]
	}
	snap := state.Build(in)
	var sum float64
	for i := range pods.Items {
		p := &pods.Items[i]
		node := byName[p.Spec.NodeName]
		if node == nil {
			continue
		}
		site, ok := snap.SiteOfNode(node)
		if !ok {
			continue
		}
		pp, err := snap.PlanPod(p, state.GPUResources{}, nil)
		if err != nil {
			return 0, 0, fmt.Errorf("planning %s: %w", p.Name, err)
		}
		if pp == nil || pp.Policy.Spec.Latency == nil || len(pp.Policy.Spec.Latency.Sources) == 0 {
			continue
		}
		sum += pp.Plan.SiteLatency(site)
		judged++
	}
	if judged > 0 {
		mean = sum / float64(judged)
	}
	return judged, mean, nil
}

// residencyResult is written next to scheduler_perf's data items for the
// report.
type residencyResult perfdata.Residency

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

// crdInstallOptions lists Proxima's CRDs, as shipped.
func crdInstallOptions() (envtest.CRDInstallOptions, error) {
	ours, err := manifests.CRDs()
	if err != nil {
		return envtest.CRDInstallOptions{}, err
	}
	return envtest.CRDInstallOptions{CRDs: ours, MaxTime: time.Minute}, nil
}
