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
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Objective combines the RTTs of a policy's sources.
type Objective uint8

// Objectives.
const (
	WeightedMean Objective = iota
	WorstCase
)

// Policy is a pod's placement rules in the core's terms.
type Policy struct {
	// Residency: a site is allowed when AllowAll is set or its country is in
	// AllowCountries or it has a tag in AllowTags; and its country is not in
	// DenyCountries and it has no tag in DenyTags.
	AllowAll                    bool
	AllowCountries, DenyCountry CountrySet
	AllowTags, DenyTags         TagSet
	// HasResidency is set when the policy has any residency rule; sites
	// whose residency data is unknown are then infeasible (fail closed).
	HasResidency bool
	Tiers        TierMask

	// Sources are indices into the World's sources, with their weights.
	Sources []int
	Weights []float64
	Objective
	// MaxRTT in milliseconds; 0 means no bound.
	MaxRTT float64
	// EstimatedRTT is how MaxRTT and the dependencies' bounds judge an
	// estimated RTT.
	EstimatedRTT EstimateRule
	// Dependencies are what the pod calls, each with its RTT from every
	// site; they join the latency objective next to Sources (one
	// weighting rule: a weighted mean over both, or the worst of both).
	Dependencies []Dependency
	// MaxHourly cost of one pod, egress included; 0 means no cap.
	MaxHourly float64
	// SentGiB is what one pod sends to its sources' clients, GiB per
	// hour: it leaves the pod's site (World.Egress). Traffic with a
	// dependency is priced by the dependency (Dependency.Egress).
	SentGiB float64
	// Spread is the spread rule; it depends on where the workload's other
	// pods run, so the Plan does not apply it (JudgeSpread does, per pod).
	Spread Spread
	// The pod's requests: CPU cores, memory GiB, GPUs.
	Cores, MemGiB, GPUs float64

	// Soft objective weights (non-negative).
	WLatency, WCost, WLoad float64
	// MaxLoad is the node utilization above which a node is infeasible,
	// in 0..1; 0 means no bound. Only live loads count.
	MaxLoad float64
	// Reject* make a stale or missing live value (Provenance Stale,
	// Sites.HealthStale, NodeLoad.Stale) infeasible instead of using the
	// declared one.
	RejectStaleRTT, RejectStalePrice, RejectStaleHealth, RejectStaleLoad bool
}

// Dependency is something a pod calls, as the core scores it: the RTT
// from every site to it (the world model weighs the RTTs to the sites
// where its pods run by how many run at each), its weight in the latency
// objective and its hard bound.
type Dependency struct {
	// Weight in the latency objective (non-negative).
	Weight float64
	// MaxRTT in milliseconds; 0 means no bound.
	MaxRTT float64
	// RTT from each site in milliseconds, one entry per site; UnknownRTT
	// where nothing is known. RTT, Upper and Provenance may be shared
	// with other plans (a site's memoized column): the core only reads
	// them.
	RTT []float64
	// Upper is the upper bound of each RTT (the value itself where every
	// pair it is made of is declared or live); nil means none, and a
	// conservative bound rejects every estimate.
	Upper []float64
	// Provenance per site: the bits of every pair the RTT is made of,
	// so an RTT with any estimated pair is Estimated and one with any
	// stale stand-in is Stale.
	Provenance []Provenance
	// Egress is the hourly price, per site the pod may run at, of the
	// traffic one pod exchanges with the dependency (what leaves each
	// sending site at its egress price; +Inf when unknown); nil for none.
	Egress []float64
}

// Judged is the RTT from site s as a hard bound judges it under rule:
// an estimate at its upper bound (EstimatesConservative) or as +Inf
// (EstimatesReject); +Inf when unknown.
func (d *Dependency) Judged(s int, rule EstimateRule) float64 {
	v := d.RTT[s]
	if !(v >= 0) || v >= UnknownRTT {
		return math.Inf(1)
	}
	if d.Provenance[s].IsEstimate() {
		switch rule {
		case EstimatesReject:
			return math.Inf(1)
		case EstimatesConservative:
			if len(d.Upper) != len(d.RTT) {
				return math.Inf(1)
			}
			if u := d.Upper[s]; u >= 0 && u < UnknownRTT {
				return max(u, v)
			}
			return math.Inf(1)
		}
	}
	return v
}

// EstimateRule is how a hard RTT bound (Policy.MaxRTT) judges an RTT that
// is estimated rather than declared or measured (Provenance Estimated).
// Declared and live RTTs are judged as they are under every rule.
type EstimateRule uint8

// Estimate rules.
const (
	// EstimatesConservative judges an estimate at its upper bound
	// (World.RTTUpper): a site is kept only if it meets the bound even
	// when the estimate is that far low.
	EstimatesConservative EstimateRule = iota
	// EstimatesCentral judges an estimate at its central value, the one
	// the score uses.
	EstimatesCentral
	// EstimatesReject makes a site whose RTT to any of the policy's
	// sources is an estimate fail the bound.
	EstimatesReject
)

// Reason is why a site is infeasible; the first failing rule in this order.
type Reason uint8

// Reasons.
const (
	Feasible Reason = iota
	ReasonResidency
	ReasonTier
	ReasonUnhealthy
	ReasonStale
	ReasonMaxRTT
	ReasonDependencyRTT
	ReasonMaxCost
	NumReasons
)

var reasonText = [NumReasons]string{"feasible", "residency", "tier", "site unhealthy", "stale or missing telemetry", "max RTT", "dependency RTT", "max cost"}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonText[r]
	}
	return "unknown"
}

// MaxScore is the best node score.
const MaxScore = 100

// Plan is one pod's policy evaluated against a World. A Plan can be reused:
// Evaluate overwrites it and allocates only when the World grows.
//
// Scores. For a feasible site s, with weights normalized to sum to 1 and
// each term min-max normalized over the feasible sites so that 1 is the
// best feasible value and 0 the worst:
//
//	latTerm(s)  = (Lmax - L(s)) / (Lmax - Lmin)   (1 when all feasible sites tie)
//	costTerm(s) = (Cmax - C(s)) / (Cmax - Cmin)   (likewise)
//	site(s)     = wLat·latTerm(s) + wCost·costTerm(s)
//
// where L(s) is the weighted mean (or worst case) RTT over the policy's
// sources and dependencies and C(s) the pod's hourly cost at s (its requests
// at the site's prices plus the egress of its declared traffic). Among the nodes a scheduler
// examines for the pod (its candidates), a node n in feasible site s with
// utilization u (0..1; requested share when no live value) scores
//
//	node(n) = round(100 · ((wLat + wCost)·cand(s) + wLoad·(1 - u)))
//	cand(s) = (site(s) - min site) / (max site - min site)   (1 when the candidates' sites tie)
//
// with min and max over the candidates' sites (NodeScore, CandidateScore).
// The site part is stretched over the candidates, so that the policy's
// objective separates the candidate sites however close they are compared
// with the whole world; the load part keeps its absolute scale, so nodes of
// one site differ only in proportion to their load (1% of utilization is
// wLoad points) and the scheduler's other score plugins still break ties
// within a site. 100 means best on every weighted term and 0 worst on every
// one; a node in an infeasible site scores 0.
// Unknown values (NaN, negative) count as the worst: +Inf RTT or cost, which
// fail any bound and score 0 on their term.
type Plan struct {
	world  *World
	policy *Policy

	reason  []Reason
	latency []float64 // objective RTT per site (ms)
	bound   []float64 // max RTT over the sources as MaxRTT judges it (ms)
	cost    []float64 // hourly cost per site, egress included
	egress  []float64 // hourly egress of the pod's declared traffic per site
	site    []float64 // site part of the score, 0..(wLat+wCost); infeasibleSite when infeasible
	order   []int32   // feasible sites, best first
	weights []float64 // dense weights over all sources
	wLoad   float64
	wSite   float64 // wLat + wCost
	maxLoad float64
	// the site score's weights and the feasible ranges its terms are
	// normalized over, kept for SiteTerms
	wLat, wCost            float64
	lmin, lmax, cmin, cmax float64
	counts                 [NumReasons]int32
	nFeas                  int
}

// Evaluate evaluates policy p against world w into the plan.
func (pl *Plan) Evaluate(w *World, p *Policy) {
	pl.world, pl.policy = w, p
	n := w.Sites.Len()
	pl.reason = grow(pl.reason, n)
	pl.latency = grow(pl.latency, n)
	pl.bound = grow(pl.bound, n)
	pl.cost = grow(pl.cost, n)
	pl.egress = grow(pl.egress, n)
	pl.site = grow(pl.site, n)
	pl.order = pl.order[:0]
	pl.counts = [NumReasons]int32{}

	pl.latencies(w, p)

	wl, wc, wn := NormalizeWeights(p.WLatency, p.WCost, p.WLoad, len(p.Sources) > 0 || len(p.Dependencies) > 0)
	pl.wLoad, pl.wLat, pl.wCost, pl.wSite = wn, wl, wc, wl+wc
	pl.maxLoad = p.MaxLoad
	if !(pl.maxLoad > 0 && pl.maxLoad <= 1) {
		pl.maxLoad = 0
	}

	maxRTT, maxCost := p.MaxRTT, p.MaxHourly
	lmin, lmax := math.Inf(1), math.Inf(-1)
	cmin, cmax := math.Inf(1), math.Inf(-1)
	sites := &w.Sites
	for s := range n {
		e := pl.egressAt(w, p, s)
		c := w.HourlyCost(s, p.Cores, p.MemGiB, p.GPUs) + e
		pl.cost[s], pl.egress[s] = c, e
		r := Feasible
		switch {
		case !pl.allowed(s):
			r = ReasonResidency
		case !p.Tiers.Has(sites.Tier[s]):
			r = ReasonTier
		case !sites.Healthy[s]:
			r = ReasonUnhealthy
		case p.RejectStaleHealth && sites.HealthStale[s], p.RejectStalePrice && sites.PriceProvenance[s]&Stale != 0 && p.MaxHourly > 0,
			p.RejectStaleRTT && pl.staleRTT(w, s):
			r = ReasonStale
		case maxRTT > 0 && !(pl.bound[s] <= maxRTT):
			r = ReasonMaxRTT
		case pl.DependencyOverBound(s) >= 0:
			r = ReasonDependencyRTT
		case maxCost > 0 && !(c <= maxCost):
			r = ReasonMaxCost
		}
		pl.reason[s] = r
		pl.counts[r]++
		if r != Feasible {
			pl.site[s] = infeasibleSite
			continue
		}
		pl.order = append(pl.order, int32(s))
		if l := pl.latency[s]; !math.IsInf(l, 0) {
			lmin, lmax = min(lmin, l), max(lmax, l)
		}
		if !math.IsInf(c, 0) {
			cmin, cmax = min(cmin, c), max(cmax, c)
		}
	}
	pl.nFeas = len(pl.order)
	pl.lmin, pl.lmax, pl.cmin, pl.cmax = lmin, lmax, cmin, cmax

	for _, s := range pl.order {
		pl.site[s] = wl*unit(pl.latency[s], lmin, lmax) + wc*unit(pl.cost[s], cmin, cmax)
	}
	site := pl.site
	slices.SortFunc(pl.order, func(a, b int32) int {
		switch {
		case site[a] > site[b]:
			return -1
		case site[a] < site[b]:
			return 1
		}
		return int(a - b)
	})
}

// egressAt is the hourly price of the traffic one pod declares when it runs
// at site s: what it sends to its sources' clients, leaving s, and what it
// exchanges with each placed dependency (Dependency.Egress).
func (pl *Plan) egressAt(w *World, p *Policy, s int) float64 {
	e := w.Egress(s, p.SentGiB)
	for i := range p.Dependencies {
		if eg := p.Dependencies[i].Egress; len(eg) == w.Sites.Len() {
			e += eg[s]
		}
	}
	if math.IsNaN(e) {
		return math.Inf(1)
	}
	return e
}

// NormalizeWeights makes a policy's soft weights (latency, cost, load) the
// shares the score uses: negative, NaN or infinite weights count as 0, the
// latency weight is 0 for a policy without sources, and the rest are scaled
// to sum to 1. When every weight is 0 all three are 0: every feasible site
// then scores the same and sites are ranked by index.
func NormalizeWeights(latency, cost, load float64, hasSources bool) (wl, wc, wn float64) {
	wl, wc, wn = nonNeg(latency), nonNeg(cost), nonNeg(load)
	if !hasSources {
		wl = 0
	}
	if sum := wl + wc + wn; sum > 0 {
		wl, wc, wn = wl/sum, wc/sum, wn/sum
	}
	return wl, wc, wn
}

// latencies fills pl.latency (the objective) and pl.bound (the worst RTT
// over the sources as the hard bound judges it) for every site.
// The weighted mean is one matrix-vector product: latency = RTT · weights,
// with RTT as a [sites × sources] matrix and the policy's weights scattered
// into a dense vector over all sources, plus each dependency's RTT vector
// with its share of the weights.
func (pl *Plan) latencies(w *World, p *Policy) {
	n, m := w.Sites.Len(), w.NumSources()
	k := min(len(p.Sources), len(p.Weights))
	deps := p.Dependencies
	if (k == 0 || m == 0) && len(deps) == 0 || n == 0 {
		clear(pl.latency)
		clear(pl.bound)
		return
	}
	total := 0.0
	for i := range deps {
		total += nonNeg(deps[i].Weight)
	}
	if k > 0 && m > 0 {
		total += pl.sourceLatencies(w, p, total)
	} else {
		clear(pl.latency)
		clear(pl.bound)
	}
	if len(deps) == 0 {
		return
	}
	usable := total > 0 && !math.IsInf(total, 0)
	for s := range n {
		l := pl.latency[s]
		for i := range deps {
			d := &deps[i]
			v := math.Inf(1)
			if s < len(d.RTT) && s < len(d.Provenance) && d.RTT[s] >= 0 && d.RTT[s] < UnknownRTT {
				v = d.RTT[s]
			}
			switch {
			case math.IsInf(v, 1):
				l = v
			case p.Objective == WorstCase:
				l = max(l, v)
			case usable:
				l += nonNeg(d.Weight) / total * v
			}
		}
		if !usable {
			l = math.Inf(1)
		}
		pl.latency[s] = l
	}
}

// sourceLatencies fills pl.latency with the sources' part of the objective
// (their weights over depTotal plus their own) and pl.bound, for a
// policy with sources; it returns the sources' total weight.
func (pl *Plan) sourceLatencies(w *World, p *Policy, depTotal float64) float64 {
	n, m := w.Sites.Len(), w.NumSources()
	k := min(len(p.Sources), len(p.Weights))
	pl.weights = grow(pl.weights, m)
	clear(pl.weights)
	srcTotal := 0.0
	for i := range k {
		j, wt := p.Sources[i], nonNeg(p.Weights[i])
		if j < 0 || j >= m {
			continue
		}
		pl.weights[j] += wt
		srcTotal += wt
	}
	total := srcTotal + depTotal
	if srcTotal > 0 && !math.IsInf(total, 0) {
		for j := range pl.weights {
			pl.weights[j] /= total
		}
		blas64.Gemv(blas.NoTrans, 1,
			blas64.General{Rows: n, Cols: m, Stride: m, Data: w.RTT[:n*m]},
			blas64.Vector{N: m, Inc: 1, Data: pl.weights},
			0, blas64.Vector{N: n, Inc: 1, Data: pl.latency})
	} else {
		clear(pl.latency)
	}
	// The hard bound reads the upper bounds in the same pass (every pair's
	// upper bound is its value unless it is an estimate), and only a policy
	// that rejects estimates reads provenance.
	upper := p.EstimatedRTT == EstimatesConservative && len(w.RTTUpper) == len(w.RTT)
	// A world without upper bounds gives a conservative bound nothing to
	// judge an estimate by: it fails, as under EstimatesReject.
	reject := p.EstimatedRTT == EstimatesReject || (p.EstimatedRTT == EstimatesConservative && !upper)
	for s := range n {
		row := w.RTT[s*m : s*m+m]
		worst, bound := math.Inf(-1), math.Inf(-1)
		if upper {
			// An upper bound is unknown exactly when its value is, so the
			// upper bounds alone say whether the objective is finite; the
			// central worst case is read only when it is the objective.
			urow := w.RTTUpper[s*m : s*m+m]
			for i := range k {
				j := p.Sources[i]
				if j < 0 || j >= m {
					bound = math.Inf(1)
					continue
				}
				if u := urow[j]; !(u >= 0) || u >= UnknownRTT {
					bound = math.Inf(1)
				} else if u > bound {
					bound = u
				}
			}
			worst = bound
			if p.Objective == WorstCase && !math.IsInf(bound, 1) {
				worst = math.Inf(-1)
				for _, j := range p.Sources[:k] {
					worst = max(worst, row[j])
				}
			}
		} else {
			for i := range k {
				j := p.Sources[i]
				if j < 0 || j >= m {
					worst = math.Inf(1)
					continue
				}
				if v := row[j]; !(v >= 0) || v >= UnknownRTT {
					worst = math.Inf(1)
				} else if v > worst {
					worst = v
				}
			}
			bound = worst
			if reject && !math.IsInf(worst, 1) && pl.anyEstimate(w, s) {
				bound = math.Inf(1)
			}
		}
		pl.bound[s] = bound
		if !(srcTotal > 0) || math.IsInf(total, 0) || !(pl.latency[s] >= 0) {
			pl.latency[s] = math.Inf(1)
		}
		if p.Objective == WorstCase || math.IsInf(worst, 1) {
			pl.latency[s] = worst
		}
	}
	return srcTotal
}

// DependencyOverBound is the index of the first of the policy's
// dependencies whose RTT from site s, as its hard bound judges it
// (Dependency.Judged), is over that bound; -1 when none is.
func (pl *Plan) DependencyOverBound(s int) int {
	for i := range pl.policy.Dependencies {
		d := &pl.policy.Dependencies[i]
		if d.MaxRTT > 0 && !(d.Judged(s, pl.policy.EstimatedRTT) <= d.MaxRTT) {
			return i
		}
	}
	return -1
}

// anyEstimate reports whether the RTT from any of the policy's sources to
// site s is an estimate.
func (pl *Plan) anyEstimate(w *World, s int) bool {
	m := w.NumSources()
	for _, j := range pl.policy.Sources[:min(len(pl.policy.Sources), len(pl.policy.Weights))] {
		if w.RTTProvenance[s*m+j].IsEstimate() {
			return true
		}
	}
	return false
}

func (pl *Plan) allowed(s int) bool {
	p, sites := pl.policy, &pl.world.Sites
	if !p.HasResidency {
		return true
	}
	if sites.ResidencyUnknown[s] {
		return false
	}
	c, tags := sites.Country[s], &sites.Tags[s]
	if p.DenyCountry.Has(c) || p.DenyTags.Intersects(tags) {
		return false
	}
	return p.AllowAll || p.AllowCountries.Has(c) || p.AllowTags.Intersects(tags)
}

func (pl *Plan) staleRTT(w *World, s int) bool {
	for _, j := range pl.policy.Sources {
		if j >= 0 && j < w.NumSources() {
			if _, f := w.RTTAt(s, j); f&Stale != 0 {
				return true
			}
		}
	}
	return pl.staleDependency(s)
}

// staleDependency reports whether the RTT from site s to any dependency
// reads a stand-in for a stale or missing live value.
func (pl *Plan) staleDependency(s int) bool {
	for i := range pl.policy.Dependencies {
		if pl.policy.Dependencies[i].Provenance[s]&Stale != 0 {
			return true
		}
	}
	return false
}

// SiteFeasible reports whether site s passes the hard rules.
func (pl *Plan) SiteFeasible(s int) bool {
	return uint(s) < uint(len(pl.site)) && pl.site[s] >= 0
}

// SiteReason is why site s is infeasible (Feasible when it is not).
func (pl *Plan) SiteReason(s int) Reason { return pl.reason[s] }

// Evidence is a value a judgement about a running pod may rest on: a fresh
// live value, or a declared one that no live signal stands behind (the
// user's own statement). An estimate (its central value or its upper
// bound) and a declared value standing in for a stale or missing live one
// are not evidence: they can make a site look worse only because data is
// missing.
func Evidence(p Provenance) bool { return p&(Estimated|Stale) == 0 }

// SiteBreachProven reports whether site s breaks the hard rule SiteReason
// names on evidence alone: residency and tier always (the spec says so);
// site health when its signal is fresh; max RTT when a pair whose RTT is
// evidence exceeds the bound; a dependency's bound when its RTT is made
// of evidence alone and exceeds it; max cost when the site's prices are
// evidence. A site excluded only by estimates, stand-ins or stale
// telemetry (ReasonStale) is not proven to break anything: the scheduler
// keeps refusing it for new pods, but a pod running there is not moved
// for it.
func (pl *Plan) SiteBreachProven(s int) bool {
	w, p := pl.world, pl.policy
	switch pl.reason[s] {
	case ReasonResidency, ReasonTier:
		return true
	case ReasonUnhealthy:
		return !w.Sites.HealthStale[s]
	case ReasonMaxRTT:
		m := w.NumSources()
		for _, j := range p.Sources[:min(len(p.Sources), len(p.Weights))] {
			if j < 0 || j >= m {
				continue
			}
			if v, f := w.RTTAt(s, j); Evidence(f) && v < UnknownRTT && v > p.MaxRTT {
				return true
			}
		}
	case ReasonDependencyRTT:
		for i := range p.Dependencies {
			d := &p.Dependencies[i]
			if v := d.RTT[s]; d.MaxRTT > 0 && Evidence(d.Provenance[s]) && v < UnknownRTT && v > d.MaxRTT {
				return true
			}
		}
	case ReasonMaxCost:
		return Evidence(w.Sites.PriceProvenance[s]) && pl.cost[s] > p.MaxHourly && !math.IsInf(pl.cost[s], 1)
	}
	return false
}

// SiteWithoutStandIns reports whether no value site s's soft objective
// reads stands in for a stale or missing live one (Provenance Stale): the
// RTTs from the policy's sources and to its dependencies when latency is
// weighted, the prices when cost is. A site whose objective reads a stand-in may look better or
// worse than it is only because data is missing.
func (pl *Plan) SiteWithoutStandIns(s int) bool {
	w, p := pl.world, pl.policy
	if pl.wLat > 0 {
		m := w.NumSources()
		for _, j := range p.Sources[:min(len(p.Sources), len(p.Weights))] {
			if j >= 0 && j < m {
				if _, f := w.RTTAt(s, j); f&Stale != 0 {
					return false
				}
			}
		}
		if pl.staleDependency(s) {
			return false
		}
	}
	return pl.wCost == 0 || w.Sites.PriceProvenance[s]&Stale == 0
}

// ReasonCounts is how many sites each reason excluded; index Feasible
// counts the feasible sites.
func (pl *Plan) ReasonCounts() [NumReasons]int32 { return pl.counts }

// NumFeasible is the number of feasible sites.
func (pl *Plan) NumFeasible() int { return pl.nFeas }

// Ranked returns the feasible sites, best site score first. The slice is
// owned by the plan.
func (pl *Plan) Ranked() []int32 { return pl.order }

// SiteLatency is the objective RTT at site s in milliseconds.
func (pl *Plan) SiteLatency(s int) float64 { return pl.latency[s] }

// SiteWorstRTT is the largest RTT from the policy's sources to site s in
// milliseconds as the policy's max RTT judges it: an estimate at its upper
// bound (EstimatesConservative) or as +Inf (EstimatesReject); +Inf when
// one is unknown. The max RTT rule passes the site when this is within it.
func (pl *Plan) SiteWorstRTT(s int) float64 { return pl.bound[s] }

// SiteCost is the pod's hourly cost at site s, egress included.
func (pl *Plan) SiteCost(s int) float64 { return pl.cost[s] }

// SiteEgress is the part of SiteCost that is egress of the pod's declared
// traffic (Policy.SentGiB, Dependency.Egress).
func (pl *Plan) SiteEgress(s int) float64 { return pl.egress[s] }

// Terms are the weighted parts of a node's score on the 0..1 scale of
// Plan's formula before the scheduler stretches the site part over its
// candidates: Latency = wLat·latTerm(s), Cost = wCost·costTerm(s), Load =
// wLoad·(1 - u). Latency + Cost is NodeScore's site part and Load its load
// part.
type Terms struct {
	Latency, Cost, Load float64
}

// Total is the node's score on the 0..1 scale.
func (t Terms) Total() float64 { return t.Latency + t.Cost + t.Load }

// SiteTerms is the breakdown of the score of a node in site s with load
// in 0..1 (NaN: unknown, counted as fully loaded), as NodeScore computes
// it; all zero when s is infeasible.
func (pl *Plan) SiteTerms(s int, load float64) Terms {
	if !pl.SiteFeasible(s) {
		return Terms{}
	}
	return Terms{
		Latency: pl.wLat * unit(pl.latency[s], pl.lmin, pl.lmax),
		Cost:    pl.wCost * unit(pl.cost[s], pl.cmin, pl.cmax),
		Load:    pl.wLoad * (1 - clamp01(load)),
	}
}

// Weights are the normalized soft weights the plan scores with (latency,
// cost, load; NormalizeWeights).
func (pl *Plan) Weights() (latency, cost, load float64) { return pl.wLat, pl.wCost, pl.wLoad }

// NodeLoad is a node's CPU utilization as telemetry reported it.
type NodeLoad struct {
	// Value is the utilization in 0..1.
	Value float64
	// Live is set when telemetry has a value for the node. Stale is set
	// when the signal is read but has no fresh value for the node: the
	// value expired (Live set) or there is none (Live unset: never read,
	// or no series for the node).
	Live, Stale bool
}

// Fresh reports whether l is a live value that has not expired.
func (l NodeLoad) Fresh() bool { return l.Live && !l.Stale }

// LoadVerdict is the outcome of a policy's node utilization rule.
type LoadVerdict uint8

// Load verdicts.
const (
	LoadAllowed LoadVerdict = iota
	// LoadOverLimit: the live utilization is above the policy's maximum.
	LoadOverLimit
	// LoadStaleRejected: the live utilization expired or is missing and
	// the policy rejects stale load.
	LoadStaleRejected
)

// LoadRule applies the policy's node utilization bound (MaxLoad) to a node.
// Only fresh live values count: a stale or missing value passes unless the
// policy rejects stale load, and a node of a signal not read passes.
func (pl *Plan) LoadRule(l NodeLoad) LoadVerdict {
	switch {
	case pl.maxLoad == 0:
		return LoadAllowed
	case l.Stale:
		if pl.policy.RejectStaleLoad {
			return LoadStaleRejected
		}
		return LoadAllowed
	case l.Live && l.Value > pl.maxLoad:
		return LoadOverLimit
	}
	return LoadAllowed
}

// MaxLoad is the policy's node utilization bound in 0..1 (0: none).
func (pl *Plan) MaxLoad() float64 { return pl.maxLoad }

// FineMaxScore is the top of the fine scale a NodeScore's parts are kept
// on: two sites 2 ms apart in a world spanning 400 ms differ by 0.5 points
// on the 0..100 scale, which rounding would erase.
const FineMaxScore = 1 << 20

// NodeScore is a node's score before the scheduler normalizes it over a
// pod's candidates: its site part site(s) and its load part wLoad·(1 - u),
// each on 0..FineMaxScore, packed into one integer so that it travels as a
// framework score. See Plan for the formula, and CandidateScore.
type NodeScore int64

// Site is the site part, 0..FineMaxScore.
func (n NodeScore) Site() int64 { return int64(n) >> 21 }

// Load is the load part, 0..FineMaxScore.
func (n NodeScore) Load() int64 { return int64(n) & (1<<21 - 1) }

// NodeScore is the score of a node in site s with load in 0..1 (NaN:
// unknown, counted as fully loaded); 0 when s is infeasible.
func (pl *Plan) NodeScore(s int, load float64) NodeScore {
	if !pl.SiteFeasible(s) {
		return 0
	}
	return NodeScore(toScale(pl.site[s], FineMaxScore)<<21 | toScale(pl.wLoad*(1-clamp01(load)), FineMaxScore))
}

// CandidateScore is the 0..MaxScore score of a candidate node whose
// NodeScore is n, among candidates whose site parts range over
// siteLo..siteHi (see Plan).
func (pl *Plan) CandidateScore(n NodeScore, siteLo, siteHi int64) int64 {
	return toScale(pl.CandidateValue(n, siteLo, siteHi), MaxScore)
}

// CandidateValue is CandidateScore on 0..1, unrounded.
func (pl *Plan) CandidateValue(n NodeScore, siteLo, siteHi int64) float64 {
	site := pl.wSite
	if siteHi > siteLo {
		site *= float64(n.Site()-siteLo) / float64(siteHi-siteLo)
	}
	return site + float64(n.Load())/FineMaxScore
}

// infeasibleSite marks an infeasible site in Plan.site, so that both a
// node's feasibility and its score read one value (small enough to inline).
const infeasibleSite = -1

func toScale(x float64, top int64) int64 {
	v := int64(x*float64(top) + 0.5)
	return min(max(v, 0), top)
}

// unit maps v to 1 at lo and 0 at hi; 1 when lo == hi; 0 for +Inf or NaN.
func unit(v, lo, hi float64) float64 {
	if !(v <= hi) {
		return 0
	}
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return 1
	}
	return clamp01((hi - v) / (hi - lo))
}

func clamp01(x float64) float64 {
	if !(x >= 0) {
		if x < 0 {
			return 0
		}
		return 1 // NaN: unknown counts as the worst
	}
	if x > 1 {
		return 1
	}
	return x
}

func nonNeg(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 1) {
		return 0
	}
	return x
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// ExcludedSummary says why sites were excluded, most common reason first,
// e.g. "12 sites: residency; 3 sites: max RTT 20 ms". It is empty when no
// site was excluded.
func (pl *Plan) ExcludedSummary() string {
	type rc struct {
		r Reason
		n int32
	}
	var items [NumReasons]rc
	k := 0
	for r := ReasonResidency; r < NumReasons; r++ {
		if n := pl.counts[r]; n > 0 {
			items[k] = rc{r, n}
			k++
		}
	}
	slices.SortStableFunc(items[:k], func(a, b rc) int { return int(b.n - a.n) })
	var sb strings.Builder
	for i, it := range items[:k] {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(strconv.Itoa(int(it.n)))
		if it.n == 1 {
			sb.WriteString(" site: ")
		} else {
			sb.WriteString(" sites: ")
		}
		sb.WriteString(it.r.String())
		switch it.r {
		case ReasonMaxRTT:
			sb.WriteString(" " + strconv.FormatFloat(pl.policy.MaxRTT, 'f', -1, 64) + " ms")
		case ReasonMaxCost:
			sb.WriteString(" " + strconv.FormatFloat(pl.policy.MaxHourly, 'f', -1, 64) + "/h")
		}
	}
	return sb.String()
}
