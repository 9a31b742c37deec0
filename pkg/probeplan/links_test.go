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
	"math"
	"slices"
	"testing"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// linkWorld is a world of sites (one source nobody uses) whose site pairs
// are links[a][b] (symmetric; the diagonal is 0).
type linkWorld struct {
	in    Input
	links [][]pairSpec
}

func newLinkWorld(countries []string, links map[[2]int]pairSpec) *linkWorld {
	n := len(countries)
	pairs := make([][]pairSpec, n)
	lw := &linkWorld{links: make([][]pairSpec, n)}
	for a := range n {
		pairs[a] = []pairSpec{declared(5)}
		lw.links[a] = make([]pairSpec, n)
		for b := range n {
			lw.links[a][b] = declared(0)
			if a != b {
				lw.links[a][b] = estimated(30, 60)
			}
		}
	}
	for k, v := range links {
		lw.links[k[0]][k[1]], lw.links[k[1]][k[0]] = v, v
	}
	lw.in = world(countries, pairs)
	return lw
}

func (lw *linkWorld) unmeasured(a, b int) (float64, float64, scoring.Provenance) {
	p := lw.links[a][b]
	if !p.p.IsEstimate() && p.p&scoring.Live == 0 {
		return p.v, p.v, p.p
	}
	return p.central, p.upper, scoring.Estimated | scoring.Fitted
}

func (lw *linkWorld) current(a, b int) (float64, scoring.Provenance) {
	return lw.links[a][b].v, lw.links[a][b].p
}

// dependency is a policy's dependency running at sites (pods each), as
// the world model gives it to the core: the pod-weighted mean of the
// RTTs in use and of their bounds.
func (lw *linkWorld) dependency(maxRTT, weight float64, sites, pods []int32) (scoring.Dependency, LinkDependency) {
	n := len(lw.links)
	d := scoring.Dependency{Weight: weight, MaxRTT: maxRTT, RTT: make([]float64, n), Upper: make([]float64, n), Provenance: make([]scoring.Provenance, n)}
	var total float64
	for _, c := range pods {
		total += float64(c)
	}
	for a := range n {
		for k, b := range sites {
			share := float64(pods[k]) / total
			p := lw.links[a][b]
			up := p.v
			if p.p.IsEstimate() {
				up = p.upper
			}
			d.RTT[a] += share * p.v
			d.Upper[a] += share * up
			d.Provenance[a] |= p.p
		}
	}
	return d, LinkDependency{Name: "db", Sites: sites, Pods: pods}
}

type gotLink struct {
	site, peer int
	tier       Tier
}

func (lw *linkWorld) plan(pols []LinkPolicy, probeable []bool, b Budget) *Plan {
	in := LinkInput{Policies: pols, Unmeasured: lw.unmeasured, Current: lw.current}
	return Find(lw.in).WithLinks(in, probeable).Plan(b, 0)
}

func linksOf(p *Plan) []gotLink {
	out := []gotLink{}
	for _, l := range p.Links {
		out = append(out, gotLink{l.Site, l.Peer, l.Tier})
	}
	slices.SortFunc(out, func(x, y gotLink) int { return x.site*100 + x.peer - y.site*100 - y.peer })
	return out
}

func TestFindLinks(t *testing.T) {
	de := func(p *scoring.Policy) {
		p.AllowAll, p.HasResidency = false, true
		i, _ := scoring.CountryIndex("DE")
		p.AllowCountries.Add(i)
	}
	type dep struct {
		maxRTT, weight float64
		sites, pods    []int32
	}
	for _, tc := range []struct {
		name      string
		countries []string
		links     map[[2]int]pairSpec
		rule      scoring.EstimateRule
		stale     bool
		edit      func(*scoring.Policy)
		deps      []dep
		probeable []bool
		want      []gotLink
	}{{
		name:      "an estimate whose bound fails a max RTT it may meet decides",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(10, 40)},
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{{0, 1, TierBound}},
	}, {
		name:      "an estimate within the bound is only refreshed",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(10, 15)},
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{{0, 1, TierRefresh}},
	}, {
		name:      "nor without a weight",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(10, 15)},
		deps:      []dep{{20, 0, []int32{1}, []int32{1}}},
		want:      []gotLink{},
	}, {
		name:      "an estimate over the bound by more than its margin is not probed",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(60, 80)},
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{},
	}, {
		name:      "a declared pair is never probed",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: declared(10)},
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{},
	}, {
		name:      "a live pair is judged as it would be without its measurement, and stays planned",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: live(3, 10, 40)},
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{{0, 1, TierBound}},
	}, {
		name:      "central estimates: within the bound at the central value",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(10, 40)},
		rule:      scoring.EstimatesCentral,
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{{0, 1, TierRefresh}},
	}, {
		name:      "estimates rejected: every plausible estimate decides",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(10, 15)},
		rule:      scoring.EstimatesReject,
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{{0, 1, TierBound}},
	}, {
		name:      "stale RTTs rejected: likewise",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(10, 15)},
		stale:     true,
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{{0, 1, TierBound}},
	}, {
		name:      "nothing locates the pair: only a measurement can tell",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(scoring.UnknownRTT, scoring.UnknownRTT)},
		deps:      []dep{{20, 1, []int32{1}, []int32{1}}},
		want:      []gotLink{{0, 1, TierBound}},
	}, {
		name:      "a site the residency rule excludes is not probed from",
		countries: []string{"DE", "FR", "DE"},
		links:     map[[2]int]pairSpec{{0, 2}: estimated(10, 40), {1, 2}: estimated(10, 40), {0, 1}: estimated(10, 40)},
		edit:      de,
		deps:      []dep{{20, 1, []int32{2}, []int32{1}}},
		want:      []gotLink{{0, 2, TierBound}},
	}, {
		name:      "nor a site without nodes",
		countries: []string{"DE", "DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 2}: estimated(10, 40), {1, 2}: estimated(10, 40), {0, 1}: estimated(10, 40)},
		deps:      []dep{{20, 1, []int32{2}, []int32{1}}},
		probeable: []bool{false, true, true},
		want:      []gotLink{{1, 2, TierBound}},
	}, {
		name:      "a dependency at two sites: only its estimated pairs, weighted by its pods",
		countries: []string{"DE", "DE", "DE"},
		// Upper bounds from 0: 3/4 × 5 + 1/4 × 40 = 13.75, from 1:
		// 3/4 × 0 + 1/4 × 70 = 17.5, both within 20; from 2: 3/4 × 70 +
		// 1/4 × 0 = 52.5, over it, and 3/4 × (30 - 40) plausible.
		links: map[[2]int]pairSpec{{0, 1}: declared(5), {0, 2}: estimated(10, 40), {1, 2}: estimated(30, 70)},
		deps:  []dep{{20, 1, []int32{1, 2}, []int32{3, 1}}},
		want:  []gotLink{{0, 2, TierRefresh}, {2, 1, TierBound}},
	}, {
		name:      "a pair two dependencies share is planned once, at its best tier",
		countries: []string{"DE", "DE"},
		links:     map[[2]int]pairSpec{{0, 1}: estimated(10, 40)},
		deps:      []dep{{0, 1, []int32{1}, []int32{1}}, {20, 1, []int32{0}, []int32{1}}},
		want:      []gotLink{{1, 0, TierBound}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			lw := newLinkWorld(tc.countries, tc.links)
			rules := &scoring.Policy{AllowAll: true, EstimatedRTT: tc.rule, RejectStaleRTT: tc.stale, WLatency: 1, WCost: 1}
			if tc.edit != nil {
				tc.edit(rules)
			}
			pol := LinkPolicy{Name: "ns/p", Rules: rules}
			for _, d := range tc.deps {
				core, where := lw.dependency(d.maxRTT, d.weight, d.sites, d.pods)
				rules.Dependencies = append(rules.Dependencies, core)
				pol.Dependencies = append(pol.Dependencies, where)
			}
			p := lw.plan([]LinkPolicy{pol}, tc.probeable, Budget{})
			if got := linksOf(p); !slices.Equal(got, tc.want) {
				t.Errorf("links %v, want %v", got, tc.want)
			}
			for _, l := range p.Links {
				if l.Policy != "ns/p" || l.Dependency != "db" || l.Why() == "" {
					t.Errorf("link %+v: policy, dependency or why missing", l)
				}
				if want, _ := lw.current(l.Site, l.Peer); l.Value != want && !(math.IsNaN(want) && math.IsNaN(l.Value)) {
					t.Errorf("link %+v: value %v, want the RTT in use %v", l, l.Value, want)
				}
			}
		})
	}
}

// TestPlanLinksShareTheBudget: pairs and links are planned best first
// together, a link counting against the site it is probed from.
func TestPlanLinksShareTheBudget(t *testing.T) {
	// 3 sites; the source's pairs are unsure under a 40 ms bound at
	// every site (3 bound pairs), and the policy's dependency runs at
	// site 2 (2 bound links, from 0 and 1).
	lw := newLinkWorld([]string{"DE", "DE", "DE"}, map[[2]int]pairSpec{{0, 2}: estimated(10, 40), {1, 2}: estimated(11, 40)})
	for s := range 3 {
		lw.in.World.RTT[s] = 10 + float64(s)
		lw.in.World.RTTProvenance[s] = scoring.Estimated
		lw.in.Central[s], lw.in.Upper[s], lw.in.Margin[s] = 10+float64(s), 60, 50-float64(s)
	}
	// The client pairs' planner sees the policy without its
	// dependencies (pkg/state), the links' planner with them.
	pol := policy("ns/p", 40, scoring.EstimatesConservative, 0)
	withDeps := *pol.Rules
	core, where := lw.dependency(20, 1, []int32{2}, []int32{1})
	withDeps.Dependencies = []scoring.Dependency{core}
	lw.in.Policies = []Policy{pol}
	c := Find(lw.in).WithLinks(LinkInput{Policies: []LinkPolicy{{Name: pol.Name, Rules: &withDeps, Dependencies: []LinkDependency{where}}},
		Unmeasured: lw.unmeasured, Current: lw.current}, nil)
	all := c.Plan(Budget{}, 0)
	if len(all.Pairs) != 3 || len(all.Links) != 2 || all.Wanted[TierBound] != 5 {
		t.Fatalf("unbounded: %d pairs, %d links, wanted %v; want 3, 2 and 5 bound", len(all.Pairs), len(all.Links), all.Wanted)
	}
	// One probe per site: site 0 takes its pair (rank 1, a pair before a
	// link), site 1 likewise, site 2 its pair; both links wait.
	p := c.Plan(Budget{PerSite: 1}, 0)
	if len(p.Pairs) != 3 || len(p.Links) != 0 || p.Deferred[TierBound] != 2 {
		t.Errorf("one per site: %d pairs, %d links, deferred %v; want 3, 0 and 2", len(p.Pairs), len(p.Links), p.Deferred)
	}
	// Four in all, by rank: the pairs rank sites 0, 1, 2 (by the
	// source's RTT); the links 0 and 1 second and third (site 2, where
	// the dependency runs, is the policy's closest and has no link).
	// Pair 1, pair 2, link 2, pair 3 go; link 3 waits.
	p = c.Plan(Budget{Pairs: 4}, 0)
	if len(p.Pairs) != 3 || len(p.Links) != 1 || p.Links[0].Rank != 2 || p.Deferred[TierBound] != 1 {
		t.Errorf("four in all: %d pairs, links %+v, deferred %v; want 3, one of rank 2, and 1", len(p.Pairs), p.Links, p.Deferred)
	}
	// The snapshot's candidates are left without links.
	if p := Find(lw.in).Plan(Budget{}, 0); len(p.Links) != 0 {
		t.Errorf("candidates without WithLinks planned %d links", len(p.Links))
	}
}

// TestLinksPerDependency: a dependency offers at most
// MaxLinksPerDependency links, from the policy's best-ranked sites.
func TestLinksPerDependency(t *testing.T) {
	n := MaxLinksPerDependency + 500
	countries := make([]string, n)
	links := map[[2]int]pairSpec{}
	for a := range n {
		countries[a] = "DE"
		// Site a is 10 + a/1000 ms from the database's site 0 (upper
		// bound 40 ms, over the 20 ms bound): farther sites rank lower.
		links[[2]int{a, 0}] = estimated(10+float64(a)/1000, 40)
	}
	links[[2]int{0, 0}] = declared(0)
	lw := &linkWorld{links: make([][]pairSpec, n)}
	pairs := make([][]pairSpec, n)
	for a := range n {
		pairs[a] = []pairSpec{declared(5)}
		lw.links[a] = make([]pairSpec, n)
	}
	for k, v := range links {
		lw.links[k[0]][k[1]], lw.links[k[1]][k[0]] = v, v
	}
	lw.in = world(countries, pairs)
	rules := &scoring.Policy{AllowAll: true, WLatency: 1}
	core, where := lw.dependency(20, 1, []int32{0}, []int32{1})
	rules.Dependencies = []scoring.Dependency{core}
	p := lw.plan([]LinkPolicy{{Name: "ns/p", Rules: rules, Dependencies: []LinkDependency{where}}}, nil, Budget{})
	if len(p.Links) != MaxLinksPerDependency || p.Wanted[TierBound] != MaxLinksPerDependency {
		t.Fatalf("%d links planned, %d wanted; want %d", len(p.Links), p.Wanted[TierBound], MaxLinksPerDependency)
	}
	for _, l := range p.Links {
		if l.Site > MaxLinksPerDependency {
			t.Errorf("link from site %d (rank %d) kept: want the %d closest sites", l.Site, l.Rank, MaxLinksPerDependency)
			break
		}
	}
}
