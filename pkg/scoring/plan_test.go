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

package scoring

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testWorld has four sites and two sources:
//
//	site  tier      country tags  cpu/h  mem/h  RTT paris  RTT milan
//	0 fra Cloud     DE      EU    0.03   0.004  11         12
//	1 par Regional  FR      EU    0.05   0.006   2         17
//	2 zrh Edge      CH      -     0.09   0.012  13          6
//	3 iad Cloud     US      -     0.02   0.003  78         95
//
// and one node per site (testLoads).
func testWorld() *World {
	var eu TagSet
	eu.Add(0)
	country := func(c string) uint16 { i, _ := CountryIndex(c); return i }
	return &World{
		Tags: []string{"EU"},
		Sites: Sites{
			Names:            []string{"fra", "par", "zrh", "iad"},
			Tier:             []Tier{TierCloud, TierRegional, TierEdge, TierCloud},
			Country:          []uint16{country("DE"), country("FR"), country("CH"), country("US")},
			Tags:             []TagSet{eu, eu, {}, {}},
			ResidencyUnknown: make([]bool, 4),
			CPUPrice:         []float64{0.03, 0.05, 0.09, 0.02},
			MemPrice:         []float64{0.004, 0.006, 0.012, 0.003},
			GPUPrice:         []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()},
			Healthy:          []bool{true, true, true, true},
			PriceProvenance:  make([]Provenance, 4),
			HealthStale:      make([]bool, 4),
		},
		SourceNames:  []string{"paris", "milan"},
		SourceDemand: []float64{1, 1},
		RTT: []float64{
			11, 12,
			2, 17,
			13, 6,
			78, 95,
		},
		RTTProvenance: make([]Provenance, 8),
	}
}

// testLoads are the loads of the one node in each of testWorld's sites.
var testLoads = []float64{0.5, 0, 0.25, 1}

// scoreAll evaluates p and scores the node of each site as the scheduler
// does when every node of a feasible site is a candidate: NodeScore, then
// CandidateScore over the feasible ones (an infeasible node scores 0).
func scoreAll(w *World, p *Policy) (*Plan, []int64) {
	var pl Plan
	pl.Evaluate(w, p)
	return &pl, candidateScores(&pl, testLoads)
}

func candidateScores(pl *Plan, loads []float64) []int64 {
	raw := make([]NodeScore, len(loads))
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for s, load := range loads {
		raw[s] = pl.NodeScore(s, load)
		if pl.SiteFeasible(s) {
			lo, hi = min(lo, raw[s].Site()), max(hi, raw[s].Site())
		}
	}
	out := make([]int64, len(loads))
	for s := range loads {
		if pl.SiteFeasible(s) {
			out[s] = pl.CandidateScore(raw[s], lo, hi)
		}
	}
	return out
}

func TestLatencyLed(t *testing.T) {
	w := testWorld()
	// Paris weight 2, Milan weight 1: weighted mean RTT per site
	//   fra (2·11+12)/3 = 11.33, par (2·2+17)/3 = 7, zrh (2·13+6)/3 = 10.67, iad (2·78+95)/3 = 83.67
	// Only latency counts (weights 1/0/0): latTerm = (83.67 - L)/(83.67 - 7)
	//   fra 72.33/76.67 = 0.9435 → 94, par 1 → 100, zrh 73/76.67 = 0.9522 → 95, iad 0 → 0
	p := &Policy{AllowAll: true, Sources: []int{0, 1}, Weights: []float64{2, 1}, WLatency: 1}
	pl, got := scoreAll(w, p)
	if diff := cmp.Diff([]int64{94, 100, 95, 0}, got); diff != "" {
		t.Errorf("scores (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{1, 2, 0, 3}, pl.Ranked()); diff != "" {
		t.Errorf("ranking (-want,+got):\n%s", diff)
	}
	if l := pl.SiteLatency(1); math.Abs(l-7) > 1e-9 {
		t.Errorf("par latency = %v, want 7", l)
	}
}

func TestWorstCaseAndMaxRTT(t *testing.T) {
	w := testWorld()
	// Worst case over both sources: fra 12, par 17, zrh 13, iad 95.
	// maxRTT 15 excludes par (17) and iad (95).
	// latTerm over feasible {fra 12, zrh 13}: fra 1 → 100, zrh 0 → 0.
	p := &Policy{AllowAll: true, Sources: []int{0, 1}, Weights: []float64{1, 1}, Objective: WorstCase, MaxRTT: 15, WLatency: 1}
	pl, got := scoreAll(w, p)
	if diff := cmp.Diff([]int64{100, 0, 0, 0}, got); diff != "" {
		t.Errorf("scores (-want,+got):\n%s", diff)
	}
	if pl.SiteReason(1) != ReasonMaxRTT || pl.SiteReason(3) != ReasonMaxRTT || pl.SiteFeasible(1) {
		t.Errorf("par and iad should fail max RTT; reasons %v %v", pl.SiteReason(1), pl.SiteReason(3))
	}
	if c := pl.ReasonCounts(); c[Feasible] != 2 || c[ReasonMaxRTT] != 2 {
		t.Errorf("reason counts = %v, want 2 feasible and 2 max RTT", c)
	}
	if got, want := pl.ExcludedSummary(), "2 sites: max RTT 15 ms"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestMaxRTTOnEstimates(t *testing.T) {
	// fra's RTT from milan (12) and zrh's from paris (13) are estimates
	// with upper bounds 18 and 14; maxRTT 15 over both sources, worst case.
	//	rule          fra bound  zrh bound  feasible
	//	Conservative  18         14         zrh
	//	Central       12         13         fra, zrh
	//	Rejected      +Inf       +Inf       none (par and iad fail on declared RTTs)
	w := testWorld()
	w.RTTProvenance[0*2+1] = Estimated | Fitted
	w.RTTProvenance[2*2+0] = Estimated
	w.RTTUpper = append([]float64(nil), w.RTT...)
	w.RTTUpper[0*2+1], w.RTTUpper[2*2+0] = 18, 14
	for _, tc := range []struct {
		rule EstimateRule
		want []bool
	}{
		{EstimatesConservative, []bool{false, false, true, false}},
		{EstimatesCentral, []bool{true, false, true, false}},
		{EstimatesReject, []bool{false, false, false, false}},
	} {
		p := &Policy{AllowAll: true, Sources: []int{0, 1}, Weights: []float64{1, 1}, Objective: WorstCase, MaxRTT: 15, WLatency: 1, EstimatedRTT: tc.rule}
		var pl Plan
		pl.Evaluate(w, p)
		got := make([]bool, 4)
		for s := range got {
			got[s] = pl.SiteFeasible(s)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("rule %d: feasible sites (-want,+got):\n%s", tc.rule, diff)
		}
		// The score uses the central value: zrh's objective is 13, not 14.
		if l := pl.SiteLatency(2); l != 13 {
			t.Errorf("rule %d: zrh latency %v, want the central 13", tc.rule, l)
		}
	}
	// Without a bound the rule changes nothing.
	p := &Policy{AllowAll: true, Sources: []int{0, 1}, Weights: []float64{1, 1}, WLatency: 1, EstimatedRTT: EstimatesReject}
	var pl Plan
	pl.Evaluate(w, p)
	if pl.NumFeasible() != 4 {
		t.Errorf("%d feasible sites without a max RTT, want 4", pl.NumFeasible())
	}
	if got, want := w.RTTNote(0, 1), "estimated (fitted, upper bound 18.0 ms)"; got != want {
		t.Errorf("RTTNote = %q, want %q", got, want)
	}
	// A world without upper bounds: a conservative bound has nothing to
	// judge the estimates by and fails them, as Reject does.
	w.RTTUpper = nil
	p = &Policy{AllowAll: true, Sources: []int{0, 1}, Weights: []float64{1, 1}, Objective: WorstCase, MaxRTT: 15, WLatency: 1,
		EstimatedRTT: EstimatesConservative}
	pl.Evaluate(w, p)
	if pl.SiteFeasible(0) || pl.SiteFeasible(2) {
		t.Errorf("without upper bounds, a conservative bound admitted an estimated site: fra %v, zrh %v", pl.SiteFeasible(0), pl.SiteFeasible(2))
	}
}

func TestCostLedWithCap(t *testing.T) {
	w := testWorld()
	// 2 cores, 4 GiB: cost = 2·cpu + 4·mem
	//   fra 0.06+0.016 = 0.076, par 0.1+0.024 = 0.124, zrh 0.18+0.048 = 0.228, iad 0.04+0.012 = 0.052
	// cap 0.2 excludes zrh. costTerm over {fra, par, iad}: (0.124 - C)/(0.124 - 0.052)
	//   fra 0.048/0.072 = 0.667 → 67, par 0 → 0, iad 1 → 100
	p := &Policy{AllowAll: true, Cores: 2, MemGiB: 4, MaxHourly: 0.2, WCost: 1}
	pl, got := scoreAll(w, p)
	if diff := cmp.Diff([]int64{67, 0, 0, 100}, got); diff != "" {
		t.Errorf("scores (-want,+got):\n%s", diff)
	}
	if pl.SiteReason(2) != ReasonMaxCost {
		t.Errorf("zrh reason = %v, want max cost", pl.SiteReason(2))
	}
	if c := pl.SiteCost(0); math.Abs(c-0.076) > 1e-12 {
		t.Errorf("fra cost = %v, want 0.076", c)
	}
}

func TestResidencyIsHard(t *testing.T) {
	w := testWorld()
	var p Policy
	p.HasResidency = true
	p.AllowTags.Add(0) // EU
	p.Sources, p.Weights, p.WLatency = []int{1}, []float64{1}, 1
	// Milan is closest to zrh (6 ms, not EU) and iad is cheapest (not EU):
	// only fra and par are allowed. latTerm over {fra 12, par 17}: fra 1, par 0.
	pl, got := scoreAll(w, &p)
	if diff := cmp.Diff([]int64{100, 0, 0, 0}, got); diff != "" {
		t.Errorf("scores (-want,+got):\n%s", diff)
	}
	for s, want := range []bool{true, true, false, false} {
		if pl.SiteFeasible(s) != want {
			t.Errorf("site %d feasible = %v, want %v", s, !want, want)
		}
	}
	// Deny FR on top: only fra is left.
	fr, _ := CountryIndex("FR")
	p.DenyCountry.Add(fr)
	pl.Evaluate(w, &p)
	if diff := cmp.Diff([]int32{0}, pl.Ranked()); diff != "" {
		t.Errorf("ranking with FR denied (-want,+got):\n%s", diff)
	}
	// Unknown residency data fails closed.
	w.Sites.ResidencyUnknown[0] = true
	pl.Evaluate(w, &p)
	if pl.NumFeasible() != 0 || pl.SiteReason(0) != ReasonResidency {
		t.Errorf("a site with unknown residency data must be infeasible; feasible=%d", pl.NumFeasible())
	}
}

func TestTierHealthAndLoad(t *testing.T) {
	w := testWorld()
	w.Sites.Healthy[0] = false
	// Cloud and Edge only; fra unhealthy. Load-only weights: node score =
	// round(100·(1 - load)).
	p := &Policy{AllowAll: true, Tiers: 1<<TierCloud | 1<<TierEdge, MaxLoad: 0.2, WLoad: 1}
	pl, got := scoreAll(w, p)
	// fra unhealthy → 0, par wrong tier → 0, zrh 100·0.75 = 75, iad 100·0 = 0.
	if diff := cmp.Diff([]int64{0, 0, 75, 0}, got); diff != "" {
		t.Errorf("scores (-want,+got):\n%s", diff)
	}
	if pl.SiteReason(0) != ReasonUnhealthy || pl.SiteReason(1) != ReasonTier {
		t.Errorf("reasons = %v %v", pl.SiteReason(0), pl.SiteReason(1))
	}
	if got, want := pl.ExcludedSummary(), "1 site: tier; 1 site: site unhealthy"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestLoadRule(t *testing.T) {
	w := testWorld()
	for _, tc := range []struct {
		name        string
		maxLoad     float64
		rejectStale bool
		load        NodeLoad
		want        LoadVerdict
	}{
		{"live over the bound", 0.2, false, NodeLoad{Value: 0.25, Live: true}, LoadOverLimit},
		{"live at the bound", 0.25, false, NodeLoad{Value: 0.25, Live: true}, LoadAllowed},
		{"signal not read", 0.2, true, NodeLoad{}, LoadAllowed},
		{"missing, declared values", 0.2, false, NodeLoad{Stale: true}, LoadAllowed},
		{"missing, policy rejects stale", 0.2, true, NodeLoad{Stale: true}, LoadStaleRejected},
		{"stale, declared values", 0.2, false, NodeLoad{Value: 0.9, Live: true, Stale: true}, LoadAllowed},
		{"stale, policy rejects stale", 0.2, true, NodeLoad{Value: 0.1, Live: true, Stale: true}, LoadStaleRejected},
		{"no bound", 0, true, NodeLoad{Value: 1, Live: true, Stale: true}, LoadAllowed},
		{"bound of 100%", 1, true, NodeLoad{Value: 1, Live: true, Stale: true}, LoadStaleRejected},
		{"bound out of range", 1.5, true, NodeLoad{Value: 1, Live: true, Stale: true}, LoadAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pl Plan
			pl.Evaluate(w, &Policy{AllowAll: true, MaxLoad: tc.maxLoad, RejectStaleLoad: tc.rejectStale})
			if got := pl.LoadRule(tc.load); got != tc.want {
				t.Errorf("LoadRule(%+v) = %d, want %d", tc.load, got, tc.want)
			}
		})
	}
}

func TestMixedWeights(t *testing.T) {
	w := testWorld()
	// Latency (Paris only) 2, cost (1 core) 1, load 1 → normalized 0.5, 0.25, 0.25.
	//   RTT: fra 11, par 2, zrh 13, iad 78 → latTerm fra 67/76 = 0.8816, par 1, zrh 65/76 = 0.8553, iad 0
	//   cost: fra 0.03, par 0.05, zrh 0.09, iad 0.02 → costTerm fra 0.06/0.07 = 0.8571, par 0.5714, zrh 0, iad 1
	//   load: 0.5, 0, 0.25, 1 → 1-u = 0.5, 1, 0.75, 0
	// site parts: fra 0.5·0.8816 + 0.25·0.8571 = 0.6551, par 0.5·1 + 0.25·0.5714 = 0.6429,
	//   zrh 0.5·0.8553 + 0.25·0 = 0.4276, iad 0.5·0 + 0.25·1 = 0.25
	// stretched over the candidates (0.25..0.6551) to the site share 0.75, plus 0.25·(1-u):
	// fra 0.75·1                        + 0.25·0.5  = 0.875  → 88
	// par 0.75·(0.3929/0.4051 = 0.9698) + 0.25·1    = 0.9774 → 98
	// zrh 0.75·(0.1776/0.4051 = 0.4384) + 0.25·0.75 = 0.5163 → 52
	// iad 0.75·0                        + 0.25·0    = 0      → 0
	p := &Policy{AllowAll: true, Sources: []int{0}, Weights: []float64{1}, Cores: 1, WLatency: 2, WCost: 1, WLoad: 1}
	_, got := scoreAll(w, p)
	if diff := cmp.Diff([]int64{88, 98, 52, 0}, got); diff != "" {
		t.Errorf("scores (-want,+got):\n%s", diff)
	}
}

// Nodes of one site differ in proportion to their load, however small the
// difference: it must not be stretched to the whole 0..100 range.
func TestLoadIsProportionalWithinASite(t *testing.T) {
	w := testWorld()
	p := &Policy{AllowAll: true, Sources: []int{0}, Weights: []float64{1}, WLatency: 1, WLoad: 1}
	var pl Plan
	pl.Evaluate(w, p)
	// Two nodes of par, 0.5000 and 0.5001 loaded: both candidates are in
	// one site (cand = 1), so each scores 0.5·1 + 0.5·(1-u) = 0.75 → 75.
	a, b := pl.NodeScore(1, 0.5), pl.NodeScore(1, 0.5001)
	lo, hi := min(a.Site(), b.Site()), max(a.Site(), b.Site())
	if sa, sb := pl.CandidateScore(a, lo, hi), pl.CandidateScore(b, lo, hi); sa != 75 || sb != 75 {
		t.Errorf("scores %d and %d for loads 0.5 and 0.5001 in one site, want 75 and 75", sa, sb)
	}
	// 0.1 and 0.9 loaded: 0.5 + 0.5·0.9 = 0.95 → 95 and 0.5 + 0.5·0.1 = 0.55 → 55.
	a, b = pl.NodeScore(1, 0.1), pl.NodeScore(1, 0.9)
	if sa, sb := pl.CandidateScore(a, lo, hi), pl.CandidateScore(b, lo, hi); sa != 95 || sb != 55 {
		t.Errorf("scores %d and %d for loads 0.1 and 0.9 in one site, want 95 and 55", sa, sb)
	}
}

func TestInfeasibleSiteScoresZero(t *testing.T) {
	w := testWorld()
	p := &Policy{AllowAll: true, Tiers: 1 << TierCloud, WLoad: 1}
	pl, got := scoreAll(w, p)
	// par and zrh are not Cloud: 0 whatever their load; -1 (a node in no
	// site) and out-of-range sites too.
	if got[1] != 0 || got[2] != 0 || pl.NodeScore(-1, 0) != 0 || pl.NodeScore(9, 0) != 0 {
		t.Errorf("scores = %v; infeasible or unknown sites must score 0", got)
	}
}

func TestUnknownValuesFailClosed(t *testing.T) {
	w := testWorld()
	w.RTT[0] = math.NaN() // fra, paris
	w.Sites.CPUPrice[1] = math.NaN()
	// fra's RTT is unknown: it fails the RTT bound. par's price is unknown:
	// it fails the cost cap. zrh (13 ms, 0.09) and iad (78 ms) remain, but
	// iad fails the 50 ms bound.
	p := &Policy{AllowAll: true, Sources: []int{0}, Weights: []float64{1}, MaxRTT: 50, Cores: 1, MaxHourly: 1, WLatency: 1}
	pl, _ := scoreAll(w, p)
	if diff := cmp.Diff([]int32{2}, pl.Ranked()); diff != "" {
		t.Errorf("ranking (-want,+got):\n%s", diff)
	}
	if pl.SiteReason(0) != ReasonMaxRTT || pl.SiteReason(1) != ReasonMaxCost {
		t.Errorf("reasons = %v, %v; want max RTT, max cost", pl.SiteReason(0), pl.SiteReason(1))
	}
}

func TestEvaluateAllocatesNothing(t *testing.T) {
	w := testWorld()
	w.RTTProvenance[1] = Estimated | Fitted
	w.RTTUpper = append([]float64(nil), w.RTT...)
	w.RTTUpper[1] = 20
	p := &Policy{AllowAll: true, Sources: []int{0, 1}, Weights: []float64{2, 1}, Cores: 1, WLatency: 1, WCost: 1, WLoad: 1, MaxLoad: 0.9, MaxRTT: 50}
	var pl Plan
	out := make([]int64, len(testLoads))
	pl.Evaluate(w, p)
	allocs := testing.AllocsPerRun(100, func() {
		pl.Evaluate(w, p)
		for s, load := range testLoads {
			if pl.LoadRule(NodeLoad{Value: load, Live: true}) == LoadAllowed {
				out[s] = int64(pl.NodeScore(s, load))
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Evaluate and node scores allocate %v times per pod, want 0", allocs)
	}
}

func TestStaleLiveValues(t *testing.T) {
	w := testWorld()
	// par's live health expired and fra's live RTT from paris expired.
	w.Sites.HealthStale[1] = true
	w.RTTProvenance[0*2+0] |= Stale
	p := &Policy{AllowAll: true, Sources: []int{0}, Weights: []float64{1}, WLatency: 1}
	pl, _ := scoreAll(w, p)
	if pl.NumFeasible() != 4 {
		t.Errorf("with declared values standing in, %d sites feasible, want 4", pl.NumFeasible())
	}
	p.RejectStaleHealth, p.RejectStaleRTT = true, true
	pl.Evaluate(w, p)
	if pl.SiteReason(0) != ReasonStale || pl.SiteReason(1) != ReasonStale || pl.NumFeasible() != 2 {
		t.Errorf("rejecting stale data: reasons %v %v, %d feasible; want stale, stale, 2", pl.SiteReason(0), pl.SiteReason(1), pl.NumFeasible())
	}
	// A stale RTT from a source the policy does not use does not matter.
	p.Sources = []int{1}
	pl.Evaluate(w, p)
	if pl.SiteReason(0) != Feasible {
		t.Errorf("fra rejected for a stale RTT from a source the policy does not use: %v", pl.SiteReason(0))
	}
}

func TestProvenanceString(t *testing.T) {
	for p, want := range map[Provenance]string{
		Declared:                            "declared",
		Estimated:                           "estimated (distance prior)",
		Estimated | Fitted:                  "estimated (fitted)",
		Live:                                "live",
		Stale:                               "declared; live value stale",
		Estimated | Stale:                   "estimated (distance prior); live value stale",
		Stale | Absent:                      "declared; no live value",
		Estimated | Stale | Absent:          "estimated (distance prior); no live value",
		Estimated | Fitted | Stale | Absent: "estimated (fitted); no live value",
	} {
		if got := p.String(); got != want {
			t.Errorf("Provenance(%d) = %q, want %q", p, got, want)
		}
	}
}

func TestCountryCodeAndTierNames(t *testing.T) {
	for _, code := range []string{"AA", "DE", "FR", "ZZ"} {
		i, ok := CountryIndex(code)
		if !ok || CountryCode(i) != code {
			t.Errorf("CountryCode(CountryIndex(%q)) = %q", code, CountryCode(i))
		}
	}
	if TierEdge.String() != "Edge" || Tier(9).String() != "Unknown" {
		t.Errorf("tier names: %q, %q", TierEdge, Tier(9))
	}
}

// TestSiteTerms checks that the breakdown explanations show adds up to the
// node's score parts: the TestMixedWeights world, par with load 0 is
// 0.5·1 + 0.25·0.5714 (site part) + 0.25·1 (load part).
func TestSiteTerms(t *testing.T) {
	w := testWorld()
	p := &Policy{AllowAll: true, Sources: []int{0}, Weights: []float64{1}, Cores: 1, WLatency: 2, WCost: 1, WLoad: 1}
	var pl Plan
	pl.Evaluate(w, p)
	for s := range w.Sites.Len() {
		for _, load := range []float64{0, 0.25, 1} {
			terms := pl.SiteTerms(s, load)
			n := pl.NodeScore(s, load)
			if site, part := toScale(terms.Latency+terms.Cost, FineMaxScore), toScale(terms.Load, FineMaxScore); site != n.Site() || part != n.Load() {
				t.Errorf("site %d load %v: terms %+v give parts %d and %d, NodeScore %d and %d", s, load, terms, site, part, n.Site(), n.Load())
			}
		}
	}
	got := pl.SiteTerms(1, 0)
	want := Terms{Latency: 0.5, Cost: 0.25 * 0.04 / 0.07, Load: 0.25}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("par terms (-want,+got):\n%s", diff)
	}
}
