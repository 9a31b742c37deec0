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

// The fault matrix: each row runs a burst of pods under four policies (a
// residency rule, an RTT SLO that rejects stale telemetry, a GPU policy with
// a hardware rule, tiers and a cost cap, and a plain cost-led policy) while a
// fault happens (to the live telemetry, kube-apiserver, the leading
// scheduler replica or the rules themselves), then judges every pod with an
// independent checker (judge, below) that reads Sites, TrafficSources,
// PlacementPolicies, Nodes and Pods from the apiserver and never asks the
// scheduler: every bound pod must sit on a node whose labels meet the
// policy's hardware rule, in a Site its residency (allowed and denied
// countries and jurisdictions) and tiers allow, within the policy's max RTT
// by the TrafficSources' declared RTTs and under its cost cap by the Site's
// declared prices × the pod's requests (GPUs per amd.com/gpu and
// nvidia.com/gpu); every pod must be bound exactly once (one Scheduled
// event) or reported unschedulable with a reason (PodScheduled=False or a
// FailedScheduling event); none may be lost.
//
// The test world declares an RTT for every (source, site) pair, so no
// estimate from distance is involved, and every live value the exporter
// serves that is in range is at least the declared one (RTTs equal, price
// multipliers 1): the live signals can only make the scheduler stricter than
// the declared values the checker uses, so a binding the checker refuses is
// a real violation. Out-of-range values (row garbage-values) must be
// dropped, never used.
//
// Rows (each a fresh control plane; 42 pods: 12 residency, 12 RTT SLO,
// 12 GPU, 4 cost-led, and 2 over the cost cap at every site, which must be
// reported unschedulable). Three runs on a 2-core machine, each row
// 9–25 s:
//
//	row                          test                         pods  bound  unschedulable  violations  lost
//	prometheus-down-at-start     TestFaultMatrix                42     40              2           0     0
//	prometheus-killed-mid-burst  TestFaultMatrix                42     40              2           0     0
//	series-disappears            TestFaultMatrix                42     40              2           0     0
//	garbage-values               TestFaultMatrix                42     40              2           0     0
//	apiserver-killed-mid-burst   TestFaultMatrix                42     40              2           0     0
//	policy-churn                 TestFaultMatrixPolicyChurn     42     35              7           0     0
//	leader-killed-mid-burst      TestFaultMatrixLeaderKilled    42     40              2           0     0
//
// In policy-churn the 5 amd.com/gpu pods are unschedulable by design (their
// only site is deleted); its probes are judged one by one as they bind.
// The leader-killed row runs two replicas of the installed binary, whose
// configuration reads no telemetry.
//
// The node-credential row is TestNodeCannotChooseItsSite
// (noderestriction_test.go), on kube-apiserver with NodeRestriction and the
// Node authorizer: a node's own credential is refused the site label, and a
// DE-only pod never lands on a node that named its own site with the legacy
// label.
//
// TestFaultCheckerCatchesViolations shows the checker refusing a binding
// that breaks each rule, so that the zeros above mean something.

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/test/harness"
)

// settleTimeout guards each wait for the burst to settle against a hang.
const settleTimeout = 2 * time.Minute

const gpuPresentLabel = "gpu.present"

// faultWorld is the test world of one row.
type faultWorld struct {
	*env
	exp  *harness.Exporter
	prom *harness.Prometheus
	pods []*v1.Pod
	// infeasible are the pods no site can take.
	infeasible map[string]bool
	// hold, when set, creates the burst's pods with holdGate.
	hold bool
}

// holdGate holds a burst while the policy-churn row changes the rules.
const holdGate = "faultmatrix.proxima.dev/hold"

// faultRTTs are the declared RTTs from the one TrafficSource, users, to every
// site; the exporter serves the same values live.
var faultRTTs = map[string]int32{"de": 10, "fr": 20, "nl": 30, "ch": 5, "us": 90, "eg": 8}

func newFaultWorld(t *testing.T) *faultWorld { return newFaultWorldOn(t, newEnv(t)) }

// newFaultWorldOn builds the test world on e's control plane.
func newFaultWorldOn(t *testing.T, e *env) *faultWorld {
	w := &faultWorld{env: e, infeasible: map[string]bool{}}
	w.exp = harness.StartExporter(t)
	w.prom = harness.StartPrometheus(t, w.exp)
	gpu := map[string]string{gpuPresentLabel: "true"}
	nvidia := map[v1.ResourceName]string{"nvidia.com/gpu": "4"}
	amd := map[v1.ResourceName]string{"amd.com/gpu": "4"}
	for _, s := range []siteSpec{
		{name: "de", country: "DE", tags: []string{"EU"}, tier: placementv1alpha1.TierEdge, cpuPrice: "0.05"},
		{name: "fr", country: "FR", tags: []string{"EU"}, tier: placementv1alpha1.TierRegional, cpuPrice: "0.03", gpuPrice: "1.5", nodeLabels: gpu, extended: nvidia},
		{name: "nl", country: "NL", tags: []string{"EU"}, tier: placementv1alpha1.TierRegional, cpuPrice: "0.02", gpuPrice: "0.8", nodeLabels: gpu, extended: nvidia},
		{name: "ch", country: "CH", tier: placementv1alpha1.TierEdge, cpuPrice: "0.01"},
		{name: "us", country: "US", tier: placementv1alpha1.TierCloud, cpuPrice: "0.02", gpuPrice: "0.5", nodeLabels: gpu, extended: amd},
		{name: "eg", country: "DE", tags: []string{"EU"}, tier: placementv1alpha1.TierEdge, cpuPrice: "0.04", gpuPrice: "0.1", nodeLabels: gpu, extended: nvidia},
	} {
		s.nodes = 2
		w.site(s)
		w.exp.Up.WithLabelValues(s.name).Set(1)
		w.exp.Price.WithLabelValues(s.name).Set(1)
		w.exp.RTT.WithLabelValues("users", s.name).Set(float64(faultRTTs[s.name]) / 1000)
		for i := range s.nodes {
			w.exp.NodeUtilization.WithLabelValues(fmt.Sprintf("%s-%d:9100", s.name, i)).Set(0.1)
		}
	}
	w.source("users", faultRTTs)

	// resident: EU but not NL, led by cost towards the cheap sites it may
	// not use (ch, nl).
	resident := *costPolicy.DeepCopy()
	resident.Residency = &placementv1alpha1.Residency{
		Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}},
		Denied:  &placementv1alpha1.Areas{Countries: []string{"NL"}},
	}
	w.policy("resident", resident)
	// slo: at most 25 ms from users, rejecting stale RTT and health, led
	// by cost towards nl and us, which are too far.
	slo := *costPolicy.DeepCopy()
	slo.Latency = &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, MaxRTTMilliseconds: ptr.To[int32](25)}
	slo.Telemetry = rejectStale(true)
	w.policy("slo", slo)
	// gpu: GPU nodes in Regional or Cloud sites under 1/h, led by latency
	// towards eg (Edge) and fr (1.5/h per GPU).
	gpuSpec := latencyPolicy("users")
	gpuSpec.Hardware = &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{
		{Key: gpuPresentLabel, Operator: "In", Values: []placementv1alpha1.LabelValue{"true"}}}}
	gpuSpec.Tiers = []placementv1alpha1.SiteTier{placementv1alpha1.TierRegional, placementv1alpha1.TierCloud}
	gpuSpec.Cost = &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("1")}
	w.policy("gpu", gpuSpec)
	w.policy("cheap", costPolicy)
	return w
}

func (w *faultWorld) startScheduler() {
	harness.StartScheduler(w.t, w.cp, telemetryConfig(w.t, w.prom.URL))
}

// burst creates the row's pods from index from up to (not including) to,
// out of 42: they cycle through the policies so that each part of a burst
// has some of each.
func (w *faultWorld) burst(from, to int) {
	w.t.Helper()
	for i := from; i < to; i++ {
		name := fmt.Sprintf("p%02d", i)
		p := st.MakePod().Namespace(w.ns).Name(name).SchedulerName(proximaScheduler)
		req := map[v1.ResourceName]string{v1.ResourceCPU: "100m"}
		switch {
		case i >= 40: // two GPUs: 1.6/h at nl, 3/h at fr, over the cap
			p = p.Label(placementv1alpha1.PolicyLabel, "gpu")
			req["nvidia.com/gpu"] = "2"
			w.infeasible[name] = true
		case i%10 == 9:
			p = p.Label(placementv1alpha1.PolicyLabel, "cheap")
		default:
			switch i % 3 {
			case 0:
				p = p.Label(placementv1alpha1.PolicyLabel, "resident")
			case 1:
				p = p.Label(placementv1alpha1.PolicyLabel, "slo")
			case 2:
				p = p.Label(placementv1alpha1.PolicyLabel, "gpu")
				if i%2 == 0 {
					req["nvidia.com/gpu"] = "1"
				} else {
					req["amd.com/gpu"] = "1"
				}
			}
		}
		if w.hold {
			p = p.SchedulingGates([]string{holdGate})
		}
		w.pods = append(w.pods, createPod(w.t, w.cp.Client, p.Res(req).Obj()))
	}
}

const burstSize = 42

// unschedulable returns the PodScheduled=False message of a pod, or "".
func unschedulable(p *v1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Message != "" {
			return c.Reason + ": " + c.Message
		}
	}
	return ""
}

// waitPods waits until done holds for every pod of the row, reading them
// from the apiserver.
func (w *faultWorld) waitPods(what string, done func(p *v1.Pod) bool) {
	w.t.Helper()
	var pending []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, settleTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := w.cp.Client.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		byName := map[string]*v1.Pod{}
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		pending = pending[:0]
		for _, p := range w.pods {
			if q := byName[p.Name]; q == nil || !done(q) {
				pending = append(pending, p.Name)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		w.t.Fatalf("%s: still waiting for %v", what, pending)
	}
}

// settle waits until every feasible pod is bound and every infeasible one
// has been reported unschedulable, then judges the row.
func (w *faultWorld) settle() {
	w.t.Helper()
	w.waitPods("settling", func(p *v1.Pod) bool {
		if w.infeasible[p.Name] {
			return unschedulable(p) != ""
		}
		return p.Spec.NodeName != ""
	})
	v := judge(w.t, w.env, w.pods)
	for _, msg := range v.violations {
		w.t.Errorf("violation: %s", msg)
	}
	for _, msg := range v.lost {
		w.t.Errorf("lost: %s", msg)
	}
	w.t.Logf("%d pods: %d bound, %d unschedulable, %d violations, %d lost", len(w.pods), v.bound, v.unschedulable, len(v.violations), len(v.lost))
	for name := range w.infeasible {
		if !slices.Contains(v.unschedulableNames, name) {
			w.t.Errorf("pod %s is over the cost cap at every site, yet was not reported unschedulable", name)
		}
	}
}

type verdict struct {
	bound, unschedulable int
	unschedulableNames   []string
	violations, lost     []string
}

// judge checks every pod against the hard rules computed from the API
// objects alone.
func judge(t *testing.T, e *env, want []*v1.Pod) verdict {
	t.Helper()
	ctx := context.Background()
	sites, err := e.pc.PlacementV1alpha1().Sites().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	siteByName := map[string]*placementv1alpha1.Site{}
	for i := range sites.Items {
		siteByName[sites.Items[i].Name] = &sites.Items[i]
	}
	sources, err := e.pc.PlacementV1alpha1().TrafficSources().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	declared := map[[2]string]int32{}
	for _, s := range sources.Items {
		for _, r := range s.Spec.RTTs {
			declared[[2]string{s.Name, r.Site}] = r.Milliseconds
		}
	}
	policies, err := e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	policyByName := map[string]*placementv1alpha1.PlacementPolicy{}
	for i := range policies.Items {
		policyByName[policies.Items[i].Name] = &policies.Items[i]
	}
	nodes, err := e.cp.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeByName := map[string]*v1.Node{}
	for i := range nodes.Items {
		nodeByName[nodes.Items[i].Name] = &nodes.Items[i]
	}
	pods, err := e.cp.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podByName := map[string]*v1.Pod{}
	for i := range pods.Items {
		podByName[pods.Items[i].Name] = &pods.Items[i]
	}

	var v verdict
	for _, w := range want {
		p := podByName[w.Name]
		if p == nil {
			v.lost = append(v.lost, fmt.Sprintf("pod %s is gone", w.Name))
			continue
		}
		events := podEvents(t, e.cp.Client, p)
		scheduled, failed := 0, ""
		for _, ev := range events {
			switch ev.Reason {
			case "Scheduled":
				scheduled++
			case "FailedScheduling":
				failed = ev.Message
			}
		}
		if p.Spec.NodeName == "" {
			if reason := unschedulable(p); reason != "" || failed != "" {
				v.unschedulable++
				v.unschedulableNames = append(v.unschedulableNames, p.Name)
			} else {
				v.lost = append(v.lost, fmt.Sprintf("pod %s is neither bound nor reported unschedulable (events: %v)", p.Name, events))
			}
			continue
		}
		v.bound++
		if scheduled > 1 {
			v.violations = append(v.violations, fmt.Sprintf("pod %s was scheduled %d times (events: %v)", p.Name, scheduled, events))
		}
		for _, msg := range breaches(p, policyByName[p.Labels[placementv1alpha1.PolicyLabel]], nodeByName[p.Spec.NodeName], siteByName, declared) {
			v.violations = append(v.violations, fmt.Sprintf("pod %s on %s: %s", p.Name, p.Spec.NodeName, msg))
		}
	}
	return v
}

// breaches lists the hard rules of the policy that the pod's binding to
// node breaks.
func breaches(p *v1.Pod, policy *placementv1alpha1.PlacementPolicy, node *v1.Node, sites map[string]*placementv1alpha1.Site, declared map[[2]string]int32) []string {
	if policy == nil {
		if name := p.Labels[placementv1alpha1.PolicyLabel]; name != "" {
			return []string{fmt.Sprintf("bound while its policy %s does not exist", name)}
		}
		return nil
	}
	if node == nil {
		return []string{"bound to a node that does not exist"}
	}
	siteName := node.Labels[placementv1alpha1.SiteLabel]
	site := sites[siteName]
	if site == nil {
		return []string{fmt.Sprintf("bound to a node in site %q, which does not exist", siteName)}
	}
	spec, s := policy.Spec, site.Spec
	var out []string
	inArea := func(a *placementv1alpha1.Areas) bool {
		if slices.Contains(a.Countries, s.Country) {
			return true
		}
		for _, j := range s.Jurisdictions {
			if slices.Contains(a.Jurisdictions, j) {
				return true
			}
		}
		return false
	}
	if r := spec.Residency; r != nil {
		if r.Allowed != nil && !inArea(r.Allowed) {
			out = append(out, fmt.Sprintf("site %s (%s, %v) is not in the allowed %+v", siteName, s.Country, s.Jurisdictions, *r.Allowed))
		}
		if r.Denied != nil && inArea(r.Denied) {
			out = append(out, fmt.Sprintf("site %s (%s, %v) is in the denied %+v", siteName, s.Country, s.Jurisdictions, *r.Denied))
		}
	}
	if len(spec.Tiers) > 0 && !slices.Contains(spec.Tiers, s.Tier) {
		out = append(out, fmt.Sprintf("site %s is %s, not one of the tiers %v", siteName, s.Tier, spec.Tiers))
	}
	if hw := spec.Hardware; hw != nil {
		for _, req := range hw.NodeSelector {
			if !nodeMeets(node.Labels, req) {
				out = append(out, fmt.Sprintf("node labels %v do not meet %+v", node.Labels, req))
			}
		}
	}
	if l := spec.Latency; l != nil && l.MaxRTTMilliseconds != nil {
		for _, src := range l.Sources {
			ms, ok := declared[[2]string{src.Name, siteName}]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("no declared RTT from %s to %s in the test world", src.Name, siteName))
			case ms > *l.MaxRTTMilliseconds:
				out = append(out, fmt.Sprintf("declared RTT from %s to %s is %d ms, over the bound %d ms", src.Name, siteName, ms, *l.MaxRTTMilliseconds))
			}
		}
	}
	if c := spec.Cost; c != nil {
		hourly := podHourly(p, s.Pricing)
		if max := c.MaxHourly.AsApproximateFloat64(); hourly > max+1e-9 {
			out = append(out, fmt.Sprintf("costs %.4f/h at %s, over the cap %.4f/h", hourly, siteName, max))
		}
	}
	return out
}

// podHourly prices the pod's requests (its containers' and init containers'
// requests; the test pods have no overhead or pod-level resources) at the
// Site's declared prices.
func podHourly(p *v1.Pod, pricing *placementv1alpha1.SitePricing) float64 {
	if pricing == nil {
		return 0
	}
	var cpu, mem, gpus float64
	add := func(rl v1.ResourceList, into func(float64, float64, float64) (float64, float64, float64)) {
		c, m, g := 0.0, 0.0, 0.0
		for name, q := range rl {
			switch name {
			case v1.ResourceCPU:
				c = q.AsApproximateFloat64()
			case v1.ResourceMemory:
				m = q.AsApproximateFloat64() / (1 << 30)
			case "nvidia.com/gpu", "amd.com/gpu":
				g += q.AsApproximateFloat64()
			}
		}
		cpu, mem, gpus = into(c, m, g)
	}
	for _, c := range p.Spec.Containers {
		add(c.Resources.Requests, func(c, m, g float64) (float64, float64, float64) { return cpu + c, mem + m, gpus + g })
	}
	for _, c := range p.Spec.InitContainers {
		add(c.Resources.Requests, func(c, m, g float64) (float64, float64, float64) {
			return math.Max(cpu, c), math.Max(mem, m), math.Max(gpus, g)
		})
	}
	price := func(q *resource.Quantity) float64 {
		if q == nil {
			return 0
		}
		return q.AsApproximateFloat64()
	}
	return cpu*price(pricing.CPUCoreHour) + mem*price(pricing.MemoryGiBHour) + gpus*price(pricing.GPUHour)
}

// nodeMeets reports whether labels meet one hardware requirement.
func nodeMeets(labels map[string]string, req placementv1alpha1.NodeRequirement) bool {
	val, has := labels[string(req.Key)]
	values := make([]string, 0, len(req.Values))
	for _, v := range req.Values {
		values = append(values, string(v))
	}
	num := func(s string) (float64, bool) {
		var f float64
		_, err := fmt.Sscan(s, &f)
		return f, err == nil
	}
	switch string(req.Operator) {
	case "In":
		return has && slices.Contains(values, val)
	case "NotIn":
		return !has || !slices.Contains(values, val)
	case "Exists":
		return has
	case "DoesNotExist":
		return !has
	case "Gt", "Lt":
		if !has || len(values) != 1 {
			return false
		}
		a, ok1 := num(val)
		b, ok2 := num(values[0])
		if !ok1 || !ok2 {
			return false
		}
		if req.Operator == "Gt" {
			return a > b
		}
		return a < b
	}
	return false
}

func (w *faultWorld) podsOf(policy string) []*v1.Pod {
	var out []*v1.Pod
	for _, p := range w.pods {
		if p.Labels[placementv1alpha1.PolicyLabel] == policy {
			out = append(out, p)
		}
	}
	return out
}

func TestFaultMatrix(t *testing.T) {
	t.Run("prometheus-down-at-start", func(t *testing.T) {
		w := newFaultWorld(t)
		w.prom.Stop()
		w.startScheduler()
		w.burst(0, burstSize)
		// Without a single read, the SLO's pods (onStale Reject) wait with
		// the reason, unbound; the others place on declared values.
		w.waitPods("outage", func(p *v1.Pod) bool {
			switch {
			case p.Labels[placementv1alpha1.PolicyLabel] == "slo":
				return unschedulable(p) != ""
			case w.infeasible[p.Name]:
				return unschedulable(p) != ""
			}
			return p.Spec.NodeName != ""
		})
		for _, p := range w.podsOf("slo") {
			q, err := w.cp.Client.CoreV1().Pods(w.ns).Get(context.Background(), p.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if q.Spec.NodeName != "" {
				t.Errorf("with no telemetry read yet, SLO pod %s (onStale Reject) was bound to %s", p.Name, q.Spec.NodeName)
			} else if msg := unschedulable(q); !strings.Contains(msg, scoring.ReasonStale.String()) {
				t.Errorf("SLO pod %s waits with %q, want %q", p.Name, msg, scoring.ReasonStale)
			}
		}
		if err := w.prom.Start(); err != nil {
			t.Fatal(err)
		}
		w.settle()
	})

	t.Run("prometheus-killed-mid-burst", func(t *testing.T) {
		w := newFaultWorld(t)
		w.startScheduler()
		w.burst(0, burstSize/3)
		w.prom.Stop()
		w.burst(burstSize/3, 2*burstSize/3)
		// Outlast the signals' 6 s maximum age, so that the last third
		// meets stale telemetry, then bring Prometheus back.
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, settleTimeout, true, func(context.Context) (bool, error) {
			return metricValue(t, "proxima_telemetry_stale", map[string]string{"signal": "rtt"}) == 1, nil
		}); err != nil {
			t.Fatal("the RTT signal did not go stale with Prometheus down")
		}
		w.burst(2*burstSize/3, burstSize)
		if err := w.prom.Start(); err != nil {
			t.Fatal(err)
		}
		w.settle()
	})

	t.Run("series-disappears", func(t *testing.T) {
		w := newFaultWorld(t)
		w.startScheduler()
		w.burst(0, burstSize/2)
		// ch's RTT and de's health vanish: the SLO (Reject) may use only fr.
		w.exp.RTT.DeleteLabelValues("users", "ch")
		w.exp.Up.DeleteLabelValues("de")
		w.exp.Price.DeleteLabelValues("nl")
		w.burst(burstSize/2, burstSize)
		w.settle()
	})

	t.Run("garbage-values", func(t *testing.T) {
		w := newFaultWorld(t)
		w.startScheduler()
		w.burst(0, burstSize/2)
		// Out-of-range values must be dropped: a negative price
		// multiplier taken at face value would bring fr's GPU under the
		// cap, a negative RTT would bring nl and us under the SLO.
		w.exp.RTT.WithLabelValues("users", "nl").Set(-0.01)
		w.exp.RTT.WithLabelValues("users", "us").Set(math.NaN())
		w.exp.RTT.WithLabelValues("users", "ch").Set(math.Inf(1))
		w.exp.RTT.WithLabelValues("users", "de").Set(1e9)
		w.exp.Price.WithLabelValues("fr").Set(-1)
		w.exp.Price.WithLabelValues("nl").Set(math.NaN())
		w.exp.Price.WithLabelValues("us").Set(1e6)
		w.exp.Up.WithLabelValues("eg").Set(math.NaN())
		w.exp.NodeUtilization.WithLabelValues("nl-0:9100").Set(-3)
		w.burst(burstSize/2, burstSize)
		w.settle()
	})

	t.Run("apiserver-killed-mid-burst", func(t *testing.T) {
		w := newFaultWorld(t)
		w.startScheduler()
		w.burst(0, burstSize/2)
		// A crash: binding calls under way fail or complete; the
		// scheduler's watches reconnect to the new kube-apiserver over
		// the same etcd.
		if err := w.cp.KillAPIServer(); err != nil {
			t.Fatal(err)
		}
		w.burst(burstSize/2, burstSize)
		w.settle()
	})
}

// probe shows that the scheduler has observed a change: it creates a pod
// outside the burst and waits until the scheduler has bound it where want
// says (bind) or reported it unschedulable (!bind). A probe placed
// otherwise was judged just before the change arrived, which is allowed:
// it is deleted, not judged, and another is tried. The probe that shows the
// change is judged at once, against the rules then in force, and deleted.
// It returns that probe's node.
func (w *faultWorld) probe(name, policy string, req map[v1.ResourceName]string, nodeSelector map[string]string, bind bool, want func(node string) bool) string {
	w.t.Helper()
	ctx := context.Background()
	for attempt := range 5 {
		podName := fmt.Sprintf("%s-%d", name, attempt)
		pw := st.MakePod().Namespace(w.ns).Name(podName).SchedulerName(proximaScheduler).
			Label(placementv1alpha1.PolicyLabel, policy).Res(req)
		if nodeSelector != nil {
			pw = pw.NodeSelector(nodeSelector)
		}
		p := createPod(w.t, w.cp.Client, pw.Obj())
		var got *v1.Pod
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, settleTimeout, true, func(ctx context.Context) (bool, error) {
			q, err := w.cp.Client.CoreV1().Pods(w.ns).Get(ctx, podName, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			got = q
			if bind {
				return q.Spec.NodeName != "", nil
			}
			return q.Spec.NodeName != "" || unschedulable(q) != "", nil
		}); err != nil {
			w.t.Fatalf("probe %s was not placed (events: %v)", podName, podEvents(w.t, w.cp.Client, p))
		}
		shown := bind == (got.Spec.NodeName != "") && (!bind || want(got.Spec.NodeName))
		if shown {
			// Judged against the rules in force now, then deleted: the
			// next change may outlaw its place.
			v := judge(w.t, w.env, []*v1.Pod{p})
			for _, msg := range append(v.violations, v.lost...) {
				w.t.Errorf("probe: %s", msg)
			}
		} else {
			w.t.Logf("probe %s placed on %q before the change arrived; trying again", podName, got.Spec.NodeName)
		}
		if err := w.cp.Client.CoreV1().Pods(w.ns).Delete(ctx, podName, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			w.t.Fatal(err)
		}
		if shown {
			return got.Spec.NodeName
		}
		// The next probe starts once this one is gone, so it cannot
		// count this one's place against the world it is meant to show.
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, settleTimeout, true, func(ctx context.Context) (bool, error) {
			_, err := w.cp.Client.CoreV1().Pods(w.ns).Get(ctx, podName, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			w.t.Fatalf("probe %s was not deleted: %v", podName, err)
		}
	}
	w.t.Fatalf("probe %s: five tries, none placed as the change requires", name)
	return ""
}

// siteOfNode returns the site label of a node, from the apiserver.
func (w *faultWorld) siteOfNode(name string) string {
	w.t.Helper()
	n, err := w.cp.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return n.Labels[placementv1alpha1.SiteLabel]
}

// release removes holdGate from every held pod.
func (w *faultWorld) release() {
	w.t.Helper()
	ctx := context.Background()
	for _, p := range w.pods {
		q, err := w.cp.Client.CoreV1().Pods(w.ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
		gates := slices.DeleteFunc(slices.Clone(q.Spec.SchedulingGates), func(g v1.PodSchedulingGate) bool { return g.Name == holdGate })
		if len(gates) == len(q.Spec.SchedulingGates) {
			continue
		}
		q.Spec.SchedulingGates = gates
		if _, err := w.cp.Client.CoreV1().Pods(w.ns).Update(ctx, q, metav1.UpdateOptions{}); err != nil {
			w.t.Fatalf("releasing %s: %v", p.Name, err)
		}
	}
}

// TestFaultMatrixPolicyChurn changes the rules while a burst is pending:
// a policy's residency narrowed, a Site's country changed, a policy deleted
// and re-created with other rules, a node relabelled into another site by
// an admin, and a Site deleted. The scheduler acts on its informer view, so
// a pod bound just after a change may rightly have been judged against the
// rules just before it; to judge every binding against the rules in force
// when it was made, the burst is held by a scheduling gate until each change
// has been applied and the scheduler has demonstrably observed it (a probe
// pod whose placement depends on the change has been placed accordingly),
// then released at once, and the rules do not change again. This covers
// pods pending in the queue and the scheduler's caches across every kind of
// change; it does not cover a change racing a scheduling cycle already under
// way.
func TestFaultMatrixPolicyChurn(t *testing.T) {
	w := newFaultWorld(t)
	w.hold = true
	w.startScheduler()
	w.burst(0, burstSize)
	ctx := context.Background()
	cpu := map[v1.ResourceName]string{v1.ResourceCPU: "100m"}
	policies := w.pc.PlacementV1alpha1().PlacementPolicies(w.ns)

	// Before any change: cost-led EU-but-not-NL pods go to fr (0.03/h).
	inSite := func(site string) func(string) bool {
		return func(node string) bool { return w.siteOfNode(node) == site }
	}
	w.probe("probe-before", "resident", cpu, nil, true, inSite("fr"))

	// 1. Residency narrowed: FR denied too, so eg (0.04/h) is the cheapest.
	resident, err := policies.Get(ctx, "resident", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resident.Spec.Residency.Denied.Countries = []string{"NL", "FR"}
	if _, err := policies.Update(ctx, resident, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.probe("probe-narrowed", "resident", cpu, nil, true, inSite("eg"))

	// 2. ch becomes an EU site (AT): the cheapest the residency allows.
	ch, err := w.pc.PlacementV1alpha1().Sites().Get(ctx, "ch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch.Spec.Country, ch.Spec.Jurisdictions = "AT", []string{"EU"}
	if _, err := w.pc.PlacementV1alpha1().Sites().Update(ctx, ch, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.probe("probe-country", "resident", cpu, nil, true, inSite("ch"))

	// 3. The SLO deleted and re-created for Regional sites only: fr is the
	// one within 25 ms.
	slo, err := policies.Get(ctx, "slo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := policies.Delete(ctx, "slo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	spec := *slo.Spec.DeepCopy()
	spec.Tiers = []placementv1alpha1.SiteTier{placementv1alpha1.TierRegional}
	w.policy("slo", spec)
	w.probe("probe-recreated", "slo", cpu, nil, true, inSite("fr"))

	// 4. An admin moves de-1 into fr (Regional); only a pod judged with the
	// move may land there under the re-created SLO.
	n, err := w.cp.Client.CoreV1().Nodes().Get(ctx, "de-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels[placementv1alpha1.SiteLabel] = "fr"
	n.Labels["faultmatrix.proxima.dev/moved"] = "true"
	if _, err := w.cp.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.probe("probe-moved", "slo", cpu, map[string]string{"faultmatrix.proxima.dev/moved": "true"}, true,
		func(node string) bool { return node == "de-1" })

	// 5. us deleted: its nodes are in no Site, so amd.com/gpu pods, which
	// only us could take, are unschedulable.
	if err := w.pc.PlacementV1alpha1().Sites().Delete(ctx, "us", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.probe("probe-deleted", "gpu", map[v1.ResourceName]string{v1.ResourceCPU: "100m", "amd.com/gpu": "1"}, nil, false, nil)
	for _, p := range w.pods {
		if _, ok := p.Spec.Containers[0].Resources.Requests["amd.com/gpu"]; ok {
			w.infeasible[p.Name] = true
		}
	}

	w.release()
	w.settle()
}

// TestFaultCheckerCatchesViolations feeds the fault matrix's checker
// bindings that break each hard rule, so that its zero counts mean
// something.
func TestFaultCheckerCatchesViolations(t *testing.T) {
	price := func(s string) *resource.Quantity { return ptr.To(resource.MustParse(s)) }
	sites := map[string]*placementv1alpha1.Site{
		"ch": {Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierEdge, Country: "CH"}},
		"nl": {Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierRegional, Country: "NL", Jurisdictions: []string{"EU"},
			Pricing: &placementv1alpha1.SitePricing{CPUCoreHour: price("0.02"), GPUHour: price("0.8")}}},
	}
	declared := map[[2]string]int32{{"users", "ch"}: 5, {"users", "nl"}: 30}
	node := func(site string, labels ...string) *v1.Node {
		n := st.MakeNode().Name(site+"-0").Label(placementv1alpha1.SiteLabel, site).Obj()
		for i := 0; i+1 < len(labels); i += 2 {
			n.Labels[labels[i]] = labels[i+1]
		}
		return n
	}
	pod := func(req map[v1.ResourceName]string) *v1.Pod {
		return st.MakePod().Name("p").Label(placementv1alpha1.PolicyLabel, "x").Res(req).Obj()
	}
	cpu := map[v1.ResourceName]string{v1.ResourceCPU: "100m"}
	for _, c := range []struct {
		name   string
		spec   placementv1alpha1.PlacementPolicySpec
		pod    *v1.Pod
		node   *v1.Node
		breaks bool
	}{
		{"allowed jurisdiction", placementv1alpha1.PlacementPolicySpec{Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}}, pod(cpu), node("ch"), true},
		{"allowed jurisdiction met", placementv1alpha1.PlacementPolicySpec{Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}}, pod(cpu), node("nl"), false},
		{"denied country", placementv1alpha1.PlacementPolicySpec{Residency: &placementv1alpha1.Residency{Denied: &placementv1alpha1.Areas{Countries: []string{"NL"}}}}, pod(cpu), node("nl"), true},
		{"allowed country", placementv1alpha1.PlacementPolicySpec{Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []string{"NL"}}}}, pod(cpu), node("ch"), true},
		{"tier", placementv1alpha1.PlacementPolicySpec{Tiers: []placementv1alpha1.SiteTier{placementv1alpha1.TierCloud}}, pod(cpu), node("nl"), true},
		{"hardware", placementv1alpha1.PlacementPolicySpec{Hardware: &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{
			{Key: gpuPresentLabel, Operator: "In", Values: []placementv1alpha1.LabelValue{"true"}}}}}, pod(cpu), node("nl", gpuPresentLabel, "false"), true},
		{"hardware met", placementv1alpha1.PlacementPolicySpec{Hardware: &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{
			{Key: gpuPresentLabel, Operator: "In", Values: []placementv1alpha1.LabelValue{"true"}}}}}, pod(cpu), node("nl", gpuPresentLabel, "true"), false},
		{"max RTT", placementv1alpha1.PlacementPolicySpec{Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, MaxRTTMilliseconds: ptr.To[int32](25)}}, pod(cpu), node("nl"), true},
		{"max RTT met", placementv1alpha1.PlacementPolicySpec{Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, MaxRTTMilliseconds: ptr.To[int32](25)}}, pod(cpu), node("ch"), false},
		{"cost cap, nvidia", placementv1alpha1.PlacementPolicySpec{Cost: &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("1")}},
			pod(map[v1.ResourceName]string{v1.ResourceCPU: "100m", "nvidia.com/gpu": "2"}), node("nl"), true},
		{"cost cap, amd", placementv1alpha1.PlacementPolicySpec{Cost: &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("1")}},
			pod(map[v1.ResourceName]string{v1.ResourceCPU: "100m", "amd.com/gpu": "2"}), node("nl"), true},
		{"cost cap met", placementv1alpha1.PlacementPolicySpec{Cost: &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("1")}},
			pod(map[v1.ResourceName]string{v1.ResourceCPU: "100m", "amd.com/gpu": "1"}), node("nl"), false},
		{"unknown site", placementv1alpha1.PlacementPolicySpec{}, pod(cpu), node("gone"), true},
	} {
		got := breaches(c.pod, &placementv1alpha1.PlacementPolicy{Spec: c.spec}, c.node, sites, declared)
		if (len(got) > 0) != c.breaks {
			t.Errorf("%s: breaches %v, want a breach: %v", c.name, got, c.breaks)
		}
	}
	if got := breaches(pod(cpu), nil, node("nl"), sites, declared); len(got) == 0 {
		t.Errorf("a pod bound while its policy does not exist: no breach")
	}
}

// TestFaultMatrixLeaderKilled runs the installed scheduler binary twice with
// leader election (as TestLeaderElection does) and kills the leader
// (SIGKILL: it cannot release the Lease) mid-burst: the other takes over
// once the Lease expires, and the burst is judged as in TestFaultMatrix.
// The installed configuration reads no telemetry, so the SLO's onStale
// Reject has nothing to reject here.
func TestFaultMatrixLeaderKilled(t *testing.T) {
	cp, configPath, kubeconfig, bin := installed(t, renderInstall(t))
	procs := []*process{
		startScheduler(t, bin, configPath, kubeconfig, "scheduler-a"),
		startScheduler(t, bin, configPath, kubeconfig, "scheduler-b"),
	}
	e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "ha")}
	w := newFaultWorldOn(t, e)
	leader := -1
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, settleTimeout, true, func(context.Context) (bool, error) {
		for i, p := range procs {
			if acquiredLease(p.logText(t)) {
				leader = i
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatal("no scheduler acquired the lease")
	}
	w.burst(0, burstSize/2)
	// Mid-burst, once the leader has bound some pods.
	w.waitPods("the leader's first bindings", func(p *v1.Pod) bool {
		return p.Name != "p00" || p.Spec.NodeName != ""
	})
	if err := procs[leader].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = procs[leader].cmd.Wait()
	w.burst(burstSize/2, burstSize)
	w.settle()
	if n := strings.Count(procs[1-leader].logText(t), "Successfully bound pod"); n == 0 {
		t.Errorf("the surviving replica bound no pod after the leader was killed")
	}
}
