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

package rebalance

import (
	"cmp"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// world: sites ber (DE, EU, 10 ms), par (FR, EU, 25 ms), zrh (CH, 5 ms),
// one 2-CPU node each; the policy eu allows the EU, latency-led.
type world struct {
	rtt      map[string]int32
	policy   *placementv1alpha1.PlacementPolicy
	pods     []*v1.Pod
	live     *state.Live
	noSite   string // a Site deleted (its node stays labelled)
	hwPolicy bool
	// autonomous is a node marked as a KubeEdge edge node.
	autonomous string
	// undeclared is a site the source declares no RTT to.
	undeclared string
	// prices are per-site CPU core prices (default 0.05).
	prices map[string]string
}

func (wd world) build() *simulate.World {
	rtt := map[string]int32{"ber": 10, "par": 25, "zrh": 5}
	for k, v := range wd.rtt {
		rtt[k] = v
	}
	var sites []*placementv1alpha1.Site
	var nodes []*v1.Node
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}}
	for _, s := range []struct{ name, country, tag string }{{"ber", "DE", "EU"}, {"par", "FR", "EU"}, {"zrh", "CH", ""}} {
		site := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: s.name}, Spec: placementv1alpha1.SiteSpec{
			Tier: placementv1alpha1.TierEdge, Country: s.country,
			Pricing: &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(cmp.Or(wd.prices[s.name], "0.05")))}}}
		if s.tag != "" {
			site.Spec.Jurisdictions = []string{s.tag}
		}
		if s.name != wd.noSite {
			sites = append(sites, site)
		}
		if s.name != wd.undeclared {
			src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: s.name, Milliseconds: rtt[s.name]})
		}
		node := st.MakeNode().Name(s.name+"-0").Label(placementv1alpha1.SiteLabel, s.name).Label("gpu", "true").
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "2", v1.ResourceMemory: "8Gi", v1.ResourcePods: "110"}).Obj()
		if node.Name == wd.autonomous {
			node.Labels[KubeEdgeEdgeNodeLabel] = ""
		}
		nodes = append(nodes, node)
	}
	policy := wd.policy
	if policy == nil {
		policy = euPolicy()
	}
	return simulate.NewWorld(sites, []*placementv1alpha1.TrafficSource{src}, []*placementv1alpha1.PlacementPolicy{policy}, nodes, wd.pods,
		simulate.Settings{Live: wd.live})
}

func euPolicy() *placementv1alpha1.PlacementPolicy {
	return &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "eu", Namespace: "shop"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}},
		Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}},
		Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
	}}
}

func maxRTT(ms int32) *placementv1alpha1.PlacementPolicy {
	p := euPolicy()
	p.Spec.Latency.MaxRTTMilliseconds = ptr.To(ms)
	return p
}

func pod(name, node, cpu string) *v1.Pod {
	p := st.MakePod().Namespace("shop").Name(name).UID(name).Label(placementv1alpha1.PolicyLabel, "eu").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: cpu}).Node(node).Obj()
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs", Controller: ptr.To(true)}}
	return p
}

func TestJudge(t *testing.T) {
	th := Thresholds{MinRTTGain: 5}
	narrowed := euPolicy()
	narrowed.Spec.Residency.Allowed = &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"FR"}}
	hardware := euPolicy()
	hardware.Spec.Hardware = &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{
		{Key: "accelerator", Operator: placementv1alpha1.NodeOperator(v1.NodeSelectorOpExists)}}}
	for _, tc := range []struct {
		name     string
		world    world
		pod      *v1.Pod
		th       Thresholds
		want     Kind
		to       string
		contains string
		guards   Guards
		hold     Hold // should move, but a do-no-harm rule keeps it
	}{{
		name: "best site: stays", pod: pod("a", "ber-0", "1"), th: th,
	}, {
		name: "par, ber 15 ms better: moves", pod: pod("a", "par-0", "1"), th: th, want: BetterSite, to: "ber", contains: "latency objective 10 vs 25 ms",
	}, {
		name: "par, ber better by less than the threshold: stays", pod: pod("a", "par-0", "1"), th: Thresholds{MinRTTGain: 20},
	}, {
		name: "par, ber better but full: stays", pod: pod("a", "par-0", "1"), th: th,
		world: world{pods: []*v1.Pod{pod("x", "ber-0", "2")}},
	}, {
		name: "residency narrowed to FR: ber breaks it", pod: pod("a", "ber-0", "1"), th: th,
		world: world{policy: narrowed}, want: HardRule, to: "par", contains: "residency",
	}, {
		name: "residency narrowed but par full: nowhere to go, stays", pod: pod("a", "ber-0", "1"), th: th,
		world: world{policy: narrowed, pods: []*v1.Pod{pod("x", "par-0", "2")}}, hold: HoldNoRoom, contains: "residency",
	}, {
		name: "Site deleted", pod: pod("a", "ber-0", "1"), th: th, world: world{noSite: "ber"}, want: HardRule, to: "par", contains: "no longer exists",
	}, {
		name: "node lacks the hardware rule's label: nowhere else has it either, stays", pod: pod("a", "ber-0", "1"), th: th,
		world: world{policy: hardware}, hold: HoldNoRoom, contains: "hardware rule",
	}, {
		name: "site unhealthy (live)", pod: pod("a", "ber-0", "1"), th: th, want: HardRule, to: "par", contains: "site unhealthy",
		world: world{live: &state.Live{Health: state.Signal[string, bool]{Enabled: true, Fresh: true, Values: map[string]bool{"ber": false, "par": true, "zrh": true}}}},
	}, {
		name: "site unhealthy (live), node autonomous (KubeEdge): kept by default", pod: pod("a", "ber-0", "1"), th: th,
		world: world{autonomous: "ber-0", live: &state.Live{Health: state.Signal[string, bool]{Enabled: true, Fresh: true,
			Values: map[string]bool{"ber": false, "par": true, "zrh": true}}}}, hold: HoldAutonomous, contains: "KubeEdge",
	}, {
		name: "site unhealthy (live), node autonomous, onUnhealthySite Move: moves", pod: pod("a", "ber-0", "1"), th: th,
		guards: Guards{OnUnhealthySite: placementv1alpha1.UnhealthySiteMove}, want: HardRule, to: "par", contains: "site unhealthy",
		world: world{autonomous: "ber-0", live: &state.Live{Health: state.Signal[string, bool]{Enabled: true, Fresh: true,
			Values: map[string]bool{"ber": false, "par": true, "zrh": true}}}},
	}, {
		name: "site unhealthy (live), onUnhealthySite Keep: kept", pod: pod("a", "ber-0", "1"), th: th,
		guards: Guards{OnUnhealthySite: placementv1alpha1.UnhealthySiteKeep}, hold: HoldAutonomous,
		world: world{live: &state.Live{Health: state.Signal[string, bool]{Enabled: true, Fresh: true,
			Values: map[string]bool{"ber": false, "par": true, "zrh": true}}}},
	}, {
		name: "max RTT broken by a fresh live RTT: moves", pod: pod("a", "ber-0", "1"), th: th, want: HardRule, to: "par", contains: "max RTT",
		world: world{policy: maxRTT(30), live: &state.Live{RTT: state.Signal[state.SourceSite, float64]{Enabled: true, Fresh: true,
			Values: map[state.SourceSite]float64{{Source: "users", Site: "ber"}: 45, {Source: "users", Site: "par"}: 25, {Source: "users", Site: "zrh"}: 5}}}},
	}, {
		name: "max RTT fails only because ber's live series vanished: held", pod: pod("a", "ber-0", "1"), th: th, hold: HoldUnproven, contains: "max RTT",
		world: world{policy: maxRTT(30), undeclared: "ber", live: &state.Live{RTT: state.Signal[state.SourceSite, float64]{Enabled: true, Fresh: true,
			Values: map[state.SourceSite]float64{{Source: "users", Site: "par"}: 25, {Source: "users", Site: "zrh"}: 5}}}},
	}, {
		name: "a better site, but the pod's volume binds it here: held", pod: pod("a", "par-0", "1"), th: th, hold: HoldVolume, contains: "only where it is",
		guards: Guards{Volumes: func(_ *v1.Pod, node string) string {
			if node != "par-0" {
				return "its volume data is reachable only from nodes that node " + node + " is not among, so its replacement could run only where it is"
			}
			return ""
		}},
	}, {
		name: "live RTT read but no series for any pair (never probed): compares declared, moves", pod: pod("a", "par-0", "1"), th: th,
		want: BetterSite, to: "ber", world: world{live: &state.Live{RTT: state.Signal[state.SourceSite, float64]{Enabled: true, Fresh: true,
			Values: map[state.SourceSite]float64{}}}},
	}, {
		name: "par's live RTT series vanished, ber's fresh: no better-site move", pod: pod("a", "par-0", "1"), th: th,
		world: world{live: &state.Live{RTT: state.Signal[state.SourceSite, float64]{Enabled: true, Fresh: true,
			Values: map[state.SourceSite]float64{{Source: "users", Site: "ber"}: 10, {Source: "users", Site: "zrh"}: 5}}}},
	}, {
		name: "health stale, policy rejects stale: not judged", pod: pod("a", "ber-0", "1"), th: th,
		world: world{policy: func() *placementv1alpha1.PlacementPolicy {
			p := euPolicy()
			p.Spec.Telemetry = &placementv1alpha1.TelemetryPolicy{OnStale: &placementv1alpha1.StaleActions{Health: placementv1alpha1.Reject}}
			return p
		}(), live: &state.Live{Health: state.Signal[string, bool]{Enabled: true, Fresh: false}}},
	}, {
		name: "no controller is still judged (the caller filters)", pod: st.MakePod().Namespace("shop").Name("b").UID("b").
			Label(placementv1alpha1.PolicyLabel, "eu").Node("par-0").Obj(), th: th, want: BetterSite, to: "ber",
	}, {
		name: "policy missing: not judged", pod: st.MakePod().Namespace("shop").Name("c").UID("c").
			Label(placementv1alpha1.PolicyLabel, "gone").Node("zrh-0").Obj(), th: th,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			wd := tc.world
			wd.pods = append(wd.pods, tc.pod)
			f, ok := Judge(wd.build(), tc.pod, tc.th, tc.guards)
			if tc.want == 0 {
				if ok {
					t.Fatalf("want no finding, got %+v", f)
				}
				if f.Hold != tc.hold || !contains(f.Message, tc.contains) {
					t.Errorf("stays; want hold %q naming %q, got %+v", tc.hold, tc.contains, f)
				}
				return
			}
			if !ok || f.Kind != tc.want || f.To != tc.to {
				t.Fatalf("want %v to %s, got %v (%+v)", tc.want, tc.to, ok, f)
			}
			if !contains(f.Message, tc.contains) {
				t.Errorf("message %q lacks %q", f.Message, tc.contains)
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestSettings(t *testing.T) {
	d := SettingsOf(nil)
	if d.Mode != placementv1alpha1.RebalanceOff || d.Grace != DefaultGrace || d.Dwell != DefaultDwell || d.Cooldown != DefaultCooldown ||
		d.Thresholds.MinRTTGain != DefaultMinRTTGain || d.Thresholds.MinCostGainShare != 0 || d.MaxMoving(50) != 1 {
		t.Errorf("defaults: %+v", d)
	}
	pct := intstr.FromString("10%")
	s := SettingsOf(&placementv1alpha1.RebalancePolicy{Mode: placementv1alpha1.RebalanceOn, GraceSeconds: ptr.To[int32](0),
		MinCostGainPercent: ptr.To[int32](20), MaxMoving: &pct})
	for running, want := range map[int]int{0: 1, 1: 1, 10: 1, 11: 2, 100: 10} {
		if got := s.MaxMoving(running); got != want {
			t.Errorf("10%% of %d: %d, want %d", running, got, want)
		}
	}
	if s.Grace != 0 || s.Thresholds.MinCostGainShare != 0.2 {
		t.Errorf("set: %+v", s)
	}
	now := time.Unix(10000, 0)
	for _, tc := range []struct {
		k              Kind
		since, created time.Duration // before now
		want           bool
	}{
		{HardRule, 59 * time.Second, time.Second, false},
		{HardRule, 60 * time.Second, time.Second, true}, // hard rules ignore the cooldown
		{BetterSite, 300 * time.Second, 599 * time.Second, false},
		{BetterSite, 299 * time.Second, time.Hour, false},
		{BetterSite, 300 * time.Second, 600 * time.Second, true},
	} {
		if got := d.Due(tc.k, now.Add(-tc.since), now.Add(-tc.created), now); got != tc.want {
			t.Errorf("Due(%v, since -%v, created -%v) = %v", tc.k, tc.since, tc.created, got)
		}
	}
}

func TestTrackerDwellResetsOnChange(t *testing.T) {
	tr := NewTracker()
	t0 := time.Unix(1000, 0)
	if got := tr.Observe("p", BetterSite, t0); !got.Equal(t0) {
		t.Fatal(got)
	}
	if got := tr.Observe("p", BetterSite, t0.Add(time.Minute)); !got.Equal(t0) {
		t.Errorf("dwell restarted while the finding held: %v", got)
	}
	tr.Observe("p", 0, t0.Add(2*time.Minute))
	if got := tr.Observe("p", BetterSite, t0.Add(3*time.Minute)); !got.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("dwell survived a round without the finding: %v", got)
	}
	if got := tr.Observe("p", HardRule, t0.Add(4*time.Minute)); !got.Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("a new kind kept the old timer: %v", got)
	}
}

// TestTrackerSettle: a move stays in flight (its target reserved) while
// the evicted pod is there or its replacement is unbound, ends when a pod
// of the same controller created after the eviction is bound (each
// replacement counts for one move), and times out.
func TestTrackerSettle(t *testing.T) {
	at := time.Unix(5000, 0)
	evicted := pod("a", "par-0", "2")
	tr := NewTracker()
	tr.Started(&Move{UID: evicted.UID, Owner: "rs", ToNode: "ber-0", Finding: Finding{To: "ber"}, At: at}, evicted)
	other := pod("b", "par-0", "2")
	tr.Started(&Move{UID: other.UID, Owner: "rs", ToNode: "zrh-0", Finding: Finding{To: "zrh"}, At: at}, other)

	// Both evicted pods still terminating: both in flight, ber-0 full.
	w := world{pods: []*v1.Pod{evicted, other}}.build()
	inFlight, landed := tr.Settle(w, at.Add(time.Second))
	if len(inFlight) != 2 || len(landed) != 0 {
		t.Fatalf("in flight %d, landed %d", len(inFlight), len(landed))
	}
	if f, ok := Judge(w, pod("c", "par-0", "1"), Thresholds{MinRTTGain: 5}, Guards{}); ok && f.To == "ber" {
		t.Errorf("a move counted on room reserved for one in flight: %+v", f)
	}

	// Both gone; one replacement bound (created after the eviction), an
	// older pod of the same controller does not count.
	repl := pod("r1", "ber-0", "2")
	repl.CreationTimestamp = metav1.NewTime(at.Add(time.Second))
	old := pod("o", "ber-0", "0")
	old.CreationTimestamp = metav1.NewTime(at.Add(-time.Hour))
	w = world{pods: []*v1.Pod{repl, old}}.build()
	inFlight, landed = tr.Settle(w, at.Add(2*time.Second))
	if len(inFlight) != 1 || len(landed) != 1 {
		t.Fatalf("in flight %d, landed %d; want 1, 1", len(inFlight), len(landed))
	}
	if why := tr.Misplaced("rs"); why != "" || landed[0].UID != evicted.UID {
		t.Fatalf("the replacement in ber ended the move toward ber (%s), held: %q", landed[0].UID, why)
	}
	// The same replacement does not end the second move.
	inFlight, _ = tr.Settle(w, at.Add(3*time.Second))
	if len(inFlight) != 1 {
		t.Fatalf("in flight %d, want 1", len(inFlight))
	}
	inFlight, _ = tr.Settle(w, at.Add(MoveTimeout+time.Minute))
	if len(inFlight) != 0 || tr.Moving(types.UID("b")) {
		t.Errorf("a move outlived MoveTimeout")
	}
	if tr.Misplaced("rs") == "" {
		t.Errorf("a move with no bound replacement within MoveTimeout does not hold its workload")
	}
	if _, _ = tr.Settle(w, at.Add(MoveTimeout+MisplacedHold+2*time.Minute)); tr.Misplaced("rs") != "" {
		t.Errorf("the hold outlived MisplacedHold")
	}
}

// TestTrackerMisplaced: a replacement that lands outside the move's
// target site holds the workload.
func TestTrackerMisplaced(t *testing.T) {
	at := time.Unix(5000, 0)
	evicted := pod("a", "ber-0", "1")
	tr := NewTracker()
	tr.Started(&Move{UID: evicted.UID, Owner: "rs", ToNode: "par-0", Finding: Finding{To: "par"}, At: at}, evicted)
	back := pod("r", "ber-0", "1")
	back.CreationTimestamp = metav1.NewTime(at.Add(time.Second))
	if _, landed := tr.Settle(world{pods: []*v1.Pod{back}}.build(), at.Add(2*time.Second)); len(landed) != 1 {
		t.Fatalf("landed %d, want 1", len(landed))
	}
	if why := tr.Misplaced("rs"); !contains(why, `in site "ber"`) {
		t.Errorf("a replacement back in ber, not par: hold %q", why)
	}
}

// TestBetterIsAntisymmetric: with latency and cost both weighted, no two
// sites are each better than the other, whatever the gains; a move must
// improve the policy's own objective by its thresholds.
func TestBetterIsAntisymmetric(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rtt      map[string]int32
		price    map[string]string
		th       Thresholds
		forward  bool // par → ber
		backward bool // ber → par
	}{
		{name: "ber closer and cheaper", rtt: map[string]int32{"ber": 10, "par": 25}, price: map[string]string{"ber": "0.05", "par": "0.10"},
			th: Thresholds{MinRTTGain: 5, MinCostGainShare: 0.1}, forward: true},
		{name: "ber closer, par cheaper: the weighted gains cancel", rtt: map[string]int32{"ber": 10, "par": 20}, price: map[string]string{"ber": "0.10", "par": "0.05"},
			th: Thresholds{MinRTTGain: 5, MinCostGainShare: 0.25}},
		{name: "ber far closer, a little dearer", rtt: map[string]int32{"ber": 10, "par": 60}, price: map[string]string{"ber": "0.055", "par": "0.05"},
			th: Thresholds{MinRTTGain: 5, MinCostGainShare: 0.2}, forward: true},
		{name: "cost share 0: cost never moves, latency alone", rtt: map[string]int32{"ber": 10, "par": 20}, price: map[string]string{"ber": "0.5", "par": "0.05"},
			th: Thresholds{MinRTTGain: 5}, forward: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := euPolicy()
			policy.Spec.Weights = &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1), Cost: ptr.To[int32](1)}
			w := world{rtt: tc.rtt, policy: policy, prices: tc.price}.build()
			pp, err := w.Snap.PlanPod(pod("a", "par-0", "1"), w.Settings.GPUs, w)
			if err != nil {
				t.Fatal(err)
			}
			ber, _ := w.Snap.SiteIndex("ber")
			par, _ := w.Snap.SiteIndex("par")
			fwdMsg, fwd := Better(&pp.Plan, par, ber, tc.th)
			bwdMsg, bwd := Better(&pp.Plan, ber, par, tc.th)
			if fwd != tc.forward || bwd != tc.backward {
				t.Errorf("par→ber %v (%s), ber→par %v (%s); want %v, %v", fwd, fwdMsg, bwd, bwdMsg, tc.forward, tc.backward)
			}
			if fwd && bwd {
				t.Errorf("both directions better: the rebalancer would flap")
			}
		})
	}
}

// TestDependsOnAny: a better site is held while a pod one of the policy's
// dependencies selects is moving; pods it does not select, and a policy
// without dependencies, hold nothing.
func TestDependsOnAny(t *testing.T) {
	api := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Dependencies: []placementv1alpha1.DependencyRef{{Name: "db",
			PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}}}}}
	plain := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "plain"}}
	snap := state.Build(state.Objects{Policies: []*placementv1alpha1.PlacementPolicy{api, plain}})
	resolved := func(name string) *state.ResolvedPolicy {
		p, err := snap.PolicyFor(st.MakePod().Namespace("shop").Label(placementv1alpha1.PolicyLabel, name).Obj())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	db := st.MakePod().Namespace("shop").Name("db-0").Label("app", "db").Obj()
	elsewhere := st.MakePod().Namespace("other").Name("db-0").Label("app", "db").Obj()
	web := st.MakePod().Namespace("shop").Name("web-0").Label("app", "web").Obj()
	for _, tc := range []struct {
		policy string
		pods   []*v1.Pod
		want   bool
	}{
		{"api", []*v1.Pod{web, db}, true},
		{"api", []*v1.Pod{web, elsewhere}, false},
		{"api", nil, false},
		{"plain", []*v1.Pod{db}, false},
	} {
		if got := DependsOnAny(resolved(tc.policy), tc.pods); got != tc.want {
			t.Errorf("%s over %d pods: %v, want %v", tc.policy, len(tc.pods), got, tc.want)
		}
	}
}
