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
			Pricing: &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse("0.05"))}}}
		if s.tag != "" {
			site.Spec.Jurisdictions = []string{s.tag}
		}
		if s.name != wd.noSite {
			sites = append(sites, site)
		}
		src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: s.name, Milliseconds: rtt[s.name]})
		nodes = append(nodes, st.MakeNode().Name(s.name+"-0").Label(placementv1alpha1.SiteLabel, s.name).Label("gpu", "true").
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "2", v1.ResourceMemory: "8Gi", v1.ResourcePods: "110"}).Obj())
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
		stuck    bool // breaks a hard rule, nowhere to go
	}{{
		name: "best site: stays", pod: pod("a", "ber-0", "1"), th: th,
	}, {
		name: "par, ber 15 ms better: moves", pod: pod("a", "par-0", "1"), th: th, want: BetterSite, to: "ber", contains: "15 ms closer",
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
		world: world{policy: narrowed, pods: []*v1.Pod{pod("x", "par-0", "2")}}, stuck: true, contains: "residency",
	}, {
		name: "Site deleted", pod: pod("a", "ber-0", "1"), th: th, world: world{noSite: "ber"}, want: HardRule, to: "par", contains: "no longer exists",
	}, {
		name: "node lacks the hardware rule's label: nowhere else has it either, stays", pod: pod("a", "ber-0", "1"), th: th,
		world: world{policy: hardware}, stuck: true, contains: "hardware rule",
	}, {
		name: "site unhealthy (live)", pod: pod("a", "ber-0", "1"), th: th, want: HardRule, to: "par", contains: "site unhealthy",
		world: world{live: &state.Live{Health: state.Signal[string, bool]{Enabled: true, Fresh: true, Values: map[string]bool{"ber": false, "par": true, "zrh": true}}}},
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
			f, ok := Judge(wd.build(), tc.pod, tc.th)
			if tc.want == 0 {
				if ok {
					t.Fatalf("want no finding, got %+v", f)
				}
				if stuck := f.Kind == HardRule && f.To == ""; stuck != tc.stuck || !contains(f.Message, tc.contains) {
					t.Errorf("stays; want stuck %v naming %q, got %+v", tc.stuck, tc.contains, f)
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
	tr.Started(&Move{UID: evicted.UID, Owner: "rs", ToNode: "ber-0", At: at}, evicted)
	other := pod("b", "par-0", "2")
	tr.Started(&Move{UID: other.UID, Owner: "rs", ToNode: "zrh-0", At: at}, other)

	// Both evicted pods still terminating: both in flight, ber-0 full.
	w := world{pods: []*v1.Pod{evicted, other}}.build()
	inFlight, landed := tr.Settle(w, at.Add(time.Second))
	if len(inFlight) != 2 || len(landed) != 0 {
		t.Fatalf("in flight %d, landed %d", len(inFlight), len(landed))
	}
	if f, ok := Judge(w, pod("c", "par-0", "1"), Thresholds{MinRTTGain: 5}); ok && f.To == "ber" {
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
	// The same replacement does not end the second move.
	inFlight, _ = tr.Settle(w, at.Add(3*time.Second))
	if len(inFlight) != 1 {
		t.Fatalf("in flight %d, want 1", len(inFlight))
	}
	inFlight, _ = tr.Settle(w, at.Add(MoveTimeout+time.Minute))
	if len(inFlight) != 0 || tr.Moving(types.UID("b")) {
		t.Errorf("a move outlived MoveTimeout")
	}
}
