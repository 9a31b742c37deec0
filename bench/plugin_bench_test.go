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

package bench

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	internalqueue "k8s.io/kubernetes/pkg/scheduler/backend/queue"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/queuesort"
	schedruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
	"k8s.io/utils/ptr"

	"github.com/proxima-sched/proxima/apis/config"
	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
)

// The topology: 5 regions × 10 zones, one Site per zone, and ten running
// pods. bench/peers' BenchmarkNetworkOverheadPreFilter builds the same nodes
// and running pods (there the AppGroup's workloads) for NetworkOverhead.
const (
	regions, zonesPerRegion = 5, 10
	runningPods             = 10
	// checkoutPolicy's pods depend on the first checkoutDependencies
	// running pods.
	checkoutPolicy       = "checkout"
	checkoutDependencies = 7
)

// siteRTT is the RTT between the sites of zones (r, z) and (q, y), in ms:
// NetworkOverhead's costs in bench/peers' NetworkTopology, 1 + |z - y|
// within a region and 10 × (1 + |r - q|) between regions.
func siteRTT(r, z, q, y int) int32 {
	if r == q {
		return int32(1 + abs(z-y))
	}
	return int32(10 * (1 + abs(r-q)))
}

func abs(x int) int { return max(x, -x) }

func zoneName(r, z int) string { return fmt.Sprintf("r%d-z%d", r, z) }

// BenchmarkPlugins runs one pod through every EdgePlacement extension point
// via the framework runtime (PreFilter, Filter on each candidate, PreScore,
// Score and NormalizeScore), and PreFilter alone, against a real
// kube-apiserver holding the Sites, TrafficSource, PlacementPolicy, nodes and
// running pods. scheduler-plugins' NetworkOverhead, the peer its PreFilter
// is compared with, does not compile against this framework: its
// BenchmarkNetworkOverheadPreFilter runs from bench/peers, a module pinned
// to Kubernetes 1.34, on the same nodes and an equivalent topology, with the
// same sub-benchmark names (nodes=N) and metrics.
//
// Each iteration schedules a pod with requests of its own (w.pods), so
// that EdgePlacement plans it afresh, as for a pod of a new workload;
// EdgePlacement-PreFilter-Checkout likewise for a pod of the policy
// "checkout", whose seven dependencies select the running pods p1..p7 with
// a bound of 30 ms each (the Online Boutique's checkoutservice calls seven
// services), on site-to-site RTTs equal to the NetworkTopology's costs
// there: bench/peers' BenchmarkNetworkOverheadPreFilterCheckout;
// EdgePlacement-PreFilter-Replica schedules one pod over and over, as for
// the replicas of one Deployment, whose plan on one world snapshot is
// shared (state.PlanCache). EdgePlacement-PluginPreFilter and
// EdgePlacement-PluginPreFilter-Checkout call the plugin's PreFilter for
// the same pods as the first two, without the framework, as bench/peers
// calls NetworkOverhead's: the two plugins compared alone.
//
// Each size has its own control plane, built by the first of that size's
// sub-benchmarks that runs (none, if -bench selects none) before b.Loop
// starts timing, and stopped after them.
func BenchmarkPlugins(b *testing.B) {
	schedmetrics.Register()
	for _, n := range []int{1000, 5000, 10000} {
		var w *pluginWorld
		world := func(b *testing.B) *pluginWorld {
			if w == nil {
				w = &pluginWorld{}
				w.build(b, n)
			}
			if !w.ready {
				b.Fatalf("the %d-node world could not be set up", n)
			}
			return w
		}

		b.Run(fmt.Sprintf("EdgePlacement/nodes=%d", n), func(b *testing.B) {
			w := world(b)
			ctx, fw := w.ctx, w.fw
			candidates := make([]fwk.NodeInfo, 0, n)
			var scored, i int
			b.ReportAllocs()
			for b.Loop() {
				pod := w.pods[i%len(w.pods)]
				i++
				state := framework.NewCycleState()
				res, status, _ := fw.RunPreFilterPlugins(ctx, state, pod)
				if !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
				// As the scheduler does: filter only the PreFilterResult's nodes.
				candidates = candidates[:0]
				for name := range res.NodeNames {
					ni, err := w.snapshot.NodeInfos().Get(name)
					if err != nil {
						b.Fatal(err)
					}
					if fw.RunFilterPlugins(ctx, state, pod, ni).IsSuccess() {
						candidates = append(candidates, ni)
					}
				}
				if status := fw.RunPreScorePlugins(ctx, state, pod, candidates); !status.IsSuccess() {
					b.Fatalf("PreScore: %v", status)
				}
				scores, status := fw.RunScorePlugins(ctx, state, pod, candidates)
				if !status.IsSuccess() {
					b.Fatalf("Score: %v", status)
				}
				scored = len(scores)
			}
			if scored == 0 {
				b.Fatal("no node was scored")
			}
			reportPerNode(b, n)
			b.ReportMetric(float64(scored), "candidates")
		})

		b.Run(fmt.Sprintf("EdgePlacement-PreFilter/nodes=%d", n), func(b *testing.B) {
			w := world(b)
			var i int
			b.ReportAllocs()
			for b.Loop() {
				if _, status, _ := w.fw.RunPreFilterPlugins(w.ctx, framework.NewCycleState(), w.pods[i%len(w.pods)]); !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
				i++
			}
			reportPerNode(b, n)
		})

		b.Run(fmt.Sprintf("EdgePlacement-PreFilter-Checkout/nodes=%d", n), func(b *testing.B) {
			w := world(b)
			var i int
			b.ReportAllocs()
			for b.Loop() {
				if _, status, _ := w.fw.RunPreFilterPlugins(w.ctx, framework.NewCycleState(), w.checkoutPods[i%len(w.checkoutPods)]); !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
				i++
			}
			reportPerNode(b, n)
		})

		// The plugin's PreFilter called as bench/peers calls
		// NetworkOverhead's, without the framework around it: the two
		// PreFilters compared alone (bench/peers/pairs.sh). The framework
		// adds its own work to EdgePlacement's, above, chiefly the clone
		// of the candidate set (PreFilterResult.Merge).
		for _, c := range []struct {
			name string
			pods func(w *pluginWorld) []*v1.Pod
		}{
			{"EdgePlacement-PluginPreFilter", func(w *pluginWorld) []*v1.Pod { return w.pods }},
			{"EdgePlacement-PluginPreFilter-Checkout", func(w *pluginWorld) []*v1.Pod { return w.checkoutPods }},
		} {
			b.Run(fmt.Sprintf("%s/nodes=%d", c.name, n), func(b *testing.B) {
				w := world(b)
				pods := c.pods(w)
				nodes, err := w.snapshot.NodeInfos().List()
				if err != nil {
					b.Fatal(err)
				}
				var i int
				b.ReportAllocs()
				for b.Loop() {
					if _, status := w.edge.PreFilter(w.ctx, framework.NewCycleState(), pods[i%len(pods)], nodes); !status.IsSuccess() {
						b.Fatalf("PreFilter: %v", status)
					}
					i++
				}
				reportPerNode(b, n)
			})
		}

		b.Run(fmt.Sprintf("EdgePlacement-PreFilter-Replica/nodes=%d", n), func(b *testing.B) {
			w := world(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, status, _ := w.fw.RunPreFilterPlugins(w.ctx, framework.NewCycleState(), w.pod); !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
			}
			reportPerNode(b, n)
		})

		if w != nil {
			if err := w.stop(); err != nil {
				b.Error(err)
			}
		}
	}
}

// pluginWorld is one size's control plane and framework, shared by that
// size's sub-benchmarks.
type pluginWorld struct {
	cp       *controlplane.ControlPlane
	ctx      context.Context
	cancel   context.CancelFunc
	snapshot *cache.Snapshot
	fw       framework.Framework
	// edge is the framework's EdgePlacement.
	edge *edgeplacement.EdgePlacement
	// pod is the pod scheduled, with the EU-residency latency-led policy;
	// pods are copies with memory requests of their own, more than a
	// PlanCache keeps, so that each is planned afresh.
	pod  *v1.Pod
	pods []*v1.Pod
	// checkoutPods are pods of the policy with seven dependencies, each
	// with requests of its own.
	checkoutPods []*v1.Pod
	// ready is set once everything above is.
	ready bool
}

// build starts a control plane holding n nodes and the world, and the
// framework with EdgePlacement; it fails b if it cannot. What it started
// is stopped by stop, even if it failed half-way.
func (w *pluginWorld) build(b *testing.B, n int) {
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w.cp = cp
	w.ctx, w.cancel = context.WithCancel(context.Background())
	ctx := w.ctx
	setupWorld(b, ctx, cp)
	for _, p := range allocatedPods() {
		if _, err := cp.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	nodes := makeNodes(n)
	createNodes(b, ctx, cp, nodes)
	w.snapshot = cache.NewSnapshot(allocatedPods(), nodes)
	factory := informers.NewSharedInformerFactory(cp.Client, 0)
	factory.Core().V1().Pods().Informer()
	// EdgePlacement re-activates the pods it narrowed when nodes join
	// a site; a scheduling queue must be there to take them.
	queue := internalqueue.NewTestQueue(ctx, (&queuesort.PrioritySort{}).Less)
	opts := []schedruntime.Option{schedruntime.WithKubeConfig(cp.Config), schedruntime.WithClientSet(cp.Client),
		schedruntime.WithInformerFactory(factory), schedruntime.WithSnapshotSharedLister(w.snapshot),
		schedruntime.WithPodActivator(queue)}
	edge := func(ctx context.Context, _ runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		pl, err := edgeplacement.New(ctx, &config.EdgePlacementArgs{MinCandidateNodes: 100, CacheSyncTimeoutSeconds: 60, GPUResources: configv1.DefaultGPUResources}, h)
		if err == nil {
			w.edge = pl.(*edgeplacement.EdgePlacement)
		}
		return pl, err
	}
	w.fw, err = tf.NewFramework(ctx, []tf.RegisterPluginFunc{
		tf.RegisterQueueSortPlugin(queuesort.Name, queuesort.New),
		tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
		tf.RegisterPluginAsExtensions(edgeplacement.Name, edge, "PreFilter", "Filter", "PreScore", "Score"),
	}, "proxima-scheduler", opts...)
	if err != nil {
		b.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	w.pod = st.MakePod().Namespace("default").Name("api").Label(placementv1alpha1.PolicyLabel, "eu-latency").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "500m", v1.ResourceMemory: "512Mi"}).Obj()
	// Wait until EdgePlacement's site-to-nodes index holds every node.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		res, status, _ := w.fw.RunPreFilterPlugins(ctx, framework.NewCycleState(), w.pod)
		return status.IsSuccess() && res.NodeNames.Len() >= 100, nil
	}); err != nil {
		b.Fatalf("EdgePlacement never saw the nodes: %v", err)
	}
	// And the checkout policy, with its dependencies' pods: only the sites
	// of region 2 are within 30 ms of every one, and they hold 100 nodes
	// at every size.
	checkout := w.pod.DeepCopy()
	checkout.Name, checkout.UID, checkout.Labels[placementv1alpha1.PolicyLabel] = "checkout", "checkout", checkoutPolicy
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		res, status, _ := w.fw.RunPreFilterPlugins(ctx, framework.NewCycleState(), checkout)
		return status.IsSuccess() && res.NodeNames.Len() >= 100, nil
	}); err != nil {
		b.Fatalf("EdgePlacement never placed the checkout pod: %v", err)
	}
	for i := range 1024 {
		p := w.pod.DeepCopy()
		p.Name = fmt.Sprintf("api-%d", i)
		p.UID = types.UID(p.Name)
		p.Spec.Containers[0].Resources.Requests[v1.ResourceMemory] = *resource.NewQuantity(512<<20+int64(i), resource.BinarySI)
		w.pods = append(w.pods, p)
		c := p.DeepCopy()
		c.Name, c.UID = fmt.Sprintf("checkout-%d", i), types.UID(fmt.Sprintf("checkout-%d", i))
		c.Labels[placementv1alpha1.PolicyLabel] = checkoutPolicy
		w.checkoutPods = append(w.checkoutPods, c)
	}
	w.ready = true
}

// stop stops what build started.
func (w *pluginWorld) stop() error {
	if w.cancel != nil {
		w.cancel()
	}
	if w.cp == nil {
		return nil
	}
	return w.cp.Stop()
}

// createNodes creates the nodes in the apiserver, 64 at a time.
func createNodes(b *testing.B, ctx context.Context, cp *controlplane.ControlPlane, nodes []*v1.Node) {
	parallel(b, len(nodes), func(i int) error {
		_, err := cp.Client.CoreV1().Nodes().Create(ctx, nodes[i], metav1.CreateOptions{})
		return err
	})
}

func makeNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, n)
	for i := range n {
		r, z := (i/zonesPerRegion)%regions, i%zonesPerRegion
		nodes[i] = st.MakeNode().Name(fmt.Sprintf("n-%d", i)).
			Label(v1.LabelTopologyRegion, fmt.Sprintf("r%d", r)).Label(v1.LabelTopologyZone, zoneName(r, z)).
			Label(placementv1alpha1.SiteLabel, zoneName(r, z)).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "32", v1.ResourceMemory: "128Gi"}).Obj()
	}
	return nodes
}

// allocatedPods are the running pods, on the nodes where bench/peers puts
// the AppGroup's running workloads, labelled app=p1..p10 for the
// dependencies of the policy "checkout".
func allocatedPods() []*v1.Pod {
	pods := make([]*v1.Pod, runningPods)
	for i := range pods {
		pods[i] = st.MakePod().Namespace("default").Name(fmt.Sprintf("p%d", i+1)).UID(fmt.Sprintf("p%d", i+1)).Container("pause").
			Label("app", fmt.Sprintf("p%d", i+1)).Node(fmt.Sprintf("n-%d", i*7)).Obj()
	}
	return pods
}

func setupWorld(b *testing.B, ctx context.Context, cp *controlplane.ControlPlane) {
	pc := versioned.NewForConfigOrDie(cp.Config).PlacementV1alpha1()
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}}
	for r := range regions {
		for z := range zonesPerRegion {
			country, tags := "DE", []string{"EU"}
			if r >= 3 {
				country, tags = "US", nil
			}
			site := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: zoneName(r, z)}, Spec: placementv1alpha1.SiteSpec{
				Tier: placementv1alpha1.TierEdge, Country: country, Jurisdictions: tags,
				Location: placementv1alpha1.GeoLocation{Latitude: "50", Longitude: "8"},
				Pricing:  &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(fmt.Sprintf("0.0%d", 1+z%9)))},
			}}
			for q := range regions {
				for y := range zonesPerRegion {
					if q != r || y != z {
						site.Spec.RTTs = append(site.Spec.RTTs, placementv1alpha1.SiteRTT{Site: zoneName(q, y), Milliseconds: siteRTT(r, z, q, y)})
					}
				}
			}
			if _, err := pc.Sites().Create(ctx, site, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: site.Name, Milliseconds: int32(5 + 10*r + z)})
		}
	}
	if _, err := pc.TrafficSources().Create(ctx, src, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	pol := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "eu-latency", Namespace: "default"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}},
		Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, MaxRTTMilliseconds: ptr.To[int32](40)},
		Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](3), Cost: ptr.To[int32](1), Load: ptr.To[int32](1)},
	}}
	if _, err := pc.PlacementPolicies("default").Create(ctx, pol, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	checkout := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: checkoutPolicy, Namespace: "default"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Weights: &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](9), Load: ptr.To[int32](1)},
	}}
	for i := range checkoutDependencies {
		app := fmt.Sprintf("p%d", i+1)
		checkout.Spec.Dependencies = append(checkout.Spec.Dependencies, placementv1alpha1.DependencyRef{Name: app,
			PodSelector:        &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": placementv1alpha1.LabelValue(app)}},
			MaxRTTMilliseconds: ptr.To[int32](30)})
	}
	if _, err := pc.PlacementPolicies("default").Create(ctx, checkout, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

// TestPeersSiteLabel checks that bench/peers, a module of its own that
// cannot import this one, labels nodes with the site label this one defines.
func TestPeersSiteLabel(t *testing.T) {
	const file = "peers/peers.go"
	f, err := parser.ParseFile(token.NewFileSet(), filepath.FromSlash(file), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lit *ast.BasicLit
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name == "SiteLabel" && i < len(vs.Values) {
					lit, _ = vs.Values[i].(*ast.BasicLit)
				}
			}
		}
	}
	if lit == nil || lit.Kind != token.STRING {
		t.Fatalf("%s declares no string constant SiteLabel", file)
	}
	got, err := strconv.Unquote(lit.Value)
	if err != nil {
		t.Fatal(err)
	}
	if got != placementv1alpha1.SiteLabel {
		t.Errorf("%s: SiteLabel = %q, want placementv1alpha1.SiteLabel %q", file, got, placementv1alpha1.SiteLabel)
	}
}
