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

package probeplan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// pairSpec is one pair of a test world: its value and provenance, and
// what it would be without a measurement (NaN for declared).
type pairSpec struct {
	v       float64
	p       scoring.Provenance
	central float64
	upper   float64
}

func declared(v float64) pairSpec {
	return pairSpec{v: v, p: scoring.Declared, central: math.NaN(), upper: math.NaN()}
}
func estimated(v, upper float64) pairSpec {
	return pairSpec{v: v, p: scoring.Estimated | scoring.Fitted, central: v, upper: upper}
}
func live(v, central, upper float64) pairSpec {
	return pairSpec{v: v, p: scoring.Live, central: central, upper: upper}
}

// world makes an Input over sites × sources; pairs[s][j].
func world(countries []string, pairs [][]pairSpec) Input {
	n, m := len(pairs), len(pairs[0])
	w := &scoring.World{}
	st := &w.Sites
	for s := range n {
		c, _ := scoring.CountryIndex(countries[s])
		st.Names = append(st.Names, fmt.Sprintf("s%d", s))
		st.Tier = append(st.Tier, scoring.TierEdge)
		st.Country = append(st.Country, c)
		st.Tags = append(st.Tags, scoring.TagSet{})
		st.ResidencyUnknown = append(st.ResidencyUnknown, false)
		st.CPUPrice = append(st.CPUPrice, 0.01)
		st.MemPrice = append(st.MemPrice, 0)
		st.GPUPrice = append(st.GPUPrice, 0)
		st.PriceProvenance = append(st.PriceProvenance, scoring.Declared)
		st.Healthy = append(st.Healthy, true)
		st.HealthStale = append(st.HealthStale, false)
	}
	for j := range m {
		w.SourceNames = append(w.SourceNames, fmt.Sprintf("c%d", j))
		w.SourceDemand = append(w.SourceDemand, 1)
	}
	in := Input{World: w}
	for s := range n {
		for j := range m {
			ps := pairs[s][j]
			up := ps.v
			if ps.p.IsEstimate() {
				up = ps.upper
			}
			w.RTT = append(w.RTT, ps.v)
			w.RTTUpper = append(w.RTTUpper, up)
			w.RTTProvenance = append(w.RTTProvenance, ps.p)
			in.Central = append(in.Central, ps.central)
			in.Upper = append(in.Upper, ps.upper)
			in.Margin = append(in.Margin, ps.upper-ps.central)
		}
	}
	return in
}

func policy(name string, maxRTT float64, rule scoring.EstimateRule, sources ...int) Policy {
	p := &scoring.Policy{AllowAll: true, Sources: sources, MaxRTT: maxRTT, EstimatedRTT: rule, WLatency: 1, WCost: 1, WLoad: 1}
	for range sources {
		p.Weights = append(p.Weights, 1)
	}
	return Policy{Name: name, Rules: p}
}

type got struct {
	site, source int
	tier         Tier
}

func candidates(c *Candidates) []got {
	var out []got
	n, m := c.world.Sites.Len(), c.world.NumSources()
	for s := range n {
		for j := range m {
			if p, ok := c.Lookup(s, j); ok {
				out = append(out, got{s, j, p.Tier})
			}
		}
	}
	return out
}

func TestFind(t *testing.T) {
	eu := func(p Policy) Policy {
		p.Rules.AllowAll, p.Rules.HasResidency = false, true
		i, _ := scoring.CountryIndex("DE")
		p.Rules.AllowCountries.Add(i)
		return p
	}
	tests := []struct {
		name      string
		countries []string
		pairs     [][]pairSpec
		policies  []Policy
		probeable []bool
		want      []got
	}{{
		name:      "an estimate whose upper bound alone fails the bound decides it; a declared pair never",
		countries: []string{"DE", "DE"},
		pairs: [][]pairSpec{
			{estimated(15, 50), declared(10)},
			{declared(12), declared(11)},
		},
		policies: []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0, 1)},
		want:     []got{{0, 0, TierBound}},
	}, {
		name:      "a site a declared RTT, or an estimate over the bound by more than its margin, puts out is out",
		countries: []string{"DE", "DE", "DE"},
		pairs: [][]pairSpec{
			{estimated(15, 50), declared(60)},
			{estimated(60, 70), declared(10)},
			{estimated(20, 39), declared(10)},
		},
		policies: []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0, 1)},
		// s2's bound is sure and nothing else competes with it: its
		// estimate is only refreshed.
		want: []got{{2, 0, TierRefresh}},
	}, {
		name:      "a live pair stays planned while it would decide without its measurement",
		countries: []string{"DE", "DE"},
		pairs: [][]pairSpec{
			{live(12, 14, 45), live(11, 12, 30)},
			{live(35, 30, 70), declared(90)},
		},
		policies: []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0, 1)},
		want:     []got{{0, 0, TierBound}, {0, 1, TierRefresh}},
	}, {
		name:      "a live value over the bound whose estimate is within keeps being measured",
		countries: []string{"DE"},
		pairs:     [][]pairSpec{{live(45, 30, 55)}},
		policies:  []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0)},
		want:      []got{{0, 0, TierBound}},
	}, {
		name:      "a live value over the bound whose estimate agrees is out",
		countries: []string{"DE"},
		pairs:     [][]pairSpec{{live(45, 60, 70)}},
		policies:  []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0)},
		want:      nil,
	}, {
		name:      "an estimate over the bound within its margin may be within it",
		countries: []string{"DE"},
		pairs:     [][]pairSpec{{estimated(45, 80)}},
		policies:  []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0)},
		want:      []got{{0, 0, TierBound}},
	}, {
		name:      "a live value within the bound stays planned even where its estimate is over it",
		countries: []string{"DE"},
		pairs:     [][]pairSpec{{live(30, 60, 70)}},
		policies:  []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0)},
		want:      []got{{0, 0, TierBound}},
	}, {
		name:      "a site a live value puts over the bound keeps only that pair",
		countries: []string{"DE"},
		pairs:     [][]pairSpec{{live(45, 30, 55), estimated(10, 50)}},
		policies:  []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0, 1)},
		want:      []got{{0, 0, TierBound}},
	}, {
		name:      "residency and sites without nodes are never probed",
		countries: []string{"DE", "US", "DE"},
		pairs: [][]pairSpec{
			{estimated(15, 50)},
			{estimated(15, 50)},
			{estimated(15, 50)},
		},
		policies:  []Policy{eu(policy("ns/p", 40, scoring.EstimatesConservative, 0))},
		probeable: []bool{true, true, false},
		want:      []got{{0, 0, TierBound}},
	}, {
		name:      "under Reject every unmeasured pair of an allowed site decides",
		countries: []string{"DE"},
		pairs:     [][]pairSpec{{estimated(15, 20), live(10, 12, 18), declared(5)}},
		policies:  []Policy{policy("ns/p", 40, scoring.EstimatesReject, 0, 1, 2)},
		want:      []got{{0, 0, TierBound}, {0, 1, TierBound}},
	}, {
		name:      "under Central only a central value over the bound decides",
		countries: []string{"DE", "DE"},
		pairs: [][]pairSpec{
			{estimated(30, 50)},
			{live(20, 45, 60)},
		},
		policies: []Policy{policy("ns/p", 40, scoring.EstimatesCentral, 0)},
		// s0's central is within (no bound tier); both could be the
		// closest, so both rank.
		want: []got{{0, 0, TierRanking}, {1, 0, TierBound}},
	}, {
		name:      "ranking: sites that could be the closest, not the far one",
		countries: []string{"DE", "DE", "DE"},
		pairs: [][]pairSpec{
			{estimated(20, 30)},
			{estimated(24, 34)},
			{estimated(90, 100)},
		},
		policies: []Policy{policy("ns/p", 0, scoring.EstimatesConservative, 0)},
		want:     []got{{0, 0, TierRanking}, {1, 0, TierRanking}, {2, 0, TierRefresh}},
	}, {
		name:      "a pair counts at its best tier over all policies",
		countries: []string{"DE", "DE"},
		pairs: [][]pairSpec{
			{estimated(15, 50)},
			{declared(100)},
		},
		policies: []Policy{
			policy("ns/loose", 0, scoring.EstimatesConservative, 0),
			policy("ns/tight", 40, scoring.EstimatesConservative, 0),
		},
		want: []got{{0, 0, TierBound}},
	}, {
		name:      "an RTT nothing estimates decides a bound",
		countries: []string{"DE"},
		pairs:     [][]pairSpec{{{v: scoring.UnknownRTT, p: scoring.Estimated, central: scoring.UnknownRTT, upper: scoring.UnknownRTT}}},
		policies:  []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0)},
		want:      []got{{0, 0, TierBound}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := world(tt.countries, tt.pairs)
			in.Policies, in.Probeable = tt.policies, tt.probeable
			c := Find(in)
			if g := candidates(c); !slices.Equal(g, tt.want) {
				t.Errorf("candidates %v, want %v", g, tt.want)
			}
			if p, ok := c.Lookup(0, 0); ok && p.Why() == "" {
				t.Error("a candidate without a reason")
			}
		})
	}
}

func TestPlanBudget(t *testing.T) {
	// 4 sites × 6 sources, all estimated and unsure under a bound: 24
	// bound candidates, best site first.
	var pairs [][]pairSpec
	for s := range 4 {
		var row []pairSpec
		for range 6 {
			row = append(row, estimated(10+float64(s), 60))
		}
		pairs = append(pairs, row)
	}
	in := world([]string{"DE", "DE", "DE", "DE"}, pairs)
	in.Policies = []Policy{policy("ns/p", 40, scoring.EstimatesConservative, 0, 1, 2, 3, 4, 5)}
	c := Find(in)
	if w := c.Wanted(); w[TierBound] != 24 {
		t.Fatalf("wanted %v, want 24 bound", w)
	}
	p := c.Plan(Budget{Pairs: 10, PerSite: 4}, 0)
	if len(p.Pairs) != 10 || p.Deferred[TierBound] != 14 {
		t.Fatalf("planned %d, deferred %v; want 10 and 14", len(p.Pairs), p.Deferred)
	}
	per := map[int]int{}
	for i, pr := range p.Pairs {
		per[pr.Site]++
		if i > 0 && pr.Rank < p.Pairs[i-1].Rank {
			t.Errorf("pair %d (rank %d) after rank %d: not best first", i, pr.Rank, p.Pairs[i-1].Rank)
		}
	}
	if per[0] != 4 || per[1] != 4 || per[2] != 2 || per[3] != 0 {
		t.Errorf("per site %v, want 4, 4, 2, 0 (closest sites first, 4 each)", per)
	}
}

func TestRefreshRotates(t *testing.T) {
	// No bound, sites far apart: every pair is a refresh candidate.
	var pairs [][]pairSpec
	for s := range 5 {
		pairs = append(pairs, []pairSpec{estimated(10+50*float64(s), 12+50*float64(s)), estimated(10+50*float64(s), 12+50*float64(s))})
	}
	in := world([]string{"DE", "DE", "DE", "DE", "DE"}, pairs)
	in.Policies = []Policy{policy("ns/p", 0, scoring.EstimatesConservative, 0, 1)}
	c := Find(in)
	if w := c.Wanted(); w[TierRefresh] != 10 {
		t.Fatalf("wanted %v, want 10 refresh", w)
	}
	seen := map[[2]int]int{}
	for round := range uint64(5) {
		p := c.Plan(Budget{Pairs: 100, PerSite: 100, Refresh: 2}, round)
		if len(p.Pairs) != 2 || p.Deferred[TierRefresh] != 8 {
			t.Fatalf("round %d: %d pairs, deferred %v", round, len(p.Pairs), p.Deferred)
		}
		for _, pr := range p.Pairs {
			seen[[2]int{pr.Site, pr.Source}]++
		}
	}
	if len(seen) != 10 {
		t.Errorf("5 rounds of 2 refreshed %d distinct pairs, want all 10", len(seen))
	}
}

func BenchmarkFind(b *testing.B) {
	for _, size := range []struct{ sites, sources, policies int }{{2000, 64, 16}, {10000, 64, 16}} {
		b.Run(fmt.Sprintf("sites=%d/sources=%d/policies=%d", size.sites, size.sources, size.policies), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			countries := make([]string, size.sites)
			pairs := make([][]pairSpec, size.sites)
			for s := range size.sites {
				countries[s] = []string{"DE", "FR", "US", "JP"}[s%4]
				for range size.sources {
					v := 5 + 200*rng.Float64()
					if rng.IntN(10) < 6 {
						pairs[s] = append(pairs[s], declared(v))
					} else {
						pairs[s] = append(pairs[s], estimated(v, v*1.5+10))
					}
				}
			}
			in := world(countries, pairs)
			for i := range size.policies {
				var src []int
				for j := range 16 {
					src = append(src, (i*7+j)%size.sources)
				}
				in.Policies = append(in.Policies, policy(fmt.Sprintf("ns/p%d", i), float64(20+10*(i%8)), scoring.EstimatesConservative, src...))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c := Find(in)
				_ = c.Plan(DefaultBudget, 0)
			}
		})
	}
}
