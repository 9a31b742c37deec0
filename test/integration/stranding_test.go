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
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/test/harness"
)

// euLatencyPolicy is EU-resident, latency-led, with a max RTT.
func euLatencyPolicy(source string, maxRTT int32) placementv1alpha1.PlacementPolicySpec {
	spec := latencyPolicy(source)
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	spec.Latency.MaxRTTMilliseconds = ptr.To(maxRTT)
	return spec
}

// The best EU site is a large cloud region cordoned for maintenance: every
// pod of an EU-resident, latency-led policy is bound in the other EU sites
// within its SLO, none outside them, none left pending.
func TestCordonedBestSiteDoesNotStrand(t *testing.T) {
	e := newEnv(t)
	// 120 cordoned nodes: more than minCandidateNodes (100), so the best
	// site alone would fill the narrowed candidates if cordoned nodes
	// counted as room.
	const cloudNodes = 120
	if _, err := e.pc.PlacementV1alpha1().Sites().Create(context.Background(), &placementv1alpha1.Site{
		ObjectMeta: metav1.ObjectMeta{Name: "cloud-fra"},
		Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierCloud, Country: "DE", Jurisdictions: []string{"EU"},
			Location: placementv1alpha1.GeoLocation{Latitude: "0", Longitude: "0"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range cloudNodes {
		createNode(t, e.cp.Client, st.MakeNode().Name(fmt.Sprintf("cloud-fra-%d", i)).Label(placementv1alpha1.SiteLabel, "cloud-fra").
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "16", v1.ResourceMemory: "64Gi"}).Unschedulable(true).Obj())
	}
	e.site(siteSpec{name: "pop-ams", country: "NL", tags: []string{"EU"}, nodes: 3})
	e.site(siteSpec{name: "pop-par", country: "FR", tags: []string{"EU"}, nodes: 3})
	e.site(siteSpec{name: "pop-zrh", country: "CH", nodes: 3})                       // close, but not EU
	e.site(siteSpec{name: "pop-lis", country: "PT", tags: []string{"EU"}, nodes: 3}) // EU, over the SLO
	e.source("eu-users", map[string]int32{"cloud-fra": 5, "pop-ams": 12, "pop-par": 15, "pop-zrh": 7, "pop-lis": 40})
	e.policy("eu-api", euLatencyPolicy("eu-users", 20))
	e.startScheduler()

	var pods []*v1.Pod
	for i := range 16 {
		pods = append(pods, e.pod(fmt.Sprintf("api-%d", i), "eu-api", "500m"))
	}
	count := map[string]int{}
	for _, p := range pods {
		count[e.siteOfPod(p)]++
	}
	t.Logf("placements during the maintenance: %v", count)
	for site, n := range count {
		if site != "pop-ams" && site != "pop-par" {
			t.Errorf("%d pod(s) in %s: want only pop-ams and pop-par (EU, within 20 ms, not cordoned)", n, site)
		}
	}
	// pop-ams is the best of the two (12 ms): it fills first.
	if count["pop-ams"] == 0 {
		t.Errorf("no pod in pop-ams, the best site with room")
	}
}

// A pod naming a policy that does not exist is refused; once its label is
// corrected it is retried by the label change, not after the scheduler's
// five-minute flush of unschedulable pods.
func TestCorrectedPolicyLabelIsRetried(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "fra", country: "DE", tags: []string{"EU"}, nodes: 1})
	e.policy("eu", costPolicy)
	e.startScheduler()
	pod := e.pod("typo", "eu-typo", "100m")
	if msg := waitForEvent(t, e.cp.Client, pod, "FailedScheduling"); !strings.Contains(msg, "eu-typo") {
		t.Fatalf("FailedScheduling says %q, want it to name the missing policy", msg)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"eu"}}}`, placementv1alpha1.PolicyLabel)
	if _, err := e.cp.Client.CoreV1().Pods(e.ns).Patch(context.Background(), pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// waitForBinding waits a minute; the flush would take five.
	if node := waitForBinding(t, e.cp.Client, pod); node != "fra-0" {
		t.Errorf("bound to %s, want fra-0", node)
	}
}

// The nodes of the best site have room but fail a filter narrowing does not
// model (the pod's host port is taken there): the pod is retried with every
// feasible site and binds in the next one, and preemption does not evict
// the lower-priority pods holding the port in the best site.
func TestNarrowedFailureWidensBeforePreempting(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "near", country: "FR", nodes: 2})
	e.site(siteSpec{name: "far", country: "FR", nodes: 2})
	e.source("users", map[string]int32{"near": 5, "far": 30})
	e.policy("latency", latencyPolicy("users"))
	if _, err := e.cp.Client.SchedulingV1().PriorityClasses().Create(context.Background(), &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "proxima-test-high"}, Value: 1000}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Low-priority pods hold host port 8080 on both of near's nodes.
	var holders []*v1.Pod
	for i := range 2 {
		holders = append(holders, createPod(t, e.cp.Client, st.MakePod().Namespace(e.ns).Name(fmt.Sprintf("holder-%d", i)).
			Node(fmt.Sprintf("near-%d", i)).ContainerPort([]v1.ContainerPort{{HostPort: 8080, ContainerPort: 8080, Protocol: v1.ProtocolTCP}}).
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).Obj()))
	}
	// Two candidates with room are enough: near alone fills them.
	harness.StartScheduler(t, e.cp, shippedConfigWith(t, func(args *configv1.EdgePlacementArgs) {
		args.MinCandidateNodes = ptr.To[int32](2)
	}))
	web := st.MakePod().Namespace(e.ns).Name("web").SchedulerName(proximaScheduler).
		Label(placementv1alpha1.PolicyLabel, "latency").
		ContainerPort([]v1.ContainerPort{{HostPort: 8080, ContainerPort: 8080, Protocol: v1.ProtocolTCP}}).
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).Obj()
	web.Spec.PriorityClassName = "proxima-test-high"
	pod := createPod(t, e.cp.Client, web)
	if node := waitForBinding(t, e.cp.Client, pod); !strings.HasPrefix(node, "far-") {
		t.Errorf("bound to %s, want a node of far (near's host port is taken)", node)
	}
	for _, h := range holders {
		got, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), h.Name, metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp != nil {
			t.Errorf("holder %s was preempted (err %v): far had room", h.Name, err)
		}
	}
	for _, ev := range podEvents(t, e.cp.Client, pod) {
		if ev.Reason == "Preempted" || strings.Contains(ev.Message, "preempt") && ev.Reason != "FailedScheduling" {
			t.Errorf("event %v: no preemption wanted", ev)
		}
	}
}

// Within the chosen site, EdgePlacement's scores differ only in proportion
// to node load, so the default plugins break ties: preferred node affinity
// picks the slightly busier node it prefers when the pod's candidates are
// all in one site (its policy's max RTT leaves only near). Between sites
// the policy still decides: a preferred node in a worse site does not win.
func TestPreferredAffinityBreaksTiesWithinASite(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "near", country: "FR", nodes: 2})
	e.site(siteSpec{name: "far", country: "FR", nodes: 1})
	e.source("users", map[string]int32{"near": 5, "far": 30})
	spec := latencyPolicy("users")
	spec.Weights.Load = ptr.To[int32](1) // load counts: the shipped config's claim is about weights.load > 0
	e.policy("latency", spec)
	local := *spec.DeepCopy()
	local.Latency.MaxRTTMilliseconds = ptr.To[int32](10)
	e.policy("near-only", local)
	labelNode(t, e, "near-1", "rack", "preferred")
	labelNode(t, e, "far-0", "rack", "far-preferred")
	// near-1 is a little busier than near-0.
	createPod(t, e.cp.Client, st.MakePod().Namespace(e.ns).Name("busy").Node("near-1").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "50m"}).Obj())
	e.startScheduler()
	prefer := func(name, policy, value string) *v1.Pod {
		return createPod(t, e.cp.Client, st.MakePod().Namespace(e.ns).Name(name).SchedulerName(proximaScheduler).
			Label(placementv1alpha1.PolicyLabel, policy).Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).
			NodeAffinity(&v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{{
				Weight: 1, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{
					{Key: "rack", Operator: v1.NodeSelectorOpIn, Values: []string{value}}}},
			}}}).Obj())
	}
	if node := waitForBinding(t, e.cp.Client, prefer("within", "near-only", "preferred")); node != "near-1" {
		t.Errorf("pod preferring near-1 bound to %s: a 50m load difference outweighed preferred node affinity", node)
	}
	if node := waitForBinding(t, e.cp.Client, prefer("across", "latency", "far-preferred")); !strings.HasPrefix(node, "near-") {
		t.Errorf("pod preferring far-0 bound to %s: preferred affinity outweighed the policy's choice of site", node)
	}
}

func labelNode(t *testing.T, e *env, node, key, value string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)
	if _, err := e.cp.Client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A DoNotSchedule topology spread over the site label counts every site
// whose nodes the pod may use as a domain. The supported way to spread a
// policy's pods over its feasible sites: say the sites in the pod's
// required node affinity (nodeAffinityPolicy: Honor, the default, then
// leaves the others out of the domains). Without it, a residency-excluded
// site counts as an empty domain and caps every feasible site at maxSkew
// pods, as the second half shows.
func TestTopologySpreadOverFeasibleSites(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "de", country: "DE", tags: []string{"EU"}, nodes: 2})
	e.site(siteSpec{name: "fr", country: "FR", tags: []string{"EU"}, nodes: 2})
	e.site(siteSpec{name: "ch", country: "CH", nodes: 2})
	e.source("users", map[string]int32{"de": 5, "fr": 10, "ch": 3})
	e.policy("eu", euLatencyPolicy("users", 50))
	e.startScheduler()
	spread := func(name, app string, sites ...string) *v1.Pod {
		w := st.MakePod().Namespace(e.ns).Name(name).SchedulerName(proximaScheduler).Label(placementv1alpha1.PolicyLabel, "eu").
			Label("app", app).Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).
			SpreadConstraint(1, placementv1alpha1.SiteLabel, v1.DoNotSchedule, st.MakeLabelSelector().Label("app", app).Obj(), nil, nil, nil, nil)
		if len(sites) > 0 {
			w = w.NodeAffinityIn(placementv1alpha1.SiteLabel, sites, st.NodeSelectorTypeMatchExpressions)
		}
		return createPod(t, e.cp.Client, w.Obj())
	}
	count := map[string]int{}
	for i := range 6 {
		p := spread(fmt.Sprintf("web-%d", i), "web", "de", "fr")
		node := waitForBinding(t, e.cp.Client, p)
		count[strings.Split(node, "-")[0]]++
	}
	if count["de"] != 3 || count["fr"] != 3 {
		t.Errorf("spread with the feasible sites as node affinity: %v, want 3 in de and 3 in fr", count)
	}
	// Without the node affinity, ch (excluded by residency) is an empty
	// domain: after one pod in de and one in fr, the skew to ch is 1 and
	// the next pod cannot go anywhere.
	first, second := spread("bare-0", "bare"), spread("bare-1", "bare")
	waitForBinding(t, e.cp.Client, first)
	waitForBinding(t, e.cp.Client, second)
	third := spread("bare-2", "bare")
	if msg := waitForEvent(t, e.cp.Client, third, "FailedScheduling"); !strings.Contains(msg, "topology spread") {
		t.Errorf("third pod without node affinity: FailedScheduling says %q, want the topology spread constraint", msg)
	}
}

// Telemetry that changes on every read (node load does) must not send the
// pods EdgePlacement rejected back to the scheduler on every refresh: pods
// refused for residency and pods that fit nowhere are retried only when a
// change can let them pass.
func TestNoRetryStormFromTelemetry(t *testing.T) {
	e := newEnv(t)
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	e.site(siteSpec{name: "fra", country: "DE", tags: []string{"EU"}, nodes: 2, cpus: "2"})
	e.source("users", map[string]int32{"fra": 5})
	us := costPolicy
	us.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"US"}}}
	e.policy("us-only", us)
	e.policy("eu", costPolicy)
	// Node load that differs on every read: the time, scaled into 0..1.
	churn := `label_replace(vector(time() % 100 / 100), "instance", "fra-0", "", "")`
	harness.StartScheduler(t, e.cp, shippedConfigWith(t, func(args *configv1.EdgePlacementArgs) {
		signal := func(q string) *configv1.SignalArgs {
			return &configv1.SignalArgs{Query: ptr.To(q), MaxAgeSeconds: ptr.To[int32](6)}
		}
		args.Telemetry = &configv1.TelemetryArgs{Address: prom.URL, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1),
			NodeUtilization: signal(churn), RTT: signal(""), Price: signal(""), Health: signal("")}
	}))
	// 500 pods refused for residency, 500 that fit on no node (3 CPUs on
	// 2-CPU nodes).
	const pods = 1000
	for i := range pods {
		policy, cpu := "us-only", "100m"
		if i%2 == 1 {
			policy, cpu = "eu", "3"
		}
		createPod(t, e.cp.Client, st.MakePod().Namespace(e.ns).Name(fmt.Sprintf("p-%d", i)).SchedulerName(proximaScheduler).
			Label(placementv1alpha1.PolicyLabel, policy).Req(map[v1.ResourceName]string{v1.ResourceCPU: cpu}).Obj())
	}
	attempts := func() float64 {
		return metricValue(t, "scheduler_schedule_attempts_total", map[string]string{"result": "unschedulable", "profile": proximaScheduler})
	}
	refreshes := func() float64 {
		return metricValue(t, "proxima_telemetry_query_duration_seconds", map[string]string{"signal": "nodeUtilization"})
	}
	ctx := context.Background()
	// Every pod has had its first attempt, and the backoffs of those
	// attempts have run out (a pod is retried once when its backoff ends).
	var a0 float64
	err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(context.Context) (bool, error) {
		a := attempts()
		done := a >= pods && a == a0
		a0 = a
		return done, nil
	})
	if err != nil {
		t.Fatalf("the %d pods were not all attempted and settled: %.0f attempts", pods, attempts())
	}
	r0, start := refreshes(), time.Now()
	const window = 20 // telemetry refreshes, each publishing a new world
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return refreshes() >= r0+window, nil
	}); err != nil || math.IsNaN(r0) {
		t.Fatalf("telemetry did not refresh %d times (from %v)", window, r0)
	}
	a1, r1, took := attempts(), refreshes(), time.Since(start)
	perRefresh := (a1 - a0) / (r1 - r0)
	t.Logf("%d unschedulable pods, %.0f telemetry refreshes in %s: %.0f scheduling attempts (%.1f per refresh, %.0f per minute)",
		pods, r1-r0, took.Round(time.Second), a1-a0, perRefresh, (a1-a0)/took.Minutes())
	// Before, every refresh re-activated every rejected pod: ~1,000 per
	// refresh, or as many as the scheduler could attempt.
	if perRefresh > 0.01*pods {
		t.Errorf("%.1f scheduling attempts per telemetry refresh with %d unschedulable pods, want under %.0f: node load cannot let them pass",
			perRefresh, pods, 0.01*pods)
	}
	// The pods are still there, each with its reason.
	list, err := e.cp.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(list.Items, func(p v1.Pod) bool { return p.Spec.NodeName != "" }); i >= 0 {
		t.Errorf("pod %s was bound; none fits", list.Items[i].Name)
	}
}
