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

package edgeplacement

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/queuesort"
	schedruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned/fake"
	placementinformers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	"github.com/proxima-sched/proxima/pkg/state"
)

const ns = "shop"

func mkSite(name, country string, tags []string, cpu string) *placementv1alpha1.Site {
	return &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
		Tier: placementv1alpha1.TierEdge, Country: country, Jurisdictions: tags,
		Location: placementv1alpha1.GeoLocation{Latitude: "0", Longitude: "0"},
		Pricing:  &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(cpu))},
	}}
}

func mkPolicy(name string, prio int32, sel map[string]string, spec placementv1alpha1.PlacementPolicySpec) *placementv1alpha1.PlacementPolicy {
	spec.Priority = &prio
	if sel != nil {
		spec.PodSelector = &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{}}
		for k, v := range sel {
			spec.PodSelector.MatchLabels[k] = placementv1alpha1.LabelValue(v)
		}
	}
	return &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
}

// testPlugin builds the plugin, with the default GPU resources, over a world
// model fed by informers on fake clientsets:
//
//	site  country  cpu/h  GPU/h  RTT from users
//	ber   DE (EU)  0.05   2      10
//	par   FR (EU)  0.03   1      25
//	zrh   CH       0.01   3       5
//
// live, when set, is the telemetry the model reads (call
// publishLive to change it).
func testPlugin(t *testing.T, nodes []fwk.NodeInfo, live *atomic.Pointer[state.Live], policies ...*placementv1alpha1.PlacementPolicy) *EdgePlacement {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}, Spec: placementv1alpha1.TrafficSourceSpec{
		RTTs: []placementv1alpha1.SiteRTT{{Site: "ber", Milliseconds: 10}, {Site: "par", Milliseconds: 25}, {Site: "zrh", Milliseconds: 5}}}}
	objs := []runtime.Object{src}
	for _, s := range []*placementv1alpha1.Site{mkSite("ber", "DE", []string{"EU"}, "0.05"), mkSite("par", "FR", []string{"EU"}, "0.03"), mkSite("zrh", "CH", nil, "0.01")} {
		s.Spec.Pricing.GPUHour = ptr.To(resource.MustParse(map[string]string{"ber": "2", "par": "1", "zrh": "3"}[s.Name]))
		objs = append(objs, s)
	}
	for _, p := range policies {
		objs = append(objs, p)
	}
	var nodeObjs []*v1.Node
	var coreObjs []runtime.Object
	var pods []*v1.Pod
	for _, ni := range nodes {
		nodeObjs = append(nodeObjs, ni.Node())
		coreObjs = append(coreObjs, ni.Node())
		for _, p := range ni.GetPods() {
			pod := p.GetPod().DeepCopy()
			pod.Spec.NodeName = ni.Node().Name
			pods = append(pods, pod)
		}
	}
	pf := placementinformers.NewSharedInformerFactory(fake.NewSimpleClientset(objs...), 0)
	cf := informers.NewSharedInformerFactory(k8sfake.NewSimpleClientset(coreObjs...), 0)
	pi := pf.Placement().V1alpha1()
	var opts state.Options
	if live != nil {
		opts.Live = live.Load
	}
	model, err := state.NewModel(state.Informers{Sites: pi.Sites().Informer(), Sources: pi.TrafficSources().Informer(),
		Policies: pi.PlacementPolicies().Informer(), Nodes: cf.Core().V1().Nodes().Informer()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	pf.Start(ctx.Done())
	cf.Start(ctx.Done())
	cf.WaitForCacheSync(ctx.Done())
	if err := model.WaitForCacheSync(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	go model.Run(ctx)
	fh, err := tf.NewFramework(ctx, []tf.RegisterPluginFunc{
		tf.RegisterQueueSortPlugin(queuesort.Name, queuesort.New),
		tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
	}, "test", schedruntime.WithSnapshotSharedLister(cache.NewSnapshot(pods, nodeObjs)))
	if err != nil {
		t.Fatal(err)
	}
	pl := &EdgePlacement{handle: fh, model: model, nodes: cf.Core().V1().Nodes().Lister(), minCandidates: 100,
		plans: state.NewPlanCache(state.NewGPUResources(configv1.DefaultGPUResources), nil)}
	pl.waiting = newWaitingPods(model, nil, pl.worthRetrying)
	return pl
}

// publishLive stores l as the live telemetry and waits until the model
// publishes a snapshot with it: not merely a newer one, since the model's
// own first rebuilds (the informers' initial events) may come first.
func publishLive(t *testing.T, m *state.Model, live *atomic.Pointer[state.Live], l *state.Live) {
	t.Helper()
	live.Store(l)
	m.LiveChanged()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return m.Load().Live() == l, nil
	})
	if err != nil {
		t.Fatal("the world model never published the live telemetry")
	}
}

func nodeInfo(name, site string, cpu string, labels map[string]string) fwk.NodeInfo {
	n := st.MakeNode().Name(name).Capacity(map[v1.ResourceName]string{v1.ResourceCPU: cpu, v1.ResourceMemory: "8Gi"})
	if site != "" {
		n = n.Label(placementv1alpha1.SiteLabel, site)
	}
	for k, v := range labels {
		n = n.Label(k, v)
	}
	ni := framework.NewNodeInfo()
	ni.SetNode(n.Obj())
	return ni
}

var (
	euOnly = placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}},
		Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}},
		Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
	}
	cheapest = placementv1alpha1.PlacementPolicySpec{Weights: &placementv1alpha1.ObjectiveWeights{Cost: ptr.To[int32](1)}}
)

func TestPolicyResolution(t *testing.T) {
	pl := testPlugin(t, nil, nil,
		mkPolicy("b-low", 1, map[string]string{"app": "web"}, cheapest),
		mkPolicy("a-low", 1, map[string]string{"app": "web"}, cheapest),
		mkPolicy("high", 5, map[string]string{"tier": "front"}, cheapest),
		mkPolicy("labelled", 0, nil, cheapest),
	)
	tests := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"label wins over selectors", map[string]string{"app": "web", "tier": "front", placementv1alpha1.PolicyLabel: "labelled"}, "labelled"},
		{"highest priority selector", map[string]string{"app": "web", "tier": "front"}, "high"},
		{"tie broken by name", map[string]string{"app": "web"}, "a-low"},
		{"no match", map[string]string{"app": "db"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pl.model.Load().PolicyFor(st.MakePod().Namespace(ns).Name("p").Labels(tc.labels).Obj())
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p != nil {
				got = p.Name
			}
			if got != tc.want {
				t.Errorf("policy = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPreFilterFailsClosed(t *testing.T) {
	unknownSource := euOnly
	unknownSource.Latency = &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "ghosts"}}}
	nowhere := placementv1alpha1.PlacementPolicySpec{Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []string{"JP"}}}}
	nodes := []fwk.NodeInfo{nodeInfo("n1", "ber", "4", nil)}
	pl := testPlugin(t, nodes, nil, mkPolicy("ghostly", 0, nil, unknownSource), mkPolicy("japan", 0, nil, nowhere))
	_, ctx := ktesting.NewTestContext(t)
	tests := []struct {
		name, policy string
		code         fwk.Code
		msg          string
	}{
		{"missing policy", "absent", fwk.UnschedulableAndUnresolvable, "PlacementPolicy shop/absent"},
		{"unknown source", "ghostly", fwk.UnschedulableAndUnresolvable, `TrafficSource "ghosts" does not exist`},
		{"no feasible site", "japan", fwk.UnschedulableAndUnresolvable, "3 sites: residency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := st.MakePod().Namespace(ns).Name("p").UID("p").Label(placementv1alpha1.PolicyLabel, tc.policy).Obj()
			_, status := pl.PreFilter(ctx, framework.NewCycleState(), pod, nodes)
			if status.Code() != tc.code || !strings.Contains(status.Message(), tc.msg) {
				t.Errorf("status = %v %q, want %v containing %q", status.Code(), status.Message(), tc.code, tc.msg)
			}
		})
	}
	// A pod with no policy is left to the other plugins.
	_, status := pl.PreFilter(ctx, framework.NewCycleState(), st.MakePod().Namespace(ns).Name("free").Obj(), nodes)
	if !status.IsSkip() {
		t.Errorf("pod without policy: status %v, want Skip", status)
	}
}

// TestCostCapPricesEveryGPU: a pod's GPUs of any configured vendor, and
// MIG slices, are priced under cost.maxHourly; a pod that requests nothing
// cannot be priced and is refused under a cap.
func TestCostCapPricesEveryGPU(t *testing.T) {
	capped := cheapest
	capped.Cost = &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("1.5")}
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", nil), nodeInfo("par-1", "par", "4", nil), nodeInfo("zrh-1", "zrh", "4", nil)}
	pl := testPlugin(t, nodes, nil, mkPolicy("capped", 0, nil, capped), mkPolicy("uncapped", 0, nil, cheapest))
	_, ctx := ktesting.NewTestContext(t)
	type rl = map[v1.ResourceName]string
	tests := []struct {
		name, policy string
		reqs         rl
		want         sets.Set[string] // the candidates; nil when refused
		msg          string           // the refusal
	}{
		// 100m at 0.01–0.05 plus one GPU at 1–3: only par is within 1.5/h.
		{"nvidia", "capped", rl{v1.ResourceCPU: "100m", "nvidia.com/gpu": "1"}, sets.New("par-1"), ""},
		{"amd", "capped", rl{v1.ResourceCPU: "100m", "amd.com/gpu": "1"}, sets.New("par-1"), ""},
		{"intel", "capped", rl{v1.ResourceCPU: "100m", "gpu.intel.com/i915": "1"}, sets.New("par-1"), ""},
		{"MIG slice", "capped", rl{v1.ResourceCPU: "100m", "nvidia.com/mig-3g.40gb": "1"}, sets.New("par-1"), ""},
		// Two GPUs are over the cap everywhere.
		{"two amd GPUs", "capped", rl{v1.ResourceCPU: "100m", "amd.com/gpu": "2"}, nil, "no site meets the hard rules (3 sites: max cost 1.5/h)"},
		{"two MIG slices", "capped", rl{"nvidia.com/mig-1g.5gb": "2"}, nil, "no site meets the hard rules (3 sites: max cost 1.5/h)"},
		// CPU only: every site is within the cap.
		{"no GPU", "capped", rl{v1.ResourceCPU: "100m"}, sets.New("ber-1", "par-1", "zrh-1"), ""},
		{"no requests", "capped", nil, nil, "PlacementPolicy shop/capped caps the hourly cost (cost.maxHourly), but the pod requests no CPU, memory or GPUs"},
		{"only an unpriced resource", "capped", rl{"example.com/npu": "1"}, nil, "requests no CPU, memory or GPUs"},
		{"no requests, no cap", "uncapped", nil, sets.New("ber-1", "par-1", "zrh-1"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := st.MakePod().Namespace(ns).Name("p").UID("p").Label(placementv1alpha1.PolicyLabel, tc.policy).Req(tc.reqs).Obj()
			res, status := pl.PreFilter(ctx, framework.NewCycleState(), pod, nodes)
			if tc.want == nil {
				if status.Code() != fwk.UnschedulableAndUnresolvable || !strings.Contains(status.Message(), tc.msg) {
					t.Errorf("status = %v %q, want UnschedulableAndUnresolvable containing %q", status.Code(), status.Message(), tc.msg)
				}
				return
			}
			if !status.IsSuccess() {
				t.Fatalf("status = %v, want the candidates %v", status, sets.List(tc.want))
			}
			if diff := cmp.Diff(tc.want, res.NodeNames); diff != "" {
				t.Errorf("candidates (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestFilterAndScoreOrder(t *testing.T) {
	gpu := euOnly
	gpu.Hardware = &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{
		{Key: "gpu", Operator: "Exists"}}}
	nodes := []fwk.NodeInfo{
		nodeInfo("ber-1", "ber", "4", map[string]string{"gpu": "yes"}),
		nodeInfo("par-1", "par", "4", nil),
		nodeInfo("zrh-1", "zrh", "4", nil),
		nodeInfo("nowhere", "", "4", nil),
	}
	pl := testPlugin(t, nodes, nil, mkPolicy("eu", 0, nil, euOnly), mkPolicy("gpu", 0, nil, gpu), mkPolicy("cheap", 0, nil, cheapest))
	_, ctx := ktesting.NewTestContext(t)
	run := func(policy string) (filtered map[string]*fwk.Status, scores map[string]int64) {
		cs := framework.NewCycleState()
		pod := st.MakePod().Namespace(ns).Name("p").Label(placementv1alpha1.PolicyLabel, policy).
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj()
		if _, s := pl.PreFilter(ctx, cs, pod, nodes); !s.IsSuccess() {
			t.Fatalf("PreFilter(%s): %v", policy, s)
		}
		filtered, scores = map[string]*fwk.Status{}, map[string]int64{}
		for _, ni := range nodes {
			s := pl.Filter(ctx, cs, pod, ni)
			filtered[ni.Node().Name] = s
			if s.IsSuccess() {
				scores[ni.Node().Name], _ = pl.Score(ctx, cs, pod, ni)
			}
		}
		return filtered, normalize(t, pl, cs, scores)
	}
	// eu: ber (10 ms) and par (25 ms) are EU; latency only → ber 100, par 0.
	filtered, scores := run("eu")
	wantFiltered := map[string]*fwk.Status{"ber-1": nil, "par-1": nil,
		"zrh-1":   fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonResidency),
		"nowhere": fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonNoSite)}
	if diff := cmp.Diff(wantFiltered, filtered, statusCmp); diff != "" {
		t.Errorf("eu filter (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"ber-1": 100, "par-1": 0}, scores); diff != "" {
		t.Errorf("eu scores (-want,+got):\n%s", diff)
	}
	// gpu: only ber-1 has the label.
	filtered, _ = run("gpu")
	if diff := cmp.Diff(fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonHardware), filtered["par-1"], statusCmp); diff != "" || !filtered["ber-1"].IsSuccess() {
		t.Errorf("gpu filter: ber-1 %v, par-1 (-want,+got):\n%s", filtered["ber-1"], diff)
	}
	// cheap (default weights: cost 1): 1 core at zrh 0.01, par 0.03, ber 0.05
	// → costTerm zrh 1, par 0.5, ber 0.
	_, scores = run("cheap")
	if diff := cmp.Diff(map[string]int64{"zrh-1": 100, "par-1": 50, "ber-1": 0}, scores); diff != "" {
		t.Errorf("cheap scores (-want,+got):\n%s", diff)
	}
}

func TestPreFilterNarrowsToBestSitesWithRoom(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	fullNode := func(name, site string) fwk.NodeInfo {
		ni := framework.NewNodeInfo(st.MakePod().Name("hog").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj())
		ni.SetNode(st.MakeNode().Name(name).Label(placementv1alpha1.SiteLabel, site).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "1", v1.ResourceMemory: "8Gi"}).Obj())
		return ni
	}
	nodes := []fwk.NodeInfo{
		fullNode("ber-full", "ber"),
		nodeInfo("ber-1", "ber", "4", nil),
		nodeInfo("ber-2", "ber", "4", nil),
		fullNode("par-full", "par"),
		nodeInfo("par-1", "par", "4", nil),
		nodeInfo("par-2", "par", "4", nil),
		nodeInfo("zrh-1", "zrh", "4", nil),
	}
	pl := testPlugin(t, nodes, nil, mkPolicy("eu", 0, nil, euOnly))
	pod := st.MakePod().Namespace(ns).Name("p").Label(placementv1alpha1.PolicyLabel, "eu").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "500m"}).Obj()
	// ber is best (10 ms) with two nodes with room, par (25 ms) next with
	// two; zrh is not EU. The best site is kept whole; a later site gives
	// only the nodes with room still needed, and its nodes without room.
	for _, tc := range []struct {
		minCandidates int
		want          sets.Set[string]
	}{
		{1, sets.New("ber-full", "ber-1", "ber-2")},
		{2, sets.New("ber-full", "ber-1", "ber-2")},
		{3, sets.New("ber-full", "ber-1", "ber-2", "par-full", "par-1")},
		{4, sets.New("ber-full", "ber-1", "ber-2", "par-full", "par-1", "par-2")},
		{100, sets.New("ber-full", "ber-1", "ber-2", "par-full", "par-1", "par-2")},
	} {
		pl.minCandidates = tc.minCandidates
		res, status := pl.PreFilter(ctx, framework.NewCycleState(), pod, nodes)
		if !status.IsSuccess() {
			t.Fatal(status)
		}
		if diff := cmp.Diff(tc.want, res.NodeNames); diff != "" {
			t.Errorf("candidates with minCandidates=%d (-want,+got):\n%s", tc.minCandidates, diff)
		}
	}
	// No room in any EU site: every EU node stays a candidate so that the
	// filters say why and preemption can act.
	big := st.MakePod().Namespace(ns).Name("big").Label(placementv1alpha1.PolicyLabel, "eu").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "8"}).Obj()
	res, status := pl.PreFilter(ctx, framework.NewCycleState(), big, nodes)
	if !status.IsSuccess() {
		t.Fatal(status)
	}
	if diff := cmp.Diff(sets.New("ber-full", "ber-1", "ber-2", "par-full", "par-1", "par-2"), res.NodeNames); diff != "" {
		t.Errorf("candidates without room anywhere (-want,+got):\n%s", diff)
	}
}

// Narrowing counts only nodes the pod can use: a cordoned node, a taint the
// pod does not tolerate and a node selector the node does not meet all
// leave a site without room, so the pod goes to the next feasible site. A
// narrowed attempt that fails widens the next one to every feasible site,
// and PostFilter keeps preemption from acting on the narrowed attempt.
func TestNarrowingModelsCheapFiltersAndWidens(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cordoned := nodeInfo("ber-cordoned", "ber", "4", nil)
	cordoned.Node().Spec.Unschedulable = true
	tainted := nodeInfo("ber-tainted", "ber", "4", nil)
	tainted.Node().Spec.Taints = []v1.Taint{{Key: "maintenance", Effect: v1.TaintEffectNoSchedule}}
	nodes := []fwk.NodeInfo{cordoned, tainted, nodeInfo("par-1", "par", "4", map[string]string{"disk": "ssd"}), nodeInfo("par-2", "par", "4", nil)}
	pl := testPlugin(t, nodes, nil, mkPolicy("eu", 0, nil, euOnly), mkPolicy("ch", 0, nil, placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"CH"}}}}))
	pl.minCandidates = 1
	pod := func(name string) *st.PodWrapper {
		return st.MakePod().Namespace(ns).Name(name).UID(name).Label(placementv1alpha1.PolicyLabel, "eu").
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "500m"})
	}
	tolerating := pod("tolerating").Toleration("maintenance").Obj()
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		want     sets.Set[string]
		narrowed bool
	}{
		// ber (10 ms) is best, but no node there is usable: par is the
		// best site with room, kept whole, and ber's nodes stay out.
		{"plain", pod("plain").Obj(), sets.New("par-1", "par-2"), false},
		{"node selector", pod("ssd").NodeSelector(map[string]string{"disk": "ssd"}).Obj(), sets.New("par-1", "par-2"), false},
		// Tolerating the taint makes ber usable: ber is kept whole (its
		// cordoned node too) and par is left out.
		{"tolerates the taint", tolerating, sets.New("ber-cordoned", "ber-tainted"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := framework.NewCycleState()
			res, status := pl.PreFilter(ctx, cs, tc.pod, nodes)
			if !status.IsSuccess() {
				t.Fatal(status)
			}
			if diff := cmp.Diff(tc.want, res.NodeNames); diff != "" {
				t.Errorf("candidates (-want,+got):\n%s", diff)
			}
			_, post := pl.PostFilter(ctx, cs, tc.pod, nil)
			want := fwk.NewStatus(fwk.Unschedulable)
			if tc.narrowed {
				want = fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonWidening)
			}
			if diff := cmp.Diff(want, post, statusCmp); diff != "" {
				t.Errorf("PostFilter (-want,+got):\n%s", diff)
			}
		})
	}
	// The tolerating pod's narrowed attempt failed (PostFilter above): its
	// next attempt has every feasible site's nodes.
	res, status := pl.PreFilter(ctx, framework.NewCycleState(), tolerating, nodes)
	if !status.IsSuccess() {
		t.Fatal(status)
	}
	if diff := cmp.Diff(sets.New("ber-cordoned", "ber-tainted", "par-1", "par-2"), res.NodeNames); diff != "" {
		t.Errorf("widened candidates (-want,+got):\n%s", diff)
	}
	// Bound: the next pod of that name starts narrow again.
	pl.waiting.remove(tolerating)
	if res, _ := pl.PreFilter(ctx, framework.NewCycleState(), tolerating, nodes); res.NodeNames.Has("par-1") {
		t.Errorf("candidates after binding %v, want narrowed again", sets.List(res.NodeNames))
	}
	// zrh is the only CH site and has no nodes: the pod is refused with
	// that reason rather than a generic one.
	ch := st.MakePod().Namespace(ns).Name("ch").Label(placementv1alpha1.PolicyLabel, "ch").Obj()
	_, status = pl.PreFilter(ctx, framework.NewCycleState(), ch, nodes)
	wantMsg := "PlacementPolicy " + ns + "/ch: 1 site(s) meet the hard rules (zrh) but no node is in them: label each node with " +
		placementv1alpha1.SiteLabel + "=<site>"
	if diff := cmp.Diff(fwk.NewStatus(fwk.UnschedulableAndUnresolvable, wantMsg), status, statusCmp); diff != "" {
		t.Errorf("feasible site without nodes (-want,+got):\n%s", diff)
	}
}

// A best site whose nodes only lack room (of CPU, or of the GPUs the pod
// asks for) is left out while another site has room, but the attempt
// counts as narrowed: if the other site's nodes fail, the widened retry
// gives preemption the best site too.
func TestFullBestSiteWidensForPreemption(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	full := framework.NewNodeInfo(st.MakePod().Name("hog").Req(map[v1.ResourceName]string{v1.ResourceCPU: "4"}).Obj())
	full.SetNode(nodeInfo("ber-full", "ber", "4", nil).Node())
	noGPU := framework.NewNodeInfo()
	noGPU.SetNode(st.MakeNode().Name("ber-cpu").Label(placementv1alpha1.SiteLabel, "ber").
		Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "8Gi", "nvidia.com/gpu": "0"}).Obj())
	gpu := framework.NewNodeInfo()
	gpu.SetNode(st.MakeNode().Name("par-gpu").Label(placementv1alpha1.SiteLabel, "par").
		Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "8Gi", "nvidia.com/gpu": "1"}).Obj())
	nodes := []fwk.NodeInfo{full, noGPU, gpu}
	pl := testPlugin(t, nodes, nil, mkPolicy("eu", 0, nil, euOnly))
	pod := st.MakePod().Namespace(ns).Name("p").UID("p").Label(placementv1alpha1.PolicyLabel, "eu").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "1", "nvidia.com/gpu": "1"}).Obj()
	cs := framework.NewCycleState()
	res, status := pl.PreFilter(ctx, cs, pod, nodes)
	if !status.IsSuccess() {
		t.Fatal(status)
	}
	if diff := cmp.Diff(sets.New("par-gpu"), res.NodeNames); diff != "" {
		t.Errorf("candidates (-want,+got):\n%s", diff)
	}
	if _, post := pl.PostFilter(ctx, cs, pod, nil); post.Code() != fwk.UnschedulableAndUnresolvable {
		t.Errorf("PostFilter after a failed attempt: %v, want the pod widened", post)
	}
	res, _ = pl.PreFilter(ctx, framework.NewCycleState(), pod, nodes)
	if diff := cmp.Diff(sets.New("ber-full", "ber-cpu", "par-gpu"), res.NodeNames); diff != "" {
		t.Errorf("widened candidates (-want,+got):\n%s", diff)
	}
}

// normalize runs NormalizeScore over Score's results.
func normalize(t *testing.T, pl *EdgePlacement, cs fwk.CycleState, raw map[string]int64) map[string]int64 {
	t.Helper()
	var list fwk.NodeScoreList
	for name, v := range raw {
		list = append(list, fwk.NodeScore{Name: name, Score: v})
	}
	_, ctx := ktesting.NewTestContext(t)
	if s := pl.NormalizeScore(ctx, cs, nil, list); s != nil {
		t.Fatal(s)
	}
	out := map[string]int64{}
	for _, ns := range list {
		out[ns.Name] = ns.Score
	}
	return out
}

// The site part is stretched over the candidates' sites; the load part
// keeps its scale, so the nodes of one site differ in proportion to load.
func TestNormalizeScore(t *testing.T) {
	spec := euOnly
	spec.Weights = &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1), Load: ptr.To[int32](1)}
	busy := framework.NewNodeInfo(st.MakePod().Name("tiny").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1m"}).Obj())
	busy.SetNode(nodeInfo("ber-2", "ber", "4", nil).Node())
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", nil), busy, nodeInfo("par-1", "par", "4", nil)}
	pl := testPlugin(t, nodes, nil, mkPolicy("eu", 0, nil, spec))
	_, ctx := ktesting.NewTestContext(t)
	cs := framework.NewCycleState()
	pod := st.MakePod().Namespace(ns).Name("p").Label(placementv1alpha1.PolicyLabel, "eu").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj()
	if _, s := pl.PreFilter(ctx, cs, pod, nodes); !s.IsSuccess() {
		t.Fatal(s)
	}
	raw := map[string]int64{}
	for _, ni := range nodes {
		raw[ni.Node().Name], _ = pl.Score(ctx, cs, pod, ni)
	}
	// Weights latency 0.5, load 0.5; no live load, so u is the requested
	// share with the pod: ber-1 1/4, ber-2 1.001/4, par-1 1/4.
	//   ber-1 0.5·1 + 0.5·0.75    = 0.875    → 88
	//   ber-2 0.5·1 + 0.5·0.74975 = 0.874875 → 87 (1 millicore: one point, not 100)
	//   par-1 0.5·0 + 0.5·0.75    = 0.375    → 38
	if diff := cmp.Diff(map[string]int64{"ber-1": 88, "ber-2": 87, "par-1": 38}, normalize(t, pl, cs, raw)); diff != "" {
		t.Errorf("three candidates (-want,+got):\n%s", diff)
	}
	// Only ber's nodes as candidates: one site, so the site part is whole
	// for both and they still differ by load alone.
	delete(raw, "par-1")
	if diff := cmp.Diff(map[string]int64{"ber-1": 88, "ber-2": 87}, normalize(t, pl, cs, raw)); diff != "" {
		t.Errorf("one site's candidates (-want,+got):\n%s", diff)
	}
}

// statusCmp compares statuses by code and reasons.
var statusCmp = cmp.Comparer(func(a, b *fwk.Status) bool {
	if a == nil || b == nil {
		return a.IsSuccess() && b.IsSuccess()
	}
	return a.Code() == b.Code() && cmp.Equal(a.Reasons(), b.Reasons())
})

func TestFilterLiveNodeLoad(t *testing.T) {
	hot := cheapest
	hot.Telemetry = &placementv1alpha1.TelemetryPolicy{MaxNodeUtilizationPercent: ptr.To[int32](80)}
	strict := *hot.DeepCopy()
	strict.Telemetry.OnStale = &placementv1alpha1.StaleActions{NodeLoad: placementv1alpha1.Reject}
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", nil), nodeInfo("ber-2", "ber", "4", nil)}
	var live atomic.Pointer[state.Live]
	pl := testPlugin(t, nodes, &live, mkPolicy("hot", 0, nil, hot), mkPolicy("strict", 0, nil, strict))
	_, ctx := ktesting.NewTestContext(t)
	rebuild := func(load state.Signal[string, float64]) { publishLive(t, pl.model, &live, &state.Live{NodeLoad: load}) }
	filter := func(policy string) map[string]fwk.Code {
		cs := framework.NewCycleState()
		pod := st.MakePod().Namespace(ns).Name("p").Label(placementv1alpha1.PolicyLabel, policy).Obj()
		if _, s := pl.PreFilter(ctx, cs, pod, nodes); !s.IsSuccess() {
			t.Fatalf("PreFilter: %v", s)
		}
		got := map[string]fwk.Code{}
		for _, ni := range nodes {
			got[ni.Node().Name] = pl.Filter(ctx, cs, pod, ni).Code()
		}
		return got
	}
	loads := map[string]float64{"ber-1": 0.95, "ber-2": 0.30}
	rebuild(state.Signal[string, float64]{Enabled: true, Fresh: true, Values: loads})
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Unschedulable, "ber-2": fwk.Success}, filter("hot")); diff != "" {
		t.Errorf("fresh load (-want,+got):\n%s", diff)
	}
	// ber-2 has no series in a fresh read: its load is missing.
	rebuild(state.Signal[string, float64]{Enabled: true, Fresh: true, Values: map[string]float64{"ber-1": 0.95}})
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Unschedulable, "ber-2": fwk.Success}, filter("hot")); diff != "" {
		t.Errorf("ber-2 missing, declared values (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Unschedulable, "ber-2": fwk.Unschedulable}, filter("strict")); diff != "" {
		t.Errorf("ber-2 missing, policy rejects stale (-want,+got):\n%s", diff)
	}
	// The load signal is read but has never been read successfully.
	rebuild(state.Signal[string, float64]{Enabled: true})
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Success, "ber-2": fwk.Success}, filter("hot")); diff != "" {
		t.Errorf("never read, declared values (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Unschedulable, "ber-2": fwk.Unschedulable}, filter("strict")); diff != "" {
		t.Errorf("never read, policy rejects stale (-want,+got):\n%s", diff)
	}
	// A load signal not read at all: nothing to reject.
	rebuild(state.Signal[string, float64]{})
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Success, "ber-2": fwk.Success}, filter("strict")); diff != "" {
		t.Errorf("signal disabled, policy rejects stale (-want,+got):\n%s", diff)
	}
	rebuild(state.Signal[string, float64]{Enabled: true, Values: loads})
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Success, "ber-2": fwk.Success}, filter("hot")); diff != "" {
		t.Errorf("stale load, declared values (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]fwk.Code{"ber-1": fwk.Unschedulable, "ber-2": fwk.Unschedulable}, filter("strict")); diff != "" {
		t.Errorf("stale load, policy rejects stale (-want,+got):\n%s", diff)
	}
}

// A node event requeues rejected pods only for a node in a site, and a
// node's legacy site label puts it in one only when the args accept it.
func TestNodeChangeQueueingHint(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	legacy := st.MakeNode().Name("n").Label(placementv1alpha1.LegacySiteLabel, "frankfurt").Obj()
	restricted := st.MakeNode().Name("n").Label(placementv1alpha1.SiteLabel, "frankfurt").Obj()
	for _, tc := range []struct {
		node         *v1.Node
		acceptLegacy bool
		want         fwk.QueueingHint
	}{
		{st.MakeNode().Name("n").Obj(), true, fwk.QueueSkip},
		{legacy, false, fwk.QueueSkip},
		{legacy, true, fwk.Queue},
		{restricted, false, fwk.Queue},
	} {
		pl := &EdgePlacement{acceptLegacy: tc.acceptLegacy}
		got, err := pl.isSchedulableAfterNodeChange(logger, st.MakePod().Obj(), nil, tc.node)
		if err != nil || got != tc.want {
			t.Errorf("node labels %v, acceptLegacy %t: got %v, %v; want %v", tc.node.Labels, tc.acceptLegacy, got, err, tc.want)
		}
	}
}

// Each event queues only the pods it can help.
func TestQueueingHints(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	var live atomic.Pointer[state.Live]
	// The pending pod p is governed by "api", which calls the pods labelled
	// app=db; q is governed by nothing.
	pl := testPlugin(t, nil, &live, mkPolicy("api", 0, map[string]string{"app": "api"}, placementv1alpha1.PlacementPolicySpec{
		Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", PodSelector: &placementv1alpha1.PodSelector{
			MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}}}}))
	pod := st.MakePod().Namespace(ns).Name("p").UID("p").Label("app", "api").Obj()
	other := st.MakePod().Namespace(ns).Name("q").UID("q").Obj()
	db := func(node string) *v1.Pod {
		return st.MakePod().Namespace(ns).Name("db-0").UID("db-0").Label("app", "db").Node(node).Obj()
	}
	inSite := func() *st.NodeWrapper { return st.MakeNode().Name("n").Label(placementv1alpha1.SiteLabel, "frankfurt") }
	policy := func(namespace string, gen int64) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetNamespace(namespace)
		u.SetName("pol")
		u.SetGeneration(gen)
		return u
	}
	site := func(gen int64) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetName("frankfurt")
		u.SetGeneration(gen)
		return u
	}
	for _, tc := range []struct {
		name     string
		hint     fwk.QueueingHintFn
		old, new any
		want     fwk.QueueingHint
	}{
		{"node in a site", pl.isSchedulableAfterNodeChange, nil, inSite().Obj(), fwk.Queue},
		{"node cordoned", pl.isSchedulableAfterNodeChange, nil, inSite().Unschedulable(true).Obj(), fwk.QueueSkip},
		{"node with a taint the pod does not tolerate", pl.isSchedulableAfterNodeChange, nil,
			inSite().Taints([]v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}}).Obj(), fwk.QueueSkip},
		{"node with a PreferNoSchedule taint", pl.isSchedulableAfterNodeChange, nil,
			inSite().Taints([]v1.Taint{{Key: "k", Effect: v1.TaintEffectPreferNoSchedule}}).Obj(), fwk.Queue},
		{"site added", isSchedulableAfterWorldChange, nil, site(1), fwk.Queue},
		{"site spec changed", isSchedulableAfterWorldChange, site(1), site(2), fwk.Queue},
		{"site status written", isSchedulableAfterWorldChange, site(2), site(2), fwk.QueueSkip},
		{"site deleted", isSchedulableAfterWorldChange, site(2), nil, fwk.Queue},
		{"policy in the pod's namespace", isSchedulableAfterPolicyChange, policy(ns, 1), policy(ns, 2), fwk.Queue},
		{"policy created in another namespace", isSchedulableAfterPolicyChange, nil, policy("other", 1), fwk.QueueSkip},
		{"policy status written", isSchedulableAfterPolicyChange, policy(ns, 2), policy(ns, 2), fwk.QueueSkip},
		{"policy deleted", isSchedulableAfterPolicyChange, policy(ns, 2), nil, fwk.Queue},
		{"the pod's own label", pl.isSchedulableAfterPodChange, pod, st.MakePod().Namespace(ns).Name("p").UID("p").
			Label(placementv1alpha1.PolicyLabel, "fixed").Obj(), fwk.Queue},
		{"another pod's label", pl.isSchedulableAfterPodChange, nil, st.MakePod().Namespace(ns).Name("q").UID("q").Obj(), fwk.QueueSkip},
		{"a dependency's pod bound", pl.isSchedulableAfterPodChange, nil, db("ber-1"), fwk.Queue},
		{"a dependency's pod deleted", pl.isSchedulableAfterPodChange, db("ber-1"), nil, fwk.Queue},
		{"a dependency's pod created unbound", pl.isSchedulableAfterPodChange, nil, db(""), fwk.QueueSkip},
		{"a pod relabelled out of a dependency", pl.isSchedulableAfterPodChange, db("ber-1"),
			st.MakePod().Namespace(ns).Name("db-0").UID("db-0").Label("app", "cache").Node("ber-1").Obj(), fwk.Queue},
		{"a pod of another namespace", pl.isSchedulableAfterPodChange, nil,
			st.MakePod().Namespace("other").Name("db-0").UID("db-x").Label("app", "db").Node("ber-1").Obj(), fwk.QueueSkip},
		{"a bound pod no dependency selects", pl.isSchedulableAfterPodChange, nil,
			st.MakePod().Namespace(ns).Name("web").UID("web").Label("app", "web").Node("ber-1").Obj(), fwk.QueueSkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.hint(logger, pod, tc.old, tc.new)
			if err != nil || got != tc.want {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	// A pod without a policy has no dependencies to follow.
	if got, err := pl.isSchedulableAfterPodChange(logger, other, nil, db("ber-1")); err != nil || got != fwk.QueueSkip {
		t.Errorf("pod without a policy, dependency bound: got %v, %v; want QueueSkip", got, err)
	}
}

// Bind judges the pod again on the world as it is then: a site that went
// unhealthy after PreFilter, or a node the scheduler no longer knows, is
// refused rather than bound to.
func TestBindJudgesTheCurrentWorld(t *testing.T) {
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", nil)}
	var live atomic.Pointer[state.Live]
	live.Store(&state.Live{})
	pl := testPlugin(t, nodes, &live, mkPolicy("eu", 0, nil, euOnly))
	_, ctx := ktesting.NewTestContext(t)
	pod := st.MakePod().Namespace(ns).Name("p").Label(placementv1alpha1.PolicyLabel, "eu").Obj()
	cs := framework.NewCycleState()
	if _, status := pl.PreFilter(ctx, cs, pod, nodes); !status.IsSuccess() {
		t.Fatal(status)
	}
	if status := pl.Bind(ctx, cs, pod, "gone"); status.Code() != fwk.Unschedulable {
		t.Errorf("Bind to a node not in the cache: %v, want Unschedulable", status)
	}
	// ber goes down between PreFilter and Bind.
	publishLive(t, pl.model, &live, &state.Live{Health: state.Signal[string, bool]{Enabled: true, Fresh: true,
		Values: map[string]bool{"ber": false, "par": true, "zrh": true}}})
	status := pl.Bind(ctx, cs, pod, "ber-1")
	if status.Code() != fwk.Unschedulable || !strings.Contains(status.Message(), ErrReasonUnhealthy) {
		t.Errorf("Bind after ber went down: %v, want Unschedulable naming %q", status, ErrReasonUnhealthy)
	}
}

// A pod that no policy governed at PreFilter is not bound past one that
// governs it at Bind (a policy created, or a policy label added, in
// between): it is scheduled again.
func TestBindRefusesAPodAPolicyNowGoverns(t *testing.T) {
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", nil)}
	pl := testPlugin(t, nodes, nil, mkPolicy("eu", 0, nil, euOnly))
	_, ctx := ktesting.NewTestContext(t)
	free := st.MakePod().Namespace(ns).Name("p").Obj()
	cs := framework.NewCycleState()
	if _, status := pl.PreFilter(ctx, cs, free, nodes); status.Code() != fwk.Skip {
		t.Fatalf("PreFilter of a pod without a policy: %v, want Skip", status)
	}
	if status := pl.Bind(ctx, cs, free, "ber-1"); status.Code() != fwk.Skip {
		t.Errorf("Bind of a pod still without a policy: %v, want Skip (the default binder binds it)", status)
	}
	governed := free.DeepCopy()
	governed.Labels = map[string]string{placementv1alpha1.PolicyLabel: "eu"}
	if status := pl.Bind(ctx, cs, governed, "ber-1"); status.Code() != fwk.Unschedulable {
		t.Errorf("Bind of a pod a policy governs since PreFilter: %v, want Unschedulable", status)
	}
}

// A node relabelled between Filter and Bind is judged again at Bind, on its
// labels as they are then.
func TestNodeAllowedAtBind(t *testing.T) {
	gpu := euOnly
	gpu.Hardware = &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{
		{Key: "gpu", Operator: "Exists"}}}
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", map[string]string{"gpu": "yes"})}
	pl := testPlugin(t, nodes, nil, mkPolicy("gpu", 0, nil, gpu))
	_, ctx := ktesting.NewTestContext(t)
	cs := framework.NewCycleState()
	pod := st.MakePod().Namespace(ns).Name("p").Label(placementv1alpha1.PolicyLabel, "gpu").Obj()
	if _, status := pl.PreFilter(ctx, cs, pod, nodes); !status.IsSuccess() {
		t.Fatal(status)
	}
	s, err := getPreFilterState(cs)
	if err != nil {
		t.Fatal(err)
	}
	node := func(site string, labels map[string]string) *v1.Node {
		return nodeInfo("ber-1", site, "4", labels).Node()
	}
	for _, tc := range []struct {
		name string
		node *v1.Node
		want *fwk.Status
	}{
		{"unchanged", node("ber", map[string]string{"gpu": "yes"}), nil},
		{"moved out of the EU", node("zrh", map[string]string{"gpu": "yes"}), fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonResidency)},
		{"site label removed", node("", map[string]string{"gpu": "yes"}), fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonNoSite)},
		{"hardware label removed", node("ber", nil), fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonHardware)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, s.nodeAllowed(tc.node), statusCmp); diff != "" {
				t.Errorf("(-want,+got):\n%s", diff)
			}
		})
	}
}
