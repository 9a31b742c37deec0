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

package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/test/harness"
)

// env is a control plane with proxima-scheduler running the shipped config.
type env struct {
	t  *testing.T
	cp *controlplane.ControlPlane
	pc versioned.Interface
	ns string
}

func newEnv(t *testing.T) *env {
	cp := harness.Start(t, controlplane.Options{})
	e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "edge")}
	return e
}

func (e *env) startScheduler() { harness.StartScheduler(e.t, e.cp, schedulerConfig) }

// startSchedulerWithEvents starts the shipped configuration with
// placedEvents: true.
func (e *env) startSchedulerWithEvents() {
	e.t.Helper()
	harness.StartScheduler(e.t, e.cp, shippedConfigWith(e.t, func(args *configv1.EdgePlacementArgs) {
		if args.PlacedEvents == nil || *args.PlacedEvents {
			e.t.Fatalf("%s does not set placedEvents: false", schedulerConfig)
		}
		args.PlacedEvents = ptr.To(true)
	}))
}

type siteSpec struct {
	name, country      string
	tier               placementv1alpha1.SiteTier
	tags               []string
	cpuPrice, gpuPrice string
	egressPrice        string
	nodes              int
	cpus               string
	nodeLabels         map[string]string
	extended           map[v1.ResourceName]string // node capacity beyond CPU and memory
}

func (e *env) site(s siteSpec) {
	e.t.Helper()
	obj := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: s.name}, Spec: placementv1alpha1.SiteSpec{
		Tier: s.tier, Country: s.country, Jurisdictions: s.tags,
		Location: placementv1alpha1.GeoLocation{Latitude: "0", Longitude: "0"},
	}}
	if s.tier == "" {
		obj.Spec.Tier = placementv1alpha1.TierEdge
	}
	if s.cpuPrice != "" {
		obj.Spec.Pricing = &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(s.cpuPrice))}
	}
	if s.gpuPrice != "" {
		if obj.Spec.Pricing == nil {
			obj.Spec.Pricing = &placementv1alpha1.SitePricing{}
		}
		obj.Spec.Pricing.GPUHour = ptr.To(resource.MustParse(s.gpuPrice))
	}
	if s.egressPrice != "" {
		if obj.Spec.Pricing == nil {
			obj.Spec.Pricing = &placementv1alpha1.SitePricing{}
		}
		obj.Spec.Pricing.EgressGiB = ptr.To(resource.MustParse(s.egressPrice))
	}
	if _, err := e.pc.PlacementV1alpha1().Sites().Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating site %s: %v", s.name, err)
	}
	cpus := s.cpus
	if cpus == "" {
		cpus = "4"
	}
	capacity := map[v1.ResourceName]string{v1.ResourceCPU: cpus, v1.ResourceMemory: "16Gi"}
	for r, q := range s.extended {
		capacity[r] = q
	}
	for i := range s.nodes {
		n := st.MakeNode().Name(fmt.Sprintf("%s-%d", s.name, i)).Label(placementv1alpha1.SiteLabel, s.name).
			Capacity(capacity).Obj()
		for k, v := range s.nodeLabels {
			n.Labels[k] = v
		}
		createNode(e.t, e.cp.Client, n)
	}
}

func (e *env) source(name string, rtts map[string]int32) {
	e.t.Helper()
	obj := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for site, ms := range rtts {
		obj.Spec.RTTs = append(obj.Spec.RTTs, placementv1alpha1.SiteRTT{Site: site, Milliseconds: ms})
	}
	if _, err := e.pc.PlacementV1alpha1().TrafficSources().Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating source %s: %v", name, err)
	}
}

func (e *env) policy(name string, spec placementv1alpha1.PlacementPolicySpec) {
	e.t.Helper()
	obj := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, Spec: spec}
	if _, err := e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating policy %s: %v", name, err)
	}
}

// pod creates a pod for proxima-scheduler governed by the named policy
// (through the policy label; "" for none) requesting cpu.
func (e *env) pod(name, policy, cpu string) *v1.Pod {
	e.t.Helper()
	w := st.MakePod().Namespace(e.ns).Name(name).SchedulerName(proximaScheduler).Req(map[v1.ResourceName]string{v1.ResourceCPU: cpu})
	if policy != "" {
		w = w.Label(placementv1alpha1.PolicyLabel, policy)
	}
	return createPod(e.t, e.cp.Client, w.Obj())
}

// siteOfPod waits for the pod to bind and returns its node's site.
func (e *env) siteOfPod(pod *v1.Pod) string {
	e.t.Helper()
	nodeName := waitForBinding(e.t, e.cp.Client, pod)
	n, err := e.cp.Client.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n.Labels[placementv1alpha1.SiteLabel]
}

func latencyPolicy(sources ...string) placementv1alpha1.PlacementPolicySpec {
	spec := placementv1alpha1.PlacementPolicySpec{
		Latency: &placementv1alpha1.LatencyPolicy{},
		Weights: &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
	}
	for _, s := range sources {
		spec.Latency.Sources = append(spec.Latency.Sources, placementv1alpha1.SourceWeight{Name: s})
	}
	return spec
}

var costPolicy = placementv1alpha1.PlacementPolicySpec{Weights: &placementv1alpha1.ObjectiveWeights{Cost: ptr.To[int32](1)}}

// (a) Residency is never traded for latency or cost.
func TestResidencyBeatsLatencyAndCost(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "zurich", country: "CH", cpuPrice: "0.01", nodes: 2})
	e.site(siteSpec{name: "frankfurt", country: "DE", tags: []string{"EU"}, cpuPrice: "0.09", nodes: 2})
	e.source("shoppers", map[string]int32{"zurich": 2, "frankfurt": 40})
	spec := latencyPolicy("shoppers")
	spec.Weights.Cost = ptr.To[int32](1)
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	e.policy("eu-only", spec)
	e.policy("anywhere", latencyPolicy("shoppers"))
	e.startSchedulerWithEvents()

	for i := range 4 {
		if site := e.siteOfPod(e.pod(fmt.Sprintf("eu-%d", i), "eu-only", "100m")); site != "frankfurt" {
			t.Errorf("EU-only pod %d landed in %s, want frankfurt (the only EU site)", i, site)
		}
	}
	// The control: without residency the same pod goes to the closer, cheaper site.
	if site := e.siteOfPod(e.pod("free", "anywhere", "100m")); site != "zurich" {
		t.Errorf("unrestricted pod landed in %s, want zurich", site)
	}
	explained := e.pod("eu-explained", "eu-only", "100m")
	msg := placementOf(t, e.cp.Client, explained)
	for _, want := range []string{"site frankfurt", "Edge, DE", "shoppers 40.0 ms"} {
		if !strings.Contains(msg, want) {
			t.Errorf("placement annotation %q does not say %q", msg, want)
		}
	}
	// With placedEvents the same explanation is also a Placed event.
	if ev := waitForEvent(t, e.cp.Client, explained, "Placed"); ev != msg {
		t.Errorf("Placed event %q, want the annotation's %q", ev, msg)
	}
}

// (b) A GPU policy lands only on nodes with the GPU labels.
func TestHardwareRule(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "store", country: "FR", cpuPrice: "0.01", nodes: 3})
	e.site(siteSpec{name: "gpu-pop", country: "FR", cpuPrice: "0.50", nodes: 2, nodeLabels: map[string]string{"nvidia.com/gpu.present": "true"}})
	spec := costPolicy
	spec.Hardware = &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{
		{Key: "nvidia.com/gpu.present", Operator: placementv1alpha1.NodeOperator("In"), Values: []placementv1alpha1.LabelValue{"true"}}}}
	e.policy("gpu", spec)
	e.startScheduler()
	for i := range 3 {
		if site := e.siteOfPod(e.pod(fmt.Sprintf("infer-%d", i), "gpu", "100m")); site != "gpu-pop" {
			t.Errorf("GPU pod %d landed in %s, want gpu-pop (the only GPU nodes), though store is cheaper", i, site)
		}
	}
}

// (b') The cost cap prices every GPU vendor's resource, not only
// nvidia.com/gpu: an amd.com/gpu pod goes to the site whose GPU-hour keeps it
// under the cap though another is closer; one over the cap everywhere, and
// one that requests nothing, stay pending with the reason.
func TestCostCapPricesEveryGPU(t *testing.T) {
	e := newEnv(t)
	gpus := map[v1.ResourceName]string{"amd.com/gpu": "4"}
	e.site(siteSpec{name: "near", country: "FR", cpuPrice: "0.01", gpuPrice: "3.00", nodes: 1, extended: gpus})
	e.site(siteSpec{name: "cheap", country: "FR", cpuPrice: "0.01", gpuPrice: "1.00", nodes: 1, extended: gpus})
	e.source("users", map[string]int32{"near": 5, "cheap": 40})
	spec := latencyPolicy("users")
	spec.Cost = &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("1.5")}
	e.policy("capped", spec)
	e.startScheduler()

	capped := func(name string) *st.PodWrapper {
		return st.MakePod().Namespace(e.ns).Name(name).SchedulerName(proximaScheduler).Label(placementv1alpha1.PolicyLabel, "capped")
	}
	// One GPU: near costs 3.001/h, over the cap; cheap 1.001/h.
	one := createPod(t, e.cp.Client, capped("one-gpu").Res(map[v1.ResourceName]string{v1.ResourceCPU: "100m", "amd.com/gpu": "1"}).Obj())
	if site := e.siteOfPod(one); site != "cheap" {
		t.Errorf("1-GPU pod landed in %s, want cheap (near is closer, but its GPU-hour puts the pod over the 1.5/h cap)", site)
	}
	// Limits without requests: the apiserver copies them into the requests,
	// so the pod is priced the same.
	limited := createPod(t, e.cp.Client, capped("limits-only").Lim(map[v1.ResourceName]string{v1.ResourceCPU: "100m", "amd.com/gpu": "1"}).Obj())
	if site := e.siteOfPod(limited); site != "cheap" {
		t.Errorf("1-GPU pod with limits only landed in %s, want cheap", site)
	}
	two := createPod(t, e.cp.Client, capped("two-gpus").Res(map[v1.ResourceName]string{v1.ResourceCPU: "100m", "amd.com/gpu": "2"}).Obj())
	if msg := waitForEvent(t, e.cp.Client, two, "FailedScheduling"); !strings.Contains(msg, "2 sites: max cost 1.5/h") {
		t.Errorf("2-GPU pod: FailedScheduling says %q, want both sites over the cost cap", msg)
	}
	bare := createPod(t, e.cp.Client, capped("no-requests").Container("pause").Obj())
	if msg := waitForEvent(t, e.cp.Client, bare, "FailedScheduling"); !strings.Contains(msg, "requests no CPU, memory or GPUs") {
		t.Errorf("pod without requests: FailedScheduling says %q, want it refused for having no cost to cap", msg)
	}
}

// (c) maxRTT: pods go only to sites within the bound, and stay pending with
// the reason when none is.
func TestMaxRTT(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "near", country: "FR", cpuPrice: "0.09", nodes: 1})
	e.site(siteSpec{name: "far", country: "FR", cpuPrice: "0.01", nodes: 1})
	e.source("users", map[string]int32{"near": 8, "far": 45})
	bounded := costPolicy
	bounded.Latency = &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, MaxRTTMilliseconds: ptr.To[int32](20)}
	e.policy("within-20", bounded)
	tight := *bounded.DeepCopy()
	tight.Latency.MaxRTTMilliseconds = ptr.To[int32](5)
	e.policy("within-5", tight)
	e.startScheduler()

	if site := e.siteOfPod(e.pod("bounded", "within-20", "100m")); site != "near" {
		t.Errorf("pod landed in %s, want near (far is cheaper but 45 ms > 20 ms)", site)
	}
	stuck := e.pod("impossible", "within-5", "100m")
	msg := waitForEvent(t, e.cp.Client, stuck, "FailedScheduling")
	if !strings.Contains(msg, "2 sites: max RTT 5 ms") {
		t.Errorf("FailedScheduling says %q, want the count of sites over the RTT bound", msg)
	}
}

// (d) Latency-led pods take the lowest weighted RTT, cost-led pods the
// cheapest; when that site is full, the next best.
func TestObjectiveOrderAndSpill(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "a", country: "FR", cpuPrice: "0.03", nodes: 1, cpus: "1"})
	e.site(siteSpec{name: "b", country: "FR", cpuPrice: "0.01", nodes: 1, cpus: "1"})
	e.site(siteSpec{name: "c", country: "FR", cpuPrice: "0.02", nodes: 1, cpus: "1"})
	e.source("paris", map[string]int32{"a": 5, "b": 30, "c": 12})
	e.source("lyon", map[string]int32{"a": 20, "b": 25, "c": 4})
	// Weighted mean, paris 3 : lyon 1 → a (15+20)/4 = 8.75, b (90+25)/4 = 28.75, c (36+4)/4 = 10.
	spec := latencyPolicy()
	spec.Latency.Sources = []placementv1alpha1.SourceWeight{{Name: "paris", Weight: ptr.To[int32](3)}, {Name: "lyon", Weight: ptr.To[int32](1)}}
	e.policy("fast", spec)
	e.policy("cheap", costPolicy)
	e.startScheduler()

	// Each node has one CPU: 600m pods fill a site one at a time.
	for i, want := range []string{"a", "c", "b"} {
		if site := e.siteOfPod(e.pod(fmt.Sprintf("fast-%d", i), "fast", "600m")); site != want {
			t.Errorf("latency-led pod %d landed in %s, want %s", i, site, want)
		}
	}
	// All sites now have 400m left; cost-led: b (0.01) first, then c, then a.
	for i, want := range []string{"b"} {
		if site := e.siteOfPod(e.pod(fmt.Sprintf("cheap-%d", i), "cheap", "300m")); site != want {
			t.Errorf("cost-led pod %d landed in %s, want %s", i, site, want)
		}
	}
	if site := e.siteOfPod(e.pod("cheap-spill", "cheap", "300m")); site != "c" {
		t.Errorf("cost-led pod with b full landed in %s, want c (next cheapest)", site)
	}
}

// (e) Changing prices or RTTs changes the next placement, and a pending pod
// is retried when a change makes it schedulable.
func TestWorldChangesApply(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.site(siteSpec{name: "x", country: "FR", cpuPrice: "0.01", nodes: 1})
	e.site(siteSpec{name: "y", country: "FR", cpuPrice: "0.02", nodes: 1})
	e.source("users", map[string]int32{"x": 30, "y": 30})
	e.policy("cheap", costPolicy)
	bounded := latencyPolicy("users")
	bounded.Latency.MaxRTTMilliseconds = ptr.To[int32](10)
	e.policy("fast", bounded)
	e.startScheduler()

	if site := e.siteOfPod(e.pod("before", "cheap", "100m")); site != "x" {
		t.Fatalf("pod landed in %s, want x (cheaper)", site)
	}
	pending := e.pod("waits-for-rtt", "fast", "100m")
	waitForEvent(t, e.cp.Client, pending, "FailedScheduling")

	y, err := e.pc.PlacementV1alpha1().Sites().Get(ctx, "y", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	y.Spec.Pricing.CPUCoreHour = ptr.To(resource.MustParse("0.001"))
	if _, err := e.pc.PlacementV1alpha1().Sites().Update(ctx, y, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		// The pod may be scheduled against the old snapshot until the plugin
		// sees the update; every new pod is a fresh look at the world.
		p := e.pod(fmt.Sprintf("after-%d", time.Now().UnixNano()), "cheap", "10m")
		return e.siteOfPod(p) == "y", nil
	}); err != nil {
		t.Errorf("after y became cheaper, cost-led pods never went to y: %v", err)
	}

	src, err := e.pc.PlacementV1alpha1().TrafficSources().Get(ctx, "users", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range src.Spec.RTTs {
		if src.Spec.RTTs[i].Site == "y" {
			src.Spec.RTTs[i].Milliseconds = 7
		}
	}
	if _, err := e.pc.PlacementV1alpha1().TrafficSources().Update(ctx, src, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if site := e.siteOfPod(pending); site != "y" {
		t.Errorf("pending pod bound in %s after y's RTT fell within the bound, want y", site)
	}
}

// (f) A pod naming a missing policy stays pending with the reason and binds
// once the policy exists. (g) A pod without a policy is placed as by the
// default profile.
func TestMissingPolicyAndNoPolicy(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "s", country: "FR", nodes: 1})
	createNode(t, e.cp.Client, st.MakeNode().Name("siteless").Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4"}).Obj())
	e.startScheduler()

	orphan := e.pod("orphan", "not-yet", "100m")
	msg := waitForEvent(t, e.cp.Client, orphan, "FailedScheduling")
	if !strings.Contains(msg, "not-yet") || !strings.Contains(msg, "does not exist") {
		t.Errorf("FailedScheduling says %q, want it to name the missing policy", msg)
	}
	e.policy("not-yet", costPolicy)
	if site := e.siteOfPod(orphan); site != "s" {
		t.Errorf("pod bound in site %q, want s (the siteless node is in no site)", site)
	}

	free := e.pod("free", "", "100m")
	if msg := placementOf(t, e.cp.Client, free); msg != "" {
		t.Errorf("pod without a policy has a placement annotation %q", msg)
	}
	for _, ev := range podEvents(t, e.cp.Client, free) {
		if ev.Reason == "Placed" {
			t.Errorf("pod without a policy got a Placed event: %s", ev)
		}
	}
}

// (h) At 5,000 nodes over 500 sites with the default adaptive
// percentageOfNodesToScore (which alone would look at ~10% of nodes),
// latency-led pods land at the best feasible site with room, every time.
func TestBestSiteAtScale(t *testing.T) {
	e := newEnv(t)
	const sites, perSite = 500, 10
	ctx := context.Background()
	rtts := map[string]int32{}
	var wg sync.WaitGroup
	errs := make(chan error, sites)
	sem := make(chan struct{}, 32)
	for s := range sites {
		name := fmt.Sprintf("site-%03d", s)
		// RTT rises with the index, except the best site, which sorts last by name.
		rtts[name] = int32(20 + s%400)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			obj := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
				Tier: placementv1alpha1.TierEdge, Country: "FR", Location: placementv1alpha1.GeoLocation{Latitude: "0", Longitude: "0"}}}
			if _, err := e.pc.PlacementV1alpha1().Sites().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				errs <- err
				return
			}
			for i := range perSite {
				n := st.MakeNode().Name(fmt.Sprintf("%s-%d", name, i)).Label(placementv1alpha1.SiteLabel, name).
					Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "1", v1.ResourceMemory: "4Gi"}).Obj()
				if _, err := e.cp.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The best site is site-499 at 5 ms; the second best site-401..., at 21+.
	rtts["site-499"] = 5
	e.source("users", rtts)
	e.policy("fast", latencyPolicy("users"))
	e.startScheduler()

	// site-499 holds 10 one-CPU nodes: 20 pods of 500m fill it exactly.
	for i := range 2 * perSite {
		if site := e.siteOfPod(e.pod(fmt.Sprintf("p-%02d", i), "fast", "500m")); site != "site-499" {
			t.Fatalf("pod %d landed in %s, want site-499 (best RTT with room)", i, site)
		}
	}
	// Full now: the next pod goes to the next best site (RTT 20: site-000 and site-400).
	if site := e.siteOfPod(e.pod("spill", "fast", "500m")); site != "site-000" && site != "site-400" {
		t.Errorf("pod after site-499 filled landed in %s, want site-000 or site-400 (20 ms)", site)
	}
}
