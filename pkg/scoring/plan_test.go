package scoring

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testWorld has four sites and two sources:
//
//	site  tier      country tags  cpu/h  mem/h  RTT paris  RTT milan
//	0 fra Cloud     DE      EU    0.03   0.004  11         12
//	1 par Regional  FR      EU    0.05   0.006   2         17
//	2 zrh Edge      CH      -     0.09   0.012  13          6
//	3 iad Cloud     US      -     0.02   0.003  78         95
//
// and one node per site, loads 0.5, 0.0, 0.25, 1.0.
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
			PriceStale:       make([]bool, 4),
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
		RTTFlags: make([]uint8, 8),
		Nodes: Nodes{
			Names:     []string{"n-fra", "n-par", "n-zrh", "n-iad"},
			Site:      []int32{0, 1, 2, 3},
			Load:      []float64{0.5, 0, 0.25, 1},
			LoadLive:  make([]bool, 4),
			LoadStale: make([]bool, 4),
		},
	}
}

func scoreAll(w *World, p *Policy) (*Plan, []int64) {
	var pl Plan
	pl.Compile(w, p)
	out := make([]int64, w.Nodes.Len())
	pl.ScoreAll(out)
	return &pl, out
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
	if pl.SiteReason(1) != ReasonMaxRTT || pl.SiteReason(3) != ReasonMaxRTT || pl.NodeFeasible(1) {
		t.Errorf("par and iad should fail max RTT; reasons %v %v", pl.SiteReason(1), pl.SiteReason(3))
	}
	if c := pl.ReasonCounts(); c[Feasible] != 2 || c[ReasonMaxRTT] != 2 {
		t.Errorf("reason counts = %v, want 2 feasible and 2 max RTT", c)
	}
	if got, want := pl.ExcludedSummary(), "2 sites: max RTT 15 ms"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
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
	pl.Compile(w, &p)
	if diff := cmp.Diff([]int32{0}, pl.Ranked()); diff != "" {
		t.Errorf("ranking with FR denied (-want,+got):\n%s", diff)
	}
	// Unknown residency data fails closed.
	w.Sites.ResidencyUnknown[0] = true
	pl.Compile(w, &p)
	if pl.NumFeasible() != 0 || pl.SiteReason(0) != ReasonResidency {
		t.Errorf("a site with unknown residency data must be infeasible; feasible=%d", pl.NumFeasible())
	}
}

func TestTierHealthAndLoad(t *testing.T) {
	w := testWorld()
	w.Sites.Healthy[0] = false
	w.Nodes.LoadLive[2] = true
	// Cloud and Edge only; fra unhealthy; zrh node live load 0.25 over a
	// 0.2 bound. Load-only weights: node score = round(100·(1 - load)).
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
	if pl.NodeFeasible(2) {
		t.Error("zrh node is above the load bound and must be infeasible")
	}
	if !pl.NodeFeasible(3) {
		t.Error("iad node has no live load and must stay feasible")
	}
}

func TestMixedWeights(t *testing.T) {
	w := testWorld()
	// Latency (Paris only) 2, cost (1 core) 1, load 1 → normalized 0.5, 0.25, 0.25.
	//   RTT: fra 11, par 2, zrh 13, iad 78 → latTerm fra 67/76 = 0.8816, par 1, zrh 65/76 = 0.8553, iad 0
	//   cost: fra 0.03, par 0.05, zrh 0.09, iad 0.02 → costTerm fra 0.06/0.07 = 0.8571, par 0.5714, zrh 0, iad 1
	//   load: 0.5, 0, 0.25, 1 → 1-u = 0.5, 1, 0.75, 0
	// fra 0.5·0.8816 + 0.25·0.8571 + 0.25·0.5  = 0.7801 → 78
	// par 0.5·1      + 0.25·0.5714 + 0.25·1    = 0.8929 → 89
	// zrh 0.5·0.8553 + 0.25·0      + 0.25·0.75 = 0.6151 → 62
	// iad 0.5·0      + 0.25·1      + 0.25·0    = 0.25   → 25
	p := &Policy{AllowAll: true, Sources: []int{0}, Weights: []float64{1}, Cores: 1, WLatency: 2, WCost: 1, WLoad: 1}
	_, got := scoreAll(w, p)
	if diff := cmp.Diff([]int64{78, 89, 62, 25}, got); diff != "" {
		t.Errorf("scores (-want,+got):\n%s", diff)
	}
}

func TestNodeWithoutSite(t *testing.T) {
	w := testWorld()
	w.Nodes.Site[1] = -1
	p := &Policy{AllowAll: true, WLoad: 1}
	pl, got := scoreAll(w, p)
	if got[1] != 0 || pl.NodeFeasible(1) {
		t.Errorf("a node in no site must be infeasible and score 0, got %d", got[1])
	}
	idx := []int32{0, 1}
	out := make([]int64, 2)
	pl.ScoreNodes(idx, out)
	if out[0] != got[0] || out[1] != 0 {
		t.Errorf("ScoreNodes = %v, want [%d 0]", out, got[0])
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

func TestCompileAllocatesNothing(t *testing.T) {
	w := testWorld()
	p := &Policy{AllowAll: true, Sources: []int{0, 1}, Weights: []float64{2, 1}, Cores: 1, WLatency: 1, WCost: 1, WLoad: 1}
	var pl Plan
	out := make([]int64, w.Nodes.Len())
	pl.Compile(w, p)
	allocs := testing.AllocsPerRun(100, func() {
		pl.Compile(w, p)
		pl.ScoreAll(out)
	})
	if allocs != 0 {
		t.Errorf("Compile+ScoreAll allocate %v times per pod, want 0", allocs)
	}
}

func TestStaleLiveValues(t *testing.T) {
	w := testWorld()
	// par's live health expired and fra's live RTT from paris expired.
	w.Sites.HealthStale[1] = true
	w.RTTFlags[0*2+0] |= RTTStale
	p := &Policy{AllowAll: true, Sources: []int{0}, Weights: []float64{1}, WLatency: 1}
	pl, _ := scoreAll(w, p)
	if pl.NumFeasible() != 4 {
		t.Errorf("with declared values standing in, %d sites feasible, want 4", pl.NumFeasible())
	}
	p.RejectStaleHealth, p.RejectStaleRTT = true, true
	pl.Compile(w, p)
	if pl.SiteReason(0) != ReasonStale || pl.SiteReason(1) != ReasonStale || pl.NumFeasible() != 2 {
		t.Errorf("rejecting stale data: reasons %v %v, %d feasible; want stale, stale, 2", pl.SiteReason(0), pl.SiteReason(1), pl.NumFeasible())
	}
	// A stale RTT from a source the policy does not use does not matter.
	p.Sources = []int{1}
	pl.Compile(w, p)
	if pl.SiteReason(0) != Feasible {
		t.Errorf("fra rejected for a stale RTT from a source the policy does not use: %v", pl.SiteReason(0))
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
