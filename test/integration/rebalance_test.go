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
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/manager"
	"github.com/proxima-sched/proxima/test/harness"
)

// rebalanceEnv is a control plane with the real kube-controller-manager
// (Deployments, ReplicaSets, PodDisruptionBudgets), simulated kubelets
// (pods become Running and Ready once bound, and go once deleted),
// proxima-scheduler and proxima-controller's controllers with the
// rebalancer judging every 500 ms.
type rebalanceEnv struct {
	*env
	exp  *harness.Exporter
	prom *harness.Prometheus
}

func newRebalanceEnv(t *testing.T, telemetry bool, controllers ...string) *rebalanceEnv {
	e := &rebalanceEnv{env: newEnv(t)}
	harness.StartControllerManager(t, e.cp, append([]string{"deployment", "replicaset", "disruption"}, controllers...)...)
	harness.SimulatePods(t, e.cp)
	config := schedulerConfig
	if telemetry {
		e.exp = harness.StartExporter(t)
		e.prom = harness.StartPrometheus(t, e.exp)
		config = telemetryConfig(t, e.prom.URL)
	}
	harness.StartScheduler(t, e.cp, config)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- manager.Run(ctx, e.cp.Config, manager.Options{SchedulerConfig: config, SchedulerNames: []string{proximaScheduler},
			Rebalance: true, RebalanceInterval: 500 * time.Millisecond, EvictionsPerMinute: 600})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxima-controller's controllers: %v", err)
		}
	})
	return e
}

// deployment creates a Deployment of replicas pods for proxima-scheduler
// governed by policy, each requesting cpu.
func (e *rebalanceEnv) deployment(name, policy string, replicas int32, cpu string) {
	e.t.Helper()
	d := newDeployment(e.ns, name, replicas, map[string]string{placementv1alpha1.PolicyLabel: policy}, cpu, proximaScheduler)
	if _, err := e.cp.Client.AppsV1().Deployments(e.ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// placed returns the site of every bound, live pod of app.
func (e *rebalanceEnv) placed(app string) map[string]string {
	e.t.Helper()
	pods, err := e.cp.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	nodes, err := e.cp.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	siteOf := map[string]string{}
	for _, n := range nodes.Items {
		siteOf[n.Name] = n.Labels[placementv1alpha1.SiteLabel]
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out[p.Name] = siteOf[p.Spec.NodeName]
		}
	}
	return out
}

// meanRTT is the mean of rtt over the sites of app's bound pods, when
// exactly want are bound.
func (e *rebalanceEnv) meanRTT(app string, want int, rtt map[string]float64) (float64, bool) {
	sites := e.placed(app)
	if len(sites) != want {
		return 0, false
	}
	var sum float64
	for _, s := range sites {
		sum += rtt[s]
	}
	return sum / float64(want), true
}

// eventually polls cond every 200 ms for at most limit.
func (e *rebalanceEnv) eventually(what string, limit time.Duration, cond func() bool) {
	e.t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, limit, true,
		func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		e.t.Fatalf("%s: not within %v", what, limit)
	}
}

func rebalancing(mode placementv1alpha1.RebalanceMode, grace, dwell, cooldown int32) *placementv1alpha1.RebalancePolicy {
	all := intstr.FromString("100%")
	return &placementv1alpha1.RebalancePolicy{Mode: mode, GraceSeconds: ptr.To(grace), DwellSeconds: ptr.To(dwell),
		CooldownSeconds: ptr.To(cooldown), MinRTTGainMilliseconds: ptr.To[int32](1), MaxMoving: &all}
}

// podWatch records what happens to a namespace's pods.
type podWatch struct {
	mu sync.Mutex
	// evictedAge is each pod's age when its deletion was first seen.
	evictedAge map[string]time.Duration
	// boundAt is where each pod was first seen bound, and when.
	boundTo map[string]string
	boundAt map[string]time.Time
	// minHealthy is the fewest Ready, live pods of app seen once all were
	// (armed).
	minHealthy, replicas int
	armed                bool
}

func (e *rebalanceEnv) watchPods(app string, replicas int) *podWatch {
	w := &podWatch{evictedAge: map[string]time.Duration{}, boundTo: map[string]string{}, boundAt: map[string]time.Time{},
		minHealthy: replicas, replicas: replicas}
	factory := informers.NewSharedInformerFactoryWithOptions(e.cp.Client, 0, informers.WithNamespace(e.ns))
	inf := factory.Core().V1().Pods().Informer()
	healthy := func() int {
		n := 0
		for _, obj := range inf.GetStore().List() {
			p := obj.(*v1.Pod)
			if p.Labels["app"] != app || p.DeletionTimestamp != nil {
				continue
			}
			if podutil.IsPodReady(p) {
				n++
			}
		}
		return n
	}
	on := func(obj any) {
		p, ok := obj.(*v1.Pod)
		if !ok {
			return
		}
		now := time.Now()
		w.mu.Lock()
		defer w.mu.Unlock()
		if p.Spec.NodeName != "" {
			if _, seen := w.boundTo[p.Name]; !seen {
				w.boundTo[p.Name], w.boundAt[p.Name] = p.Spec.NodeName, now
			}
		}
		if p.DeletionTimestamp != nil {
			if _, seen := w.evictedAge[p.Name]; !seen {
				w.evictedAge[p.Name] = now.Sub(p.CreationTimestamp.Time)
			}
		}
		h := healthy()
		if h == w.replicas {
			w.armed = true
		}
		if w.armed {
			w.minHealthy = min(w.minHealthy, h)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: on, UpdateFunc: func(_, n any) { on(n) }}); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	e.t.Cleanup(func() { cancel(); factory.Shutdown() })
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return w
}

func (e *rebalanceEnv) policyStatus(name string) *placementv1alpha1.PlacementPolicy {
	e.t.Helper()
	p, err := e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *rebalanceEnv) setMode(name string, edit func(*placementv1alpha1.PlacementPolicySpec)) {
	e.t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		edit(&p.Spec)
		_, err = e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).Update(ctx, p, metav1.UpdateOptions{})
		return err == nil, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// events lists the namespace's events.k8s.io events with reason.
func (e *rebalanceEnv) events(reason string) []string {
	e.t.Helper()
	list, err := e.cp.Client.EventsV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.Reason == reason {
			out = append(out, ev.Regarding.Kind+"/"+ev.Regarding.Name+": "+ev.Note)
		}
	}
	return out
}

// TestRebalanceOutageAndRecovery: a site goes down (live health), its pods
// move out after the grace period and spill to the next site; when it
// recovers they come back after the dwell time, and the policy's mean RTT
// returns to within 1.05× of its value before the outage.
func TestRebalanceOutageAndRecovery(t *testing.T) {
	e := newRebalanceEnv(t, true)
	rtt := map[string]float64{"near": 10, "mid": 20, "far": 40}
	for name := range rtt {
		e.site(siteSpec{name: name, country: "FR", cpuPrice: "0.05", nodes: 1})
		e.exp.Up.WithLabelValues(name).Set(1)
	}
	e.source("users", map[string]int32{"near": 10, "mid": 20, "far": 40})
	spec := latencyPolicy("users")
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 2, 2, 3)
	e.policy("web", spec)
	e.deployment("web", "web", 4, "500m")

	var before float64
	e.eventually("4 pods placed", time.Minute, func() bool {
		m, ok := e.meanRTT("web", 4, rtt)
		before = m
		return ok
	})
	if before != 10 {
		t.Fatalf("before the outage the mean RTT is %v ms, want 10 (every pod in near): %v", before, e.placed("web"))
	}

	e.exp.Up.WithLabelValues("near").Set(0)
	e.eventually("pods spill out of near", 2*time.Minute, func() bool {
		sites := e.placed("web")
		for _, s := range sites {
			if s == "near" {
				return false
			}
		}
		return len(sites) == 4
	})
	if m, _ := e.meanRTT("web", 4, rtt); m != 20 {
		t.Errorf("during the outage the mean RTT is %v ms, want 20 (spilled to mid, the next best): %v", m, e.placed("web"))
	}

	e.exp.Up.WithLabelValues("near").Set(1)
	e.eventually("mean RTT back within 1.05× of before the outage", 2*time.Minute, func() bool {
		m, ok := e.meanRTT("web", 4, rtt)
		return ok && m <= 1.05*before
	})

	moves := e.events("Rebalance")
	var out, back int
	for _, m := range moves {
		if strings.HasPrefix(m, "Pod/") && strings.Contains(m, "from site near to site mid") {
			out++
		}
		if strings.HasPrefix(m, "Pod/") && strings.Contains(m, "from site mid to site near") {
			back++
		}
	}
	if out < 4 || back < 4 {
		t.Errorf("want at least 4 pod events out of near and 4 back, got %d and %d: %v", out, back, moves)
	}
	policyEvents := 0
	for _, m := range moves {
		if strings.HasPrefix(m, "PlacementPolicy/web: Pod ") && strings.Contains(m, "expected latency objective gain") {
			policyEvents++
		}
	}
	if policyEvents < 8 {
		t.Errorf("want an event on the policy for each of the 8 moves, got %d: %v", policyEvents, moves)
	}
	for _, reason := range []string{placementv1alpha1.RebalanceHardRule, placementv1alpha1.RebalanceBetterSite} {
		labels := map[string]string{"namespace": e.ns, "policy": "web", "reason": reason, "result": "evicted"}
		if v := metricValue(t, "proxima_rebalancer_evictions_total", labels); !(v >= 4) {
			t.Errorf("proxima_rebalancer_evictions_total%v = %v, want >= 4", labels, v)
		}
	}
	// Out of near costs 10 ms of objective a pod, back gains 10 ms.
	if v := metricValue(t, "proxima_rebalancer_move_rtt_gain_milliseconds", map[string]string{"namespace": e.ns, "policy": "web"}); !(v >= 8) {
		t.Errorf("proxima_rebalancer_move_rtt_gain_milliseconds counted %v moves, want >= 8", v)
	}
}

// TestRebalanceResidencyNarrowed: a live policy's residency is narrowed;
// every pod outside it moves, no pod created after the change is ever
// bound outside it, and the PodDisruptionBudget is never broken.
func TestRebalanceResidencyNarrowed(t *testing.T) {
	e := newRebalanceEnv(t, false)
	e.site(siteSpec{name: "de", country: "DE", nodes: 1})
	e.site(siteSpec{name: "fr", country: "FR", nodes: 1})
	e.site(siteSpec{name: "us", country: "US", nodes: 1})
	e.source("users", map[string]int32{"de": 10, "fr": 20, "us": 5})
	spec := latencyPolicy("users")
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"DE", "FR"}}}
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 300, 600)
	e.policy("eu", spec)
	const replicas, minAvailable = 4, 3
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: e.ns}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptr.To(intstr.FromInt32(minAvailable)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}}}
	if _, err := e.cp.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(context.Background(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	watch := e.watchPods("api", replicas)
	e.deployment("api", "eu", replicas, "500m")
	e.eventually("every pod in de and the PDB allowing one disruption", time.Minute, func() bool {
		sites := e.placed("api")
		for _, s := range sites {
			if s != "de" {
				return false
			}
		}
		p, err := e.cp.Client.PolicyV1().PodDisruptionBudgets(e.ns).Get(context.Background(), "api", metav1.GetOptions{})
		return err == nil && len(sites) == replicas && p.Status.DisruptionsAllowed == 1
	})

	changed := time.Now()
	e.setMode("eu", func(s *placementv1alpha1.PlacementPolicySpec) {
		s.Residency.Allowed.Countries = []placementv1alpha1.CountryCode{"FR"}
	})
	e.eventually("every pod moved to fr", 2*time.Minute, func() bool {
		sites := e.placed("api")
		for _, s := range sites {
			if s != "fr" {
				return false
			}
		}
		return len(sites) == replicas
	})

	watch.mu.Lock()
	defer watch.mu.Unlock()
	for pod, node := range watch.boundTo {
		if watch.boundAt[pod].After(changed) && !strings.HasPrefix(node, "fr-") || strings.HasPrefix(node, "us-") {
			t.Errorf("pod %s was bound to %s after residency was narrowed to FR", pod, node)
		}
	}
	if watch.minHealthy < minAvailable {
		t.Errorf("only %d pods were Ready at one point; the PodDisruptionBudget asks for %d", watch.minHealthy, minAvailable)
	}
	if len(watch.evictedAge) < replicas {
		t.Errorf("%d pods were evicted, want %d", len(watch.evictedAge), replicas)
	}
}

// TestRebalanceNoFlapping: two sites whose live RTTs swap which is better
// every few seconds; pods may move, but none younger than the cooldown.
func TestRebalanceNoFlapping(t *testing.T) {
	e := newRebalanceEnv(t, true)
	for _, name := range []string{"a", "b"} {
		e.site(siteSpec{name: name, country: "FR", nodes: 1})
		e.exp.Up.WithLabelValues(name).Set(1)
	}
	e.exp.RTT.WithLabelValues("users", "a").Set(0.010)
	e.exp.RTT.WithLabelValues("users", "b").Set(0.013)
	e.source("users", map[string]int32{"a": 10, "b": 10})
	const cooldown = 8
	spec := latencyPolicy("users")
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 60, 1, cooldown)
	e.policy("web", spec)
	watch := e.watchPods("web", 4)
	e.deployment("web", "web", 4, "500m")
	e.eventually("4 pods placed", time.Minute, func() bool { return len(e.placed("web")) == 4 })

	// Swap the better site every 3 s, ten times: more often than the
	// cooldown, less often than the dwell time.
	better := "a"
	for range 10 {
		flip := time.Now().Add(3 * time.Second)
		e.eventually("the next swap", 10*time.Second, func() bool { return time.Now().After(flip) })
		if better == "a" {
			better = "b"
			e.exp.RTT.WithLabelValues("users", "a").Set(0.013)
			e.exp.RTT.WithLabelValues("users", "b").Set(0.010)
		} else {
			better = "a"
			e.exp.RTT.WithLabelValues("users", "a").Set(0.010)
			e.exp.RTT.WithLabelValues("users", "b").Set(0.013)
		}
	}
	watch.mu.Lock()
	defer watch.mu.Unlock()
	if len(watch.evictedAge) == 0 {
		t.Fatal("nothing moved in 30 s of swaps; the test shows nothing")
	}
	for pod, age := range watch.evictedAge {
		// Creation timestamps have a resolution of one second.
		if age < (cooldown-1)*time.Second {
			t.Errorf("pod %s was moved %v after it was created, within the %d s cooldown", pod, age.Round(time.Millisecond), cooldown)
		}
	}
	t.Logf("%d evictions over 10 swaps", len(watch.evictedAge))
}

// TestRebalanceDryRun: in DryRun the rebalancer evicts nothing and reports
// the pods it would move; switched to On, it moves exactly those.
func TestRebalanceDryRun(t *testing.T) {
	e := newRebalanceEnv(t, false)
	e.site(siteSpec{name: "near", country: "FR", nodes: 0})
	e.site(siteSpec{name: "mid", country: "FR", nodes: 1})
	e.source("users", map[string]int32{"near": 10, "mid": 20})
	spec := latencyPolicy("users")
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceDryRun, 60, 1, 0)
	e.policy("web", spec)
	watch := e.watchPods("web", 3)
	e.deployment("web", "web", 3, "500m")
	e.eventually("3 pods placed in mid", time.Minute, func() bool {
		sites := e.placed("web")
		for _, s := range sites {
			if s != "mid" {
				return false
			}
		}
		return len(sites) == 3
	})
	original := sets.KeySet(e.placed("web"))

	// Room frees up in the better site.
	createNode(t, e.cp.Client, nodeIn("near-0", "near", "4"))
	var reported []string
	e.eventually("DryRun reports 3 candidates", time.Minute, func() bool {
		st := e.policyStatus("web").Status.Rebalance
		if st == nil || st.Candidates != 3 {
			return false
		}
		reported = nil
		for _, p := range st.Pods {
			if p.FromSite != "mid" || p.ToSite != "near" || p.Reason != placementv1alpha1.RebalanceBetterSite {
				t.Errorf("candidate %+v, want mid → near, BetterSite", p)
			}
			reported = append(reported, p.Pod)
		}
		return true
	})
	// Ten more rounds: still nothing evicted.
	start := metricValue(t, "proxima_rebalancer_rounds_total", nil)
	e.eventually("ten more rounds", time.Minute, func() bool {
		return metricValue(t, "proxima_rebalancer_rounds_total", nil) >= start+10
	})
	watch.mu.Lock()
	evicted := len(watch.evictedAge)
	watch.mu.Unlock()
	if evicted != 0 || !sets.KeySet(e.placed("web")).Equal(original) {
		t.Fatalf("DryRun evicted %d pods", evicted)
	}

	e.setMode("web", func(s *placementv1alpha1.PlacementPolicySpec) { s.Rebalance.Mode = placementv1alpha1.RebalanceOn })
	e.eventually("every pod in near", 2*time.Minute, func() bool {
		sites := e.placed("web")
		for _, s := range sites {
			if s != "near" {
				return false
			}
		}
		return len(sites) == 3
	})
	watch.mu.Lock()
	defer watch.mu.Unlock()
	moved := sets.KeySet(watch.evictedAge).UnsortedList()
	sort.Strings(moved)
	sort.Strings(reported)
	if fmt.Sprint(moved) != fmt.Sprint(reported) {
		t.Errorf("On moved %v, DryRun reported %v", moved, reported)
	}
}

func nodeIn(name, site, cpus string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{placementv1alpha1.SiteLabel: site}}}
	n.Status.Capacity = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpus), v1.ResourceMemory: resource.MustParse("16Gi"),
		v1.ResourcePods: resource.MustParse("110")}
	n.Status.Allocatable = n.Status.Capacity
	return n
}

// TestRebalancePausesWithoutTelemetry: while Prometheus is down the
// rebalancer moves nothing, even for a broken hard rule, and says why in
// the policy's status; once it is back, the pods move.
func TestRebalancePausesWithoutTelemetry(t *testing.T) {
	e := newRebalanceEnv(t, true)
	for _, s := range []siteSpec{{name: "de", country: "DE", nodes: 1}, {name: "fr", country: "FR", nodes: 1}} {
		e.site(s)
		e.exp.Up.WithLabelValues(s.name).Set(1)
	}
	e.source("users", map[string]int32{"de": 10, "fr": 20})
	spec := latencyPolicy("users")
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"DE", "FR"}}}
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 300, 600)
	e.policy("eu", spec)
	watch := e.watchPods("api", 2)
	e.deployment("api", "eu", 2, "500m")
	inOnly := func(site string) bool {
		sites := e.placed("api")
		for _, s := range sites {
			if s != site {
				return false
			}
		}
		return len(sites) == 2
	}
	e.eventually("both pods in de", time.Minute, func() bool { return inOnly("de") })

	e.prom.Stop()
	// Stale once the last read is older than the signals' maximum age.
	e.eventually("status says the rebalancer is paused", time.Minute, func() bool {
		st := e.policyStatus("eu").Status.Rebalance
		return st != nil && strings.Contains(st.Message, "live telemetry is stale")
	})
	e.setMode("eu", func(s *placementv1alpha1.PlacementPolicySpec) {
		s.Residency.Allowed.Countries = []placementv1alpha1.CountryCode{"FR"}
	})
	var last *placementv1alpha1.RebalanceStatus
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		last = e.policyStatus("eu").Status.Rebalance
		return last != nil && last.Candidates == 2 && strings.Contains(last.Message, "live telemetry is stale"), nil
	}); err != nil {
		t.Fatalf("status.rebalance %+v: want 2 candidates and a message that telemetry is stale", last)
	}
	start := metricValue(t, "proxima_rebalancer_rounds_total", nil)
	e.eventually("ten more rounds", time.Minute, func() bool {
		return metricValue(t, "proxima_rebalancer_rounds_total", nil) >= start+10
	})
	watch.mu.Lock()
	evicted := len(watch.evictedAge)
	watch.mu.Unlock()
	if evicted != 0 {
		t.Fatalf("%d pods evicted while telemetry was stale", evicted)
	}
	if v := metricValue(t, "proxima_rebalancer_paused", map[string]string{"reason": "telemetry"}); v != 1 {
		t.Errorf("proxima_rebalancer_paused{reason=telemetry} = %v, want 1", v)
	}

	if err := e.prom.Start(); err != nil {
		t.Fatal(err)
	}
	e.eventually("both pods moved to fr once telemetry is back", 2*time.Minute, func() bool { return inOnly("fr") })
}
