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

// Package probeplan decides which (source, site) round-trip times, and
// which RTTs between sites (links.go), the fleet's blackbox exporters
// measure: the pairs whose measurement would change a placement, first,
// within a budget. It is pure math over the
// scoring core's World, like pkg/scoring: pkg/state builds its Input from a
// snapshot, proxima-controller serves the plan to Prometheus, and kubectl
// proxima shows it.
//
// A pair is a candidate when nobody declared its RTT and a policy that
// names its source allows its site by every rule but the RTT bound
// (residency, tier, health, telemetry freshness, at a site with nodes).
// Candidates are ranked in three tiers:
//
//   - Bound: the pair decides a policy's hard max RTT at the site. Its
//     RTT may be within the bound (the estimate less its margin is) but
//     its upper bound without a measurement is not, so the site is
//     excluded (or would be, were the measurement gone) only because the
//     RTT is unsure. Under latency.estimates Reject, or
//     telemetry.onStale.rtt Reject, every unmeasured pair of an otherwise
//     allowed site decides. A site whose other pairs rule it out (a
//     declared RTT over the bound, an estimate over it by more than its
//     margin) is not probed; one a live measurement puts over the bound
//     keeps only that pair, to see it come back.
//   - Ranking: the pair's uncertainty could change which site is the
//     policy's closest. With every unmeasured pair at its upper bound a
//     site's latency is pessimistic, at its value minus the same margin
//     optimistic; the sites whose optimistic latency beats the best
//     pessimistic one are contenders, and their unsure pairs are ranked.
//   - Refresh: every other candidate, a few per round in rotation, so that
//     a pair nobody needs today is measured now and then.
//
// Within a tier pairs go by the site's rank in the policy's latency order
// (closest first), across policies a pair counts at its best tier and
// rank. A pair measured live is judged as it would be without its
// measurement, so that a pair stays planned while it decides something
// (a plan that dropped it would bring its estimate back, and the doubt
// with it).
//
// The budget caps the pairs planned per round, in all and per site (each
// site's exporter probes its own pairs); the pairs it leaves out are
// counted as deferred.
package probeplan

import (
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Tier is why a pair is probed.
type Tier uint8

// Tiers, most important first.
const (
	TierBound Tier = iota
	TierRanking
	TierRefresh
	NumTiers
	noTier = NumTiers
)

var tierText = [NumTiers]string{"bound", "ranking", "refresh"}

func (t Tier) String() string {
	if t < NumTiers {
		return tierText[t]
	}
	return "none"
}

// Policy is one PlacementPolicy in the core's terms.
type Policy struct {
	// Name is namespace/name.
	Name  string
	Rules *scoring.Policy
}

// Input is what a plan is made from.
type Input struct {
	World *scoring.World
	// Central, Upper and Margin have the World's RTT layout: for each
	// pair, its RTT and upper bound as they would be without a live
	// measurement (an estimated pair's own values, a live pair's estimate
	// with a bound no tighter than the distance prior's, so that it stays
	// planned while it decides a bound), and the estimate's own margin
	// (upper bound less central value: what ranks sites and tells a
	// plausible RTT from one ruled out); NaN for a pair whose RTT is
	// declared, which is never probed.
	Central, Upper, Margin []float64
	Policies               []Policy
	// Probeable marks the sites with nodes (where an exporter runs); nil
	// for every site.
	Probeable []bool
}

// Budget bounds the probes of one round.
type Budget struct {
	// Pairs is the most pairs planned in a round; PerSite the most at one
	// site; Refresh the most of them from the refresh tier.
	Pairs, PerSite, Refresh int
}

// DefaultBudget is the budget proxima-controller and kubectl proxima use
// unless told otherwise: at one probe per pair every 30 s, 2,000 pairs are
// about 67 probes a second fleet-wide and at most 64 per site.
var DefaultBudget = Budget{Pairs: 2000, PerSite: 64, Refresh: 200}

// FlagSet is the part of a flag set (package flag's or pflag's) that
// AddFlags uses.
type FlagSet interface {
	IntVar(p *int, name string, value int, usage string)
}

// AddFlags adds the budget's flags, with DefaultBudget's values as
// defaults: proxima-controller and kubectl proxima share them.
func (b *Budget) AddFlags(fs FlagSet) {
	d := DefaultBudget
	fs.IntVar(&b.Pairs, "probe-pairs", d.Pairs, "The most RTT pairs probed per round, fleet-wide.")
	fs.IntVar(&b.PerSite, "probe-pairs-per-site", d.PerSite, "The most RTT pairs probed per round from one site.")
	fs.IntVar(&b.Refresh, "probe-refresh-pairs", d.Refresh, "The most of them per round from the refresh tier (pairs no decision needs now).")
}

// Pair is one planned (or candidate) pair.
type Pair struct {
	Site, Source int
	Tier         Tier
	// Policy is the policy (namespace/name) the pair matters most to, and
	// MaxRTT its max RTT in ms (0 for none).
	Policy string
	MaxRTT float64
	// Rank is the site's position in that policy's latency order among
	// the sites its other rules allow (1 is the closest).
	Rank int
	// Value and Provenance are the RTT in use; Central and Upper what the
	// RTT and its bound would be without a measurement.
	Value, Central, Upper float64
	Provenance            scoring.Provenance
}

// Why says why the pair is probed, for people.
func (p *Pair) Why() string {
	switch p.Tier {
	case TierBound:
		rank := " (site rank " + strconv.Itoa(p.Rank) + ")"
		switch {
		case !known(p.Upper):
			return "nothing to estimate it from: only a measurement can meet " + p.Policy + "'s max RTT " + ms(p.MaxRTT) + " ms" + rank
		case p.Upper > p.MaxRTT:
			return "upper bound " + ms(p.Upper) + " ms is over " + p.Policy + "'s max RTT " + ms(p.MaxRTT) + " ms, the RTT may be within it" + rank
		}
		return p.Policy + " takes no estimated or stale RTT under its max RTT " + ms(p.MaxRTT) + " ms" + rank
	case TierRanking:
		return "±" + ms(p.Upper-p.Central) + " ms could make the site " + p.Policy + "'s closest (rank " + strconv.Itoa(p.Rank) + ")"
	}
	return "refresh: " + p.Policy + " allows the site"
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Candidates are every pair worth probing, with its best tier: the part of
// a plan that depends on the world only. Make it once per world (a
// snapshot memoizes it) and plan each round from it.
type Candidates struct {
	world   *scoring.World
	central []float64
	upper   []float64
	margin  []float64
	// tier, rank and policy of each pair (World RTT layout); tier noTier
	// for a pair that is not a candidate.
	tier   []Tier
	rank   []int32
	policy []int32
	names  []string
	maxRTT []float64 // by policy
	// ranked are the bound and ranking candidates, best first; refresh
	// the refresh candidates by site, then source.
	ranked, refresh []int32
	counts          [NumTiers]int
	// links are the pairs of sites (WithLinks); nil for none.
	links *linkSet
}

// Find makes the candidates of a world.
func Find(in Input) *Candidates {
	w := in.World
	n, m := w.Sites.Len(), w.NumSources()
	c := &Candidates{world: w, central: in.Central, upper: in.Upper, margin: in.Margin, tier: make([]Tier, n*m), rank: make([]int32, n*m),
		policy: make([]int32, n*m)}
	for k := range c.tier {
		c.tier[k] = noTier
	}
	if len(in.Central) != n*m || len(in.Upper) != n*m || len(in.Margin) != n*m {
		return c
	}
	var relaxed scoring.Plan
	order := make([]int32, 0, n)
	rank := make([]int32, n)
	out := make([]bool, n)
	for pi, pol := range in.Policies {
		c.names = append(c.names, pol.Name)
		c.maxRTT = append(c.maxRTT, pol.Rules.MaxRTT)
		if len(pol.Rules.Sources) == 0 {
			continue
		}
		// Every rule but the RTT bound (and the cost cap, which depends on
		// a pod's requests, and stale RTTs, which a measurement refreshes).
		r := *pol.Rules
		r.MaxRTT, r.MaxHourly, r.RejectStaleRTT = 0, 0, false
		relaxed.Evaluate(w, &r)
		order = order[:0]
		for s := range n {
			if relaxed.SiteFeasible(s) && (in.Probeable == nil || in.Probeable[s]) {
				order = append(order, int32(s))
			}
		}
		slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(relaxed.SiteLatency(int(a)), relaxed.SiteLatency(int(b))) })
		for i, s := range order {
			rank[s] = int32(i + 1)
		}
		c.boundTier(pi, pol.Rules, order, rank, out)
		c.rankingTier(pi, pol.Rules, order, rank, out)
		for _, s := range order {
			if out[s] {
				continue
			}
			for _, j := range pol.Rules.Sources {
				c.offer(int(s)*m+j, TierRefresh, rank[s], pi)
			}
		}
	}
	for k, t := range c.tier {
		switch t {
		case TierBound, TierRanking:
			c.ranked = append(c.ranked, int32(k))
		case TierRefresh:
			c.refresh = append(c.refresh, int32(k))
		default:
			continue
		}
		c.counts[t]++
	}
	slices.SortStableFunc(c.ranked, func(a, b int32) int {
		if x := cmp.Compare(c.tier[a], c.tier[b]); x != 0 {
			return x
		}
		return cmp.Compare(c.rank[a], c.rank[b])
	})
	return c
}

// offer records pair k at a tier and rank for policy pi if that is better
// than what it has. Declared pairs are never candidates.
func (c *Candidates) offer(k int, t Tier, rank int32, pi int) {
	if math.IsNaN(c.central[k]) {
		return
	}
	if t < c.tier[k] || t == c.tier[k] && rank < c.rank[k] {
		c.tier[k], c.rank[k], c.policy[k] = t, rank, int32(pi)
	}
}

// boundTier offers the pairs that decide the policy's max RTT at a site
// its other rules allow, and marks out the sites the bound excludes on
// what is known: a declared RTT over it, an estimate whose lower side
// (central value less its margin) is over it, or a live value over it. A
// site a live value excludes keeps only that pair planned, to see it come
// back within the bound unless the estimate rules that out too.
func (c *Candidates) boundTier(pi int, p *scoring.Policy, order []int32, rank []int32, out []bool) {
	w := c.world
	m := w.NumSources()
	for _, s := range order {
		out[s] = false
	}
	if p.MaxRTT <= 0 {
		return
	}
	always := p.EstimatedRTT == scoring.EstimatesReject || p.RejectStaleRTT
	for _, s := range order {
		base := int(s) * m
		unsure, liveOver := false, false
		for _, j := range p.Sources {
			k := base + j
			v, central := w.RTT[k], c.central[k]
			if math.IsNaN(central) {
				// Declared: it holds or fails on its own.
				if !(v <= p.MaxRTT) {
					out[s] = true
				}
				continue
			}
			plausible := !known(central) || central-c.margin[k] <= p.MaxRTT
			measured := w.RTTProvenance[k]&scoring.Live != 0 && known(v)
			switch {
			case measured && v > p.MaxRTT && plausible:
				liveOver = true
			case measured && v > p.MaxRTT, !measured && !plausible:
				out[s] = true
			case always || decides(p, central, c.upper[k]):
				unsure = true
			}
		}
		switch {
		case out[s]:
		case liveOver:
			out[s] = true
			for _, j := range p.Sources {
				k := base + j
				if v := w.RTT[k]; w.RTTProvenance[k]&scoring.Live != 0 && known(v) && v > p.MaxRTT {
					c.offer(k, TierBound, rank[s], pi)
				}
			}
		case unsure:
			for _, j := range p.Sources {
				if k := base + j; always || decides(p, c.central[k], c.upper[k]) {
					c.offer(k, TierBound, rank[s], pi)
				}
			}
		}
	}
}

// decides reports whether a pair of this central value and upper bound
// without a measurement fails the policy's max RTT as it judges estimates:
// conservatively by the bound, or by the central value.
func decides(p *scoring.Policy, central, upper float64) bool {
	if p.EstimatedRTT == scoring.EstimatesCentral {
		return !(central <= p.MaxRTT)
	}
	return !(upper <= p.MaxRTT)
}

// rankingTier offers the unsure pairs of the sites that could be the
// policy's closest, among those the bound does not rule out.
func (c *Candidates) rankingTier(pi int, p *scoring.Policy, order []int32, rank []int32, out []bool) {
	if !(p.WLatency > 0) || len(order) < 2 {
		return
	}
	w := c.world
	m := w.NumSources()
	var total float64
	for _, wt := range p.Weights {
		total += max(wt, 0)
	}
	if !(total > 0) {
		return
	}
	// Optimistic and pessimistic latency of each site.
	lo := make([]float64, len(order))
	hi := make([]float64, len(order))
	best := math.Inf(1)
	for i, s := range order {
		if out[s] {
			lo[i], hi[i] = math.Inf(1), math.Inf(1)
			continue
		}
		var l, d, worstLo, worstHi float64
		for x, j := range p.Sources {
			k := int(s)*m + j
			v := w.RTT[k]
			if !known(v) {
				l = math.Inf(1)
				break
			}
			margin := 0.0
			if ce := c.central[k]; known(ce) {
				margin = c.margin[k]
			} else if !math.IsNaN(ce) {
				margin = math.Inf(1)
			}
			wt := max(p.Weights[x], 0) / total
			l += wt * v
			d += wt * margin
			worstLo, worstHi = max(worstLo, v-margin), max(worstHi, v+margin)
		}
		if p.Objective == scoring.WorstCase {
			lo[i], hi[i] = worstLo, worstHi
		} else {
			lo[i], hi[i] = l-d, l+d
		}
		if math.IsInf(l, 1) {
			lo[i], hi[i] = math.Inf(1), math.Inf(1)
		}
		best = min(best, hi[i])
	}
	contenders := 0
	for i := range order {
		if lo[i] <= best {
			contenders++
		}
	}
	if contenders < 2 {
		return
	}
	for i, s := range order {
		if !(lo[i] <= best) {
			continue
		}
		for x, j := range p.Sources {
			k := int(s)*m + j
			if p.Weights[x] > 0 && !math.IsNaN(c.central[k]) && !(c.margin[k] < minMargin) {
				c.offer(k, TierRanking, rank[s], pi)
			}
		}
	}
}

// minMargin is the least uncertainty (ms) worth a probe for ranking:
// measurements jitter by about that much.
const minMargin = 1.0

func known(v float64) bool { return v >= 0 && v < scoring.UnknownRTT }

// Wanted is the number of candidates of each tier.
func (c *Candidates) Wanted() [NumTiers]int { return c.counts }

// Lookup returns pair (site s, source j) as a candidate; false when it is
// not one.
func (c *Candidates) Lookup(s, j int) (Pair, bool) {
	m := c.world.NumSources()
	k := s*m + j
	if s < 0 || j < 0 || j >= m || k >= len(c.tier) || c.tier[k] == noTier {
		return Pair{}, false
	}
	return c.pair(k), true
}

func (c *Candidates) pair(k int) Pair {
	m := c.world.NumSources()
	v, p := c.world.RTTAt(k/m, k%m)
	pi := c.policy[k]
	return Pair{Site: k / m, Source: k % m, Tier: c.tier[k], Policy: c.names[pi], MaxRTT: c.maxRTT[pi], Rank: int(c.rank[k]),
		Value: v, Central: c.central[k], Upper: c.upper[k], Provenance: p}
}

// Plan is one round's probes.
type Plan struct {
	// Pairs are the planned (source, site) pairs, and Links the planned
	// pairs of sites (WithLinks), most important first.
	Pairs []Pair
	Links []Link
	// Wanted counts the candidates of each tier, Deferred those the
	// budget left out of this round (refresh candidates wait for a later
	// round by design), pairs and links together.
	Wanted, Deferred [NumTiers]int
}

// Find returns the planned pair (site s, source j); false when it is not
// planned this round.
func (p *Plan) Find(s, j int) (Pair, bool) {
	for _, pr := range p.Pairs {
		if pr.Site == s && pr.Source == j {
			return pr, true
		}
	}
	return Pair{}, false
}

// Plan takes the round's pairs and links within the budget: bound and
// ranking candidates best first (by tier, then by the site's rank; a pair
// before a link at the same tier and rank), then up to b.Refresh refresh
// candidates, rotating through them from round to round. A link counts
// against its probing site's budget. A budget field of 0 or less leaves
// that count unbounded.
func (c *Candidates) Plan(b Budget, round uint64) *Plan {
	n := c.world.Sites.Len()
	p := &Plan{Wanted: c.counts}
	ls := c.links
	if ls == nil {
		ls = &linkSet{}
	}
	for t, k := range ls.counts {
		p.Wanted[t] += k
	}
	perSite := make([]int32, n)
	m := c.world.NumSources()
	room := func(s int) bool {
		if b.Pairs > 0 && len(p.Pairs)+len(p.Links) >= b.Pairs {
			return false
		}
		if b.PerSite > 0 && int(perSite[s]) >= b.PerSite {
			return false
		}
		perSite[s]++
		return true
	}
	takePair := func(k int32) bool {
		if !room(int(k) / m) {
			return false
		}
		p.Pairs = append(p.Pairs, c.pair(int(k)))
		return true
	}
	takeLink := func(k int32) bool {
		if !room(int(ls.all[k].site)) {
			return false
		}
		p.Links = append(p.Links, ls.link(k))
		return true
	}
	for i, j := 0, 0; i < len(c.ranked) || j < len(ls.ranked); {
		if j == len(ls.ranked) || i < len(c.ranked) && !linkFirst(c, ls, c.ranked[i], ls.ranked[j]) {
			if k := c.ranked[i]; !takePair(k) {
				p.Deferred[c.tier[k]]++
			}
			i++
			continue
		}
		if k := ls.ranked[j]; !takeLink(k) {
			p.Deferred[ls.all[k].tier]++
		}
		j++
	}
	// The refresh candidates: the pairs', then the links', as one list.
	if all := len(c.refresh) + len(ls.refresh); all > 0 {
		refresh := all
		if b.Refresh > 0 {
			refresh = min(refresh, b.Refresh)
		}
		start := int((round * uint64(refresh)) % uint64(all))
		taken := 0
		for i := range all {
			if taken >= refresh {
				break
			}
			var ok bool
			if x := (start + i) % all; x < len(c.refresh) {
				ok = takePair(c.refresh[x])
			} else {
				ok = takeLink(ls.refresh[x-len(c.refresh)])
			}
			if ok {
				taken++
			}
		}
		p.Deferred[TierRefresh] = all - taken
	}
	return p
}

// linkFirst reports whether link candidate l goes before pair candidate
// k: a better tier, or a better rank at the same tier.
func linkFirst(c *Candidates, ls *linkSet, k, l int32) bool {
	x := &ls.all[l]
	return x.tier < c.tier[k] || x.tier == c.tier[k] && x.rank < c.rank[k]
}
