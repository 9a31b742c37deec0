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
	"slices"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// A source whose network is 20 ms slower than its distance says: the fit
// learns it from the pairs declared and applies it to the one that is not.
func TestBuildFillsEstimatesFromTheFit(t *testing.T) {
	var sites []*placementv1alpha1.Site
	for i := range 8 {
		sites = append(sites, site("s"+strconv.Itoa(i), placementv1alpha1.TierCloud, "DE", "50", strconv.Itoa(i*2), ""))
	}
	src := func(name, lon string, slow float64, skip string) *placementv1alpha1.TrafficSource {
		ts := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: placementv1alpha1.TrafficSourceSpec{Location: &placementv1alpha1.GeoLocation{Latitude: "48", Longitude: lon}}}
		for i := range 8 {
			if "s"+strconv.Itoa(i) == skip {
				continue
			}
			ms := rttmodel.EstimateRTT(48, mustFloat(lon), 50, float64(i*2)) + slow
			ts.Spec.RTTs = append(ts.Spec.RTTs, placementv1alpha1.SiteRTT{Site: "s" + strconv.Itoa(i), Milliseconds: int32(math.Round(ms))})
		}
		return ts
	}
	sources := []*placementv1alpha1.TrafficSource{src("fast", "3", 0, "s2"), src("slow", "5", 20, "s5")}
	snap := Build(Objects{Sites: sites, Sources: sources})
	w := snap.World
	slow, _ := snap.SourceIndex("slow")
	s5, _ := snap.SiteIndex("s5")
	v, p := w.RTTAt(s5, slow)
	want := rttmodel.EstimateRTT(48, 5, 50, 10) + 20
	if p != scoring.Estimated|scoring.Fitted {
		t.Errorf("slow→s5 provenance %v, want fitted", p)
	}
	// Ridge regularisation keeps it a little short of the truth, but
	// most of the way there from the prior.
	if prior := rttmodel.EstimateRTT(48, 5, 50, 10); !(v-prior > 0.6*(want-prior)) || v > want+2 {
		t.Errorf("slow→s5 = %.1f ms, want most of the way from the prior %.1f to %.1f", v, prior, want)
	}
	if up := w.RTTUpperAt(s5, slow); !(up > v) {
		t.Errorf("upper bound %v not above the estimate %v", up, v)
	}
	s0, _ := snap.SiteIndex("s0")
	if dv, dp := w.RTTAt(s0, slow); dp != scoring.Declared || w.RTTUpperAt(s0, slow) != dv {
		t.Errorf("declared slow→s0 = %v (%v), upper %v: want declared, upper equal", dv, dp, w.RTTUpperAt(s0, slow))
	}
	if got := w.RTTNote(s5, slow); !strings.HasPrefix(got, "estimated (fitted, upper bound ") {
		t.Errorf("RTTNote = %q", got)
	}

	// A rebuild with the same declarations reuses the fit; a changed
	// declaration refits.
	again := buildSiteTable(sites, sources, nil, snap.table, nil)
	if again.rtt.fit != snap.table.rtt.fit {
		t.Error("the same declarations were fitted again")
	}
	sources[1].Spec.RTTs[0].Milliseconds++
	changed := buildSiteTable(sites, sources, nil, snap.table, nil)
	if changed.rtt.fit == snap.table.rtt.fit {
		t.Error("a changed declaration kept the old fit")
	}

	// Live RTTs: jitter within the tolerance keeps the fit (the live value
	// itself is used at once); drift beyond it refits.
	liveAt := func(ms float64) *Live {
		return &Live{RTT: Signal[SourceSite, float64]{Enabled: true, Fresh: true, Values: map[SourceSite]float64{{Source: "fast", Site: "s0"}: ms}}}
	}
	first := buildSiteTable(sites, sources, liveAt(30), changed, nil)
	jitter := buildSiteTable(sites, sources, liveAt(30.8), first, nil)
	if jitter.rtt.fit != first.rtt.fit {
		t.Error("0.8 ms of live jitter refitted")
	}
	fast := jitter.sourceIndex["fast"]
	if v, p := jitter.world.RTTAt(0, fast); v != 30.8 || p&scoring.Live == 0 {
		t.Errorf("live fast→s0 = %v (%v), want the live 30.8", v, p)
	}
	if drift := buildSiteTable(sites, sources, liveAt(33), jitter, nil); drift.rtt.fit == jitter.rtt.fit {
		t.Error("3 ms of live drift kept the old fit")
	}

	// The fit is a function of the current inputs: a process that saw 30
	// then 30.8 ms and one that started at 30.8 hold the same estimates
	// and bounds (the scheduler and the rebalancer judge a bound alike).
	fresh := buildSiteTable(sites, sources, liveAt(30.8), nil, nil)
	if !slices.Equal(fresh.world.RTT, jitter.world.RTT) || !slices.Equal(fresh.world.RTTUpper, jitter.world.RTTUpper) {
		t.Error("the same inputs reached by another history gave another fit")
	}
	// A series of a pair nobody declared vanishes while its refit runs
	// beside the Model's worker: the fit in use saw the pair measured, so
	// its bound for the pair is never tighter than the distance prior's
	// until the refit is done.
	s2 := jitter.siteIndex["s2"]
	measured := buildSiteTable(sites, sources, &Live{RTT: Signal[SourceSite, float64]{Enabled: true, Fresh: true,
		Values: map[SourceSite]float64{{Source: "fast", Site: "s2"}: 9}}}, jitter, nil)
	gone := &Live{RTT: Signal[SourceSite, float64]{Enabled: true, Fresh: true, Values: map[SourceSite]float64{}}}
	pending := buildSiteTable(sites, sources, gone, measured, &fitter{fit: rttmodel.FitRTT, done: func() {}})
	if !pending.fitPending || pending.rtt != measured.rtt {
		t.Fatalf("pending %v, reusing the previous fit %v: want both", pending.fitPending, pending.rtt == measured.rtt)
	}
	k := int(s2)*len(sources) + fast
	prior := rttmodel.EstimatePriorUpper(rttmodel.Prior(measured.rtt.dist[k]))
	if v, p := pending.world.RTTAt(int(s2), fast); !p.IsEstimate() || pending.world.RTTUpperAt(int(s2), fast) < prior {
		t.Errorf("fast→s2 after its series vanished, refit pending: %v (%v), upper %v; want an estimate bounded no tighter than the prior's %v",
			v, p, pending.world.RTTUpperAt(int(s2), fast), prior)
	}
	for _, ms := range []float64{0.4, 7.6, 19.4, 20.6, 30, 30.8, 151, 900} {
		if g := rttmodel.FitGrid(ms); math.Abs(g-ms) > max(0.5, 0.025*ms) || rttmodel.FitGrid(g) != g {
			t.Errorf("FitGrid(%v) = %v: off by more than half a step, or not a fixed point", ms, g)
		}
	}
}

func mustFloat(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return v
}

// A policy's latency.estimates becomes the core's estimate rule;
// Conservative is the default.
func TestCorePolicyEstimates(t *testing.T) {
	snap := Build(Objects{
		Sites: []*placementv1alpha1.Site{site("s", placementv1alpha1.TierCloud, "DE", "50", "8", "")},
		Sources: []*placementv1alpha1.TrafficSource{{ObjectMeta: metav1.ObjectMeta{Name: "users"},
			Spec: placementv1alpha1.TrafficSourceSpec{Location: &placementv1alpha1.GeoLocation{Latitude: "48", Longitude: "2"}}}},
	})
	for h, want := range map[placementv1alpha1.EstimateHandling]scoring.EstimateRule{
		"":                                      scoring.EstimatesConservative,
		placementv1alpha1.EstimatesConservative: scoring.EstimatesConservative,
		placementv1alpha1.EstimatesCentral:      scoring.EstimatesCentral,
		placementv1alpha1.EstimatesReject:       scoring.EstimatesReject,
	} {
		spec := placementv1alpha1.PlacementPolicySpec{Latency: &placementv1alpha1.LatencyPolicy{
			Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, Estimates: h}}
		var rules scoring.Policy
		if err := snap.CorePolicy(&spec, Requests{Cores: 1}, &rules); err != nil {
			t.Fatal(err)
		}
		if rules.EstimatedRTT != want {
			t.Errorf("estimates %q: rule %d, want %d", h, rules.EstimatedRTT, want)
		}
	}
	// With one pair and nothing measured, the estimate is the prior's and
	// its upper bound the prior's measured error.
	v, p := snap.World.RTTAt(0, 0)
	if p != scoring.Estimated || snap.World.RTTUpperAt(0, 0) != rttmodel.EstimatePriorUpper(v) {
		t.Errorf("users→s = %v (%v), upper %v; want the prior with its bound %v", v, p, snap.World.RTTUpperAt(0, 0), rttmodel.EstimatePriorUpper(v))
	}
}
