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
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Pairs of sites. A policy's dependency is as far from a site as the
// pod-weighted mean of the RTTs from that site to the sites where the
// dependency's pods run (pkg/state). A pair of sites (a, b) is a link
// candidate when nobody declared its RTT, a policy with a dependency
// running at b allows a by every rule but the RTT bounds (its own and its
// dependencies'), and a has nodes. Links have two tiers:
//
//   - Bound: the dependency has a max RTT, the RTT from a to it is
//     plausibly within it (every estimated pair at its central value less
//     its margin), and without a measurement the bound fails as the policy
//     judges estimates (at their upper bounds, their central values, or
//     always under latency.estimates Reject or telemetry.onStale.rtt
//     Reject): each estimated pair of a and the dependency's sites decides.
//   - Refresh: every other estimated pair of a site the policy allows and a
//     dependency with a weight in its latency objective.
//
// There is no ranking tier for links yet: the bound tier is what keeps a
// pod Pending. A link is probed from an exporter at a (the site the
// caller may run at) to one at b, so it counts against a's per-site
// budget; one pair offered by several policies, either way round, is
// planned once, at its best tier and rank. A dependency offers at most
// MaxLinksPerDependency links, from the policy's best-ranked sites first:
// a dependency running at hundreds of sites of a fleet of thousands would
// otherwise offer millions, beyond any round's budget.

// Link is one planned (or candidate) pair of sites.
type Link struct {
	// Site is where the policy's pods may run, and the exporter that
	// probes; Peer is where the dependency runs, and the exporter probed.
	Site, Peer int
	Tier       Tier
	// Policy (namespace/name) and Dependency (its name in the policy)
	// the link matters most to, with the dependency's max RTT in ms (0
	// for none).
	Policy, Dependency string
	MaxRTT             float64
	// Rank is Site's position in the policy's latency order among the
	// sites its other rules allow (1 is the closest).
	Rank int
	// Value and Provenance are the RTT in use; Central and Upper what the
	// RTT and its bound would be without a measurement.
	Value, Central, Upper float64
	Provenance            scoring.Provenance
}

// Why says why the link is probed, for people.
func (l *Link) Why() string {
	rank := " (site rank " + strconv.Itoa(l.Rank) + ")"
	switch l.Tier {
	case TierBound:
		switch {
		case !known(l.Upper):
			return "nothing to estimate it from: only a measurement can meet " + l.Policy + "'s max RTT " + ms(l.MaxRTT) +
				" ms to dependency " + l.Dependency + rank
		case l.Upper > l.MaxRTT:
			return "upper bound " + ms(l.Upper) + " ms may put " + l.Policy + "'s dependency " + l.Dependency + " over its max RTT " +
				ms(l.MaxRTT) + " ms" + rank
		}
		return l.Policy + " takes no estimated or stale RTT under dependency " + l.Dependency + "'s max RTT " + ms(l.MaxRTT) + " ms" + rank
	}
	return "refresh: " + l.Policy + " calls dependency " + l.Dependency + rank
}

// LinkPolicy is a policy with placed dependencies, in the core's terms.
type LinkPolicy struct {
	// Name is namespace/name.
	Name string
	// Rules are the policy as the world model judges a pod with no
	// requests, with Dependencies for the placed dependencies.
	Rules *scoring.Policy
	// Dependencies say where each of Rules.Dependencies runs (same
	// order).
	Dependencies []LinkDependency
}

// LinkDependency is where one dependency runs: site indexes and the pods
// at each. No Sites for one whose RTT no measurement can tell (a pod in
// no known Site): it has no link to probe.
type LinkDependency struct {
	Name        string
	Sites, Pods []int32
}

// LinkInput is what the link candidates are made from.
type LinkInput struct {
	Policies []LinkPolicy
	// Unmeasured is the RTT between two sites as it would be without a
	// live measurement (declared, or estimated with its upper bound;
	// scoring.UnknownRTT for both when nothing locates a site) and its
	// provenance: a declared pair (not Estimated) is never probed.
	Unmeasured func(a, b int) (central, upper float64, prov scoring.Provenance)
	// Current is the RTT in use, and its provenance.
	Current func(a, b int) (float64, scoring.Provenance)
}

// MaxLinksPerDependency bounds the links one dependency of one policy
// offers: the default budget's pairs per round.
const MaxLinksPerDependency = 2000

// link is a candidate link.
type link struct {
	site, peer int32
	tier       Tier
	rank       int32
	policy     int32
	dep        int32
}

// linkSet holds the link candidates of a world and its pods.
type linkSet struct {
	in     LinkInput
	names  []string
	deps   [][]string  // by policy, dependency
	maxRTT [][]float64 // by policy, dependency
	all    []link
	// ranked are the bound candidates best first, refresh the others by
	// site, then peer (indexes into all).
	ranked, refresh []int32
	counts          [NumTiers]int
}

// WithLinks returns the candidates with the links of in added; c is left
// as it is (a snapshot shares it).
func (c *Candidates) WithLinks(in LinkInput, probeable []bool) *Candidates {
	out := *c
	out.links = findLinks(c.world, in, probeable)
	return &out
}

func findLinks(w *scoring.World, in LinkInput, probeable []bool) *linkSet {
	n := w.Sites.Len()
	ls := &linkSet{in: in}
	index := map[[2]int32]int32{}
	offer := func(a, b int32, t Tier, rank int32, pi, di int) {
		key := [2]int32{min(a, b), max(a, b)}
		if k, ok := index[key]; ok {
			l := &ls.all[k]
			if t < l.tier || t == l.tier && rank < l.rank {
				*l = link{site: a, peer: b, tier: t, rank: rank, policy: int32(pi), dep: int32(di)}
			}
			return
		}
		index[key] = int32(len(ls.all))
		ls.all = append(ls.all, link{site: a, peer: b, tier: t, rank: rank, policy: int32(pi), dep: int32(di)})
	}
	var relaxed scoring.Plan
	order := make([]int32, 0, n)
	rank := make([]int32, n)
	var peers []int32
	for pi, pol := range in.Policies {
		ls.names = append(ls.names, pol.Name)
		names, bounds := make([]string, len(pol.Dependencies)), make([]float64, len(pol.Dependencies))
		ls.deps, ls.maxRTT = append(ls.deps, names), append(ls.maxRTT, bounds)
		if len(pol.Dependencies) != len(pol.Rules.Dependencies) || in.Unmeasured == nil {
			continue
		}
		// Every rule but the RTT bounds (and the cost cap, which depends
		// on a pod's requests, and stale RTTs, which a measurement
		// refreshes).
		r := *pol.Rules
		r.MaxRTT, r.MaxHourly, r.RejectStaleRTT = 0, 0, false
		r.Dependencies = slices.Clone(pol.Rules.Dependencies)
		for i := range r.Dependencies {
			r.Dependencies[i].MaxRTT = 0
		}
		relaxed.Evaluate(w, &r)
		order = order[:0]
		for s := range n {
			if relaxed.SiteFeasible(s) && (probeable == nil || probeable[s]) {
				order = append(order, int32(s))
			}
		}
		slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(relaxed.SiteLatency(int(a)), relaxed.SiteLatency(int(b))) })
		for i, s := range order {
			rank[s] = int32(i + 1)
		}
		always := pol.Rules.EstimatedRTT == scoring.EstimatesReject || pol.Rules.RejectStaleRTT
		for di, dep := range pol.Dependencies {
			d := &pol.Rules.Dependencies[di]
			names[di], bounds[di] = dep.Name, d.MaxRTT
			if len(dep.Sites) == 0 || len(dep.Pods) != len(dep.Sites) {
				continue
			}
			var total float64
			for _, c := range dep.Pods {
				total += float64(c)
			}
			offered := 0
			for _, a := range order {
				if offered >= MaxLinksPerDependency {
					break
				}
				// The RTT from a to the dependency without measurements:
				// optimistic (lo), as a bound judges it (judged).
				var lo, central, upper float64
				unknown := false
				peers = peers[:0] // the estimated pairs, the ones to probe
				for k, b := range dep.Sites {
					if a == b {
						continue
					}
					share := float64(dep.Pods[k]) / total
					c, u, prov := in.Unmeasured(int(a), int(b))
					if !prov.IsEstimate() {
						lo, central, upper = lo+share*c, central+share*c, upper+share*c
						continue
					}
					peers = append(peers, b)
					if !known(c) || !known(u) {
						unknown = true
						continue
					}
					lo += share * (c - (u - c))
					central += share * c
					upper += share * u
				}
				if len(peers) == 0 {
					continue // declared everywhere: nothing to measure
				}
				tier := noTier
				if d.MaxRTT > 0 {
					if !unknown && lo > d.MaxRTT {
						continue // over the bound on what is known
					}
					judged := upper
					switch {
					case unknown || always:
						judged = math.Inf(1)
					case pol.Rules.EstimatedRTT == scoring.EstimatesCentral:
						judged = central
					}
					if !(judged <= d.MaxRTT) {
						tier = TierBound
					}
				}
				if tier == noTier && d.Weight > 0 {
					tier = TierRefresh
				}
				if tier == noTier {
					continue
				}
				for _, b := range peers {
					offer(a, b, tier, rank[a], pi, di)
				}
				offered += len(peers)
			}
		}
	}
	for k, l := range ls.all {
		if l.tier == TierRefresh {
			ls.refresh = append(ls.refresh, int32(k))
		} else {
			ls.ranked = append(ls.ranked, int32(k))
		}
		ls.counts[l.tier]++
	}
	slices.SortStableFunc(ls.ranked, func(a, b int32) int {
		x, y := &ls.all[a], &ls.all[b]
		return cmp.Or(cmp.Compare(x.tier, y.tier), cmp.Compare(x.rank, y.rank), cmp.Compare(x.site, y.site), cmp.Compare(x.peer, y.peer))
	})
	slices.SortStableFunc(ls.refresh, func(a, b int32) int {
		x, y := &ls.all[a], &ls.all[b]
		return cmp.Or(cmp.Compare(x.site, y.site), cmp.Compare(x.peer, y.peer))
	})
	return ls
}

// link makes candidate k a Link.
func (ls *linkSet) link(k int32) Link {
	l := &ls.all[k]
	out := Link{Site: int(l.site), Peer: int(l.peer), Tier: l.tier, Policy: ls.names[l.policy], Dependency: ls.deps[l.policy][l.dep],
		MaxRTT: ls.maxRTT[l.policy][l.dep], Rank: int(l.rank)}
	out.Central, out.Upper, _ = ls.in.Unmeasured(out.Site, out.Peer)
	if ls.in.Current != nil {
		out.Value, out.Provenance = ls.in.Current(out.Site, out.Peer)
	}
	return out
}
