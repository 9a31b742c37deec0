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

package state

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

func site(name string, tier placementv1alpha1.SiteTier, country, lat, lon, cpu string, tags ...string) *placementv1alpha1.Site {
	s := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
		Tier: tier, Country: country, Jurisdictions: tags,
		Location: placementv1alpha1.GeoLocation{Latitude: lat, Longitude: lon},
	}}
	if cpu != "" {
		s.Spec.Pricing = &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(cpu))}
	}
	return s
}

func TestBuild(t *testing.T) {
	sites := []*placementv1alpha1.Site{
		site("paris", placementv1alpha1.TierRegional, "FR", "48.8566", "2.3522", "0.05", "EU"),
		site("frankfurt", placementv1alpha1.TierCloud, "DE", "50.1109", "8.6821", "0.03", "EU", "EEA"),
	}
	sources := []*placementv1alpha1.TrafficSource{{
		ObjectMeta: metav1.ObjectMeta{Name: "shoppers"},
		Spec: placementv1alpha1.TrafficSourceSpec{
			Location: &placementv1alpha1.GeoLocation{Latitude: "48.8566", Longitude: "2.3522"},
			Demand:   ptr.To[int32](3),
			RTTs:     []placementv1alpha1.SiteRTT{{Site: "paris", Milliseconds: 2}, {Site: "nowhere", Milliseconds: 1}},
		},
	}, {
		ObjectMeta: metav1.ObjectMeta{Name: "anonymous"}, // no location, no RTTs to these sites
		Spec:       placementv1alpha1.TrafficSourceSpec{RTTs: []placementv1alpha1.SiteRTT{{Site: "nowhere", Milliseconds: 1}}},
	}}
	nodes := []*v1.Node{
		st.MakeNode().Name("n1").Label(placementv1alpha1.SiteLabel, "paris").Obj(),
		st.MakeNode().Name("n2").Label(placementv1alpha1.SiteLabel, "atlantis").Obj(),
		st.MakeNode().Name("n3").Obj(),
	}
	snap := Build(Objects{Sites: sites, Sources: sources, Nodes: nodes})
	w := snap.World

	// Sites are ordered by name: frankfurt 0, paris 1.
	fra, ok1 := snap.SiteIndex("frankfurt")
	par, ok2 := snap.SiteIndex("paris")
	if !ok1 || !ok2 || fra != 0 || par != 1 {
		t.Fatalf("site indexes frankfurt=%d paris=%d, want 0 and 1", fra, par)
	}
	shoppers, _ := snap.SourceIndex("shoppers")
	anon, _ := snap.SourceIndex("anonymous")

	// Measured: shoppers → paris 2 ms, not estimated.
	if v, f := w.RTTAt(par, shoppers); v != 2 || f != scoring.Declared {
		t.Errorf("shoppers→paris = %v (flags %b), want measured 2", v, f)
	}
	// Estimated: Paris–Frankfurt is 479 km: 5 + 2·479·1.6/200 = 12.66 ms.
	if v, f := w.RTTAt(fra, shoppers); math.Abs(v-12.66) > 0.05 || f != scoring.Estimated {
		t.Errorf("shoppers→frankfurt = %v (flags %b), want estimated ≈12.66", v, f)
	}
	// No location and no measurement: unknown.
	if v, _ := w.RTTAt(fra, anon); v != scoring.UnknownRTT {
		t.Errorf("anonymous→frankfurt = %v, want UnknownRTT", v)
	}
	if w.SourceDemand[shoppers] != 3 || w.SourceDemand[anon] != 1 {
		t.Errorf("demand = %v, want 3 for shoppers and default 1", w.SourceDemand)
	}
	// Prices and tags.
	if w.Sites.CPUPrice[fra] != 0.03 || w.Sites.MemPrice[fra] != 0 {
		t.Errorf("frankfurt prices cpu=%v mem=%v, want 0.03 and 0 (absent)", w.Sites.CPUPrice[fra], w.Sites.MemPrice[fra])
	}
	eu := w.TagIndex("EU")
	var euSet scoring.TagSet
	euSet.Add(eu)
	if eu < 0 || !w.Sites.Tags[par].Intersects(&euSet) || !w.Sites.Tags[fra].Intersects(&euSet) {
		t.Errorf("both sites should carry EU; tags %v", w.Tags)
	}
	// Nodes: n1 in paris; n2 names an unknown site and n3 none: both in no site.
	for i, want := range []int{par, -1, -1} {
		got, ok := snap.SiteOfNode(nodes[i])
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("node %s site = %d, want %d", nodes[i].Name, got, want)
		}
	}
	if diff := cmp.Diff([]string{"n1"}, snap.NodesIn(par)); diff != "" || len(snap.NodesIn(fra)) != 0 {
		t.Errorf("nodes in paris (-want,+got):\n%s; in frankfurt %v", diff, snap.NodesIn(fra))
	}
	if snap.Sites()[par].Name != "paris" || snap.Sources()[shoppers].Name != "shoppers" {
		t.Errorf("objects are not in index order: %s, %s", snap.Sites()[par].Name, snap.Sources()[shoppers].Name)
	}
}

// TestLiveOverlay builds a world from one site, one source and one node
// under each state a live signal can be in, and checks the values, their
// provenance and what a policy that rejects stale values and one that uses
// the declared values make of them.
func TestLiveOverlay(t *testing.T) {
	sites := []*placementv1alpha1.Site{site("paris", placementv1alpha1.TierRegional, "FR", "48.8566", "2.3522", "0.05")}
	sites[0].Spec.Pricing.EgressGiB = ptr.To(resource.MustParse("0.09"))
	sources := []*placementv1alpha1.TrafficSource{{ObjectMeta: metav1.ObjectMeta{Name: "shoppers"},
		Spec: placementv1alpha1.TrafficSourceSpec{RTTs: []placementv1alpha1.SiteRTT{{Site: "paris", Milliseconds: 2}}}}}
	// live makes every signal enabled (or not), fresh (or not), with a
	// value for paris, shoppers→paris and n1 (or only for other keys).
	live := func(enabled, fresh, ours bool) *Live {
		site, node := "lyon", "n2"
		if ours {
			site, node = "paris", "n1"
		}
		return &Live{
			RTT:      Signal[SourceSite, float64]{Enabled: enabled, Fresh: fresh, Values: map[SourceSite]float64{{Source: "shoppers", Site: site}: 7}},
			Price:    Signal[string, float64]{Enabled: enabled, Fresh: fresh, Values: map[string]float64{site: 2}},
			Health:   Signal[string, bool]{Enabled: enabled, Fresh: fresh, Values: map[string]bool{site: false}},
			NodeLoad: Signal[string, float64]{Enabled: enabled, Fresh: fresh, Values: map[string]float64{node: 0.5}},
		}
	}
	enabledNeverRead := &Live{RTT: Signal[SourceSite, float64]{Enabled: true}, Price: Signal[string, float64]{Enabled: true},
		Health: Signal[string, bool]{Enabled: true}, NodeLoad: Signal[string, float64]{Enabled: true}}
	missing := scoring.Stale | scoring.Absent
	for _, tc := range []struct {
		name       string
		live       *Live
		wantRTT    float64
		wantP      scoring.Provenance // of the RTT and the price
		wantPrice  float64
		wantUp     bool
		wantStale  bool // the declared values stand in, and Reject rejects
		wantLoad   scoring.NodeLoad
		wantReason scoring.Reason // for the policy that uses declared values
	}{
		{"no telemetry", nil, 2, scoring.Declared, 0.05, true, false, scoring.NodeLoad{}, scoring.Feasible},
		{"signals disabled", live(false, true, true), 2, scoring.Declared, 0.05, true, false, scoring.NodeLoad{}, scoring.Feasible},
		{"never read", enabledNeverRead, 2, missing, 0.05, true, true, scoring.NodeLoad{Stale: true}, scoring.Feasible},
		{"fresh read without our keys", live(true, true, false), 2, missing, 0.05, true, true, scoring.NodeLoad{Stale: true}, scoring.Feasible},
		{"stale read without our keys", live(true, false, false), 2, missing, 0.05, true, true, scoring.NodeLoad{Stale: true}, scoring.Feasible},
		{"stale", live(true, false, true), 2, scoring.Stale, 0.05, true, true, scoring.NodeLoad{Value: 0.5, Live: true, Stale: true}, scoring.Feasible},
		{"fresh", live(true, true, true), 7, scoring.Live, 0.1, false, false, scoring.NodeLoad{Value: 0.5, Live: true}, scoring.ReasonUnhealthy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := Build(Objects{Sites: sites, Sources: sources, Live: tc.live})
			w := snap.World
			if v, p := w.RTTAt(0, 0); v != tc.wantRTT || p != tc.wantP {
				t.Errorf("RTT = %v (%v), want %v (%v)", v, p, tc.wantRTT, tc.wantP)
			}
			if v, p := w.Sites.CPUPrice[0], w.Sites.PriceProvenance[0]; math.Abs(v-tc.wantPrice) > 1e-12 || p != tc.wantP {
				t.Errorf("price = %v (%v), want %v (%v)", v, p, tc.wantPrice, tc.wantP)
			}
			if v := w.Sites.EgressPrice[0]; v != 0.09 {
				t.Errorf("egress price = %v, want 0.09 as declared (a live multiplier scales capacity only)", v)
			}
			if w.Sites.Healthy[0] != tc.wantUp || w.Sites.HealthStale[0] != tc.wantStale {
				t.Errorf("healthy = %v, stale = %v; want %v, %v", w.Sites.Healthy[0], w.Sites.HealthStale[0], tc.wantUp, tc.wantStale)
			}
			if got := snap.NodeLoad("n1"); got != tc.wantLoad {
				t.Errorf("NodeLoad(n1) = %+v, want %+v", got, tc.wantLoad)
			}

			spec := placementv1alpha1.PlacementPolicySpec{
				Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "shoppers"}}},
				Cost:      &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("1")},
				Telemetry: &placementv1alpha1.TelemetryPolicy{MaxNodeUtilizationPercent: ptr.To[int32](80)},
			}
			var rules scoring.Policy
			var plan scoring.Plan
			if err := snap.CorePolicy(&spec, Requests{Cores: 1}, &rules); err != nil {
				t.Fatal(err)
			}
			plan.Evaluate(w, &rules)
			if got := plan.SiteReason(0); got != tc.wantReason {
				t.Errorf("with declared values standing in: %v, want %v", got, tc.wantReason)
			}
			if got := plan.LoadRule(snap.NodeLoad("n1")); got != scoring.LoadAllowed {
				t.Errorf("with declared values standing in, the load rule says %v for n1", got)
			}
			reject := placementv1alpha1.Reject
			for _, onStale := range []placementv1alpha1.StaleActions{{RTT: reject}, {Price: reject}, {Health: reject}, {NodeLoad: reject}} {
				spec.Telemetry.OnStale = &onStale
				if err := snap.CorePolicy(&spec, Requests{Cores: 1}, &rules); err != nil {
					t.Fatal(err)
				}
				plan.Evaluate(w, &rules)
				reason, load := plan.SiteReason(0), plan.LoadRule(snap.NodeLoad("n1"))
				wantReason, wantLoad := tc.wantReason, scoring.LoadAllowed
				switch {
				case tc.wantStale && onStale.NodeLoad == reject:
					wantLoad = scoring.LoadStaleRejected
				case tc.wantStale && tc.wantReason == scoring.Feasible:
					wantReason = scoring.ReasonStale
				}
				if reason != wantReason || load != wantLoad {
					t.Errorf("onStale %+v: site %v, load rule %v; want %v, %v", onStale, reason, load, wantReason, wantLoad)
				}
			}
		})
	}
}

func TestGreatCircle(t *testing.T) {
	// New York – London: about 5,570 km.
	if d := rttmodel.GreatCircleKilometres(40.7128, -74.0060, 51.5074, -0.1278); math.Abs(d-5570) > 10 {
		t.Errorf("New York–London = %.0f km, want ≈5570", d)
	}
	if d := rttmodel.GreatCircleKilometres(10, 20, 10, 20); d != 0 {
		t.Errorf("distance to self = %v", d)
	}
}
