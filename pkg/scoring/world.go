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

// Package scoring is Proxima's vectorized placement core. It knows nothing of
// Kubernetes: a World is flat arrays of sites and traffic sources with the
// RTT matrix between them, a Policy is a pod's rules in the core's terms,
// and a Plan is a policy evaluated against a World: the feasible sites, why
// each other site was excluded, the site scores and their ranking.
//
// Latency, cost and residency are properties of sites, not nodes, so a pod's
// work is: decide the feasible sites (residency, tier, health, max RTT, max
// cost), score the sites (one matrix-vector product for the latency term),
// then, per candidate node, read its site's score and add the node's load
// (Plan.NodeScore) and apply the node-load rule (Plan.LoadRule). A Plan
// owns its buffers and can be reused, so evaluation allocates nothing in
// steady state.
package scoring

import (
	"math"
	"strconv"
	"strings"
)

// Tier of a site on the cloud-to-edge continuum.
type Tier uint8

// Tiers, as in the placement API.
const (
	TierCloud Tier = iota
	TierRegional
	TierEdge
	TierDevice
	numTiers
)

var tierNames = [numTiers]string{"Cloud", "Regional", "Edge", "Device"}

// String is the tier's name in the placement API.
func (t Tier) String() string {
	if t < numTiers {
		return tierNames[t]
	}
	return "Unknown"
}

// TierMask is a set of tiers; the zero mask means any tier.
type TierMask uint8

// Has reports whether t is in m (any tier when m is zero).
func (m TierMask) Has(t Tier) bool { return m == 0 || m&(1<<t) != 0 }

// CountrySet is a set of ISO 3166-1 alpha-2 codes, one bit per code (26×26).
type CountrySet [11]uint64

// CountryIndex maps an upper-case alpha-2 code to 0..675; ok is false for
// anything else.
func CountryIndex(code string) (idx uint16, ok bool) {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return 0, false
	}
	return uint16(code[0]-'A')*26 + uint16(code[1]-'A'), true
}

// CountryCode is the inverse of CountryIndex.
func CountryCode(idx uint16) string {
	return string([]byte{byte('A' + idx/26%26), byte('A' + idx%26)})
}

// Add puts the country with index i in the set.
func (s *CountrySet) Add(i uint16) { s[i/64] |= 1 << (i % 64) }

// Has reports whether the country with index i is in the set.
func (s *CountrySet) Has(i uint16) bool { return s[i/64]&(1<<(i%64)) != 0 }

// Empty reports whether the set has no country.
func (s *CountrySet) Empty() bool { return *s == CountrySet{} }

// TagSet is a set of jurisdiction tags, by index into the World's tag table.
type TagSet [4]uint64

// MaxTags is how many distinct jurisdiction tags a World can represent.
const MaxTags = 256

// Add puts tag i in the set.
func (s *TagSet) Add(i int) { s[i/64] |= 1 << (i % 64) }

// Intersects reports whether the sets share a tag.
func (s *TagSet) Intersects(o *TagSet) bool {
	return s[0]&o[0]|s[1]&o[1]|s[2]&o[2]|s[3]&o[3] != 0
}

// Empty reports whether the set has no tag.
func (s *TagSet) Empty() bool { return *s == TagSet{} }

// Provenance says where a value in the World came from. Its bits combine:
// an estimated RTT whose live value expired is Estimated|Stale, one with no
// live value at all Estimated|Stale|Absent.
type Provenance uint8

const (
	// Declared is a value as the Site or TrafficSource declares it.
	Declared Provenance = 0
	// Estimated marks an RTT that nobody declared or measured: the world
	// model's estimate (from distance alone, or Fitted).
	Estimated Provenance = 1 << (iota - 1)
	// Live marks a fresh value from telemetry.
	Live
	// Stale marks a value whose signal is read but has no fresh live value
	// for it: the declared (or estimated) value is in use, and a policy
	// that rejects stale values rejects it.
	Stale
	// Absent, with Stale, says there is no live value at all (the signal
	// was never read, or its last read had no series for the value) rather
	// than one that expired.
	Absent
	// Fitted, with Estimated, says the estimate comes from the RTT model
	// fitted to the declared and live RTTs rather than from the distance
	// prior alone.
	Fitted
)

// IsEstimate reports whether the value is an estimate rather than declared
// or measured.
func (p Provenance) IsEstimate() bool { return p&Estimated != 0 }

// estimateKind names the estimator of an estimated RTT.
func (p Provenance) estimateKind() string {
	if p&Fitted != 0 {
		return "estimated (fitted)"
	}
	return "estimated (distance prior)"
}

// String says where the value came from, as explanations show it.
func (p Provenance) String() string {
	switch {
	case p&(Stale|Absent|Estimated) == Stale|Absent|Estimated:
		return p.estimateKind() + "; no live value"
	case p&(Stale|Absent) == Stale|Absent:
		return "declared; no live value"
	case p&Stale != 0 && p&Estimated != 0:
		return p.estimateKind() + "; live value stale"
	case p&Stale != 0:
		return "declared; live value stale"
	case p&Live != 0:
		return "live"
	case p&Estimated != 0:
		return p.estimateKind()
	}
	return "declared"
}

// UnknownRTT is the value the RTT matrix holds for a pair with neither a
// measurement nor an estimate. It is finite so that the matrix-vector
// product stays exact for policies that do not use the pair (0 × Inf would
// be NaN); a policy that does use it sees +Inf, which fails every bound.
const UnknownRTT = 1e9

// Sites is the site table in struct-of-arrays form; every slice has one
// entry per site.
type Sites struct {
	Names []string
	Tier  []Tier
	// Country is the CountryIndex of the site's country.
	Country []uint16
	// Tags are the site's jurisdiction tags.
	Tags []TagSet
	// ResidencyUnknown marks a site whose country or tags could not be
	// represented: it is infeasible for every policy with residency rules.
	ResidencyUnknown []bool
	// Prices per hour: one CPU core, one GiB of memory, one GPU. NaN or
	// negative means unknown, which no cost cap accepts.
	CPUPrice, MemPrice, GPUPrice []float64
	// PriceProvenance says whether the prices are declared or scaled by a
	// live multiplier, and whether that multiplier expired or is missing.
	PriceProvenance []Provenance
	// EgressPrice is the price of one GiB leaving the site (0 when free);
	// NaN or negative means unknown, which no cost cap accepts when the
	// site sends a policy's traffic.
	EgressPrice []float64
	// Healthy is false for a site whose uplink or health signal is down.
	Healthy []bool
	// HealthStale marks a site whose health signal is read but has no
	// fresh value for it, expired or missing (the site counts as healthy,
	// as declared).
	HealthStale []bool
}

// Len is the number of sites.
func (s *Sites) Len() int { return len(s.Tier) }

// World is everything the core scores against: sites, sources and the dense
// RTT matrix. It is immutable once built. Nodes are not in it: a node is
// scored through its site (Plan.NodeScore), so the core's work per pod
// follows the sites, not the cluster.
type World struct {
	Sites Sites
	// SourceNames has one entry per traffic source.
	SourceNames []string
	// SourceDemand is each source's default weight.
	SourceDemand []float64
	// RTT is the [sites × sources] matrix of round-trip times in
	// milliseconds, row-major: RTT[site*NumSources()+source]; UnknownRTT
	// where nothing is known.
	RTT []float64
	// RTTProvenance has the same layout as RTT.
	RTTProvenance []Provenance
	// RTTUpper has the same layout as RTT: the upper bound of each RTT,
	// the value itself where declared or live, a one-sided 95% bound from
	// the estimator's measured errors where estimated (see
	// Policy.EstimatedRTT). nil means none: RTTUpperAt returns RTT itself,
	// and a conservative hard bound rejects every estimate.
	RTTUpper []float64
	// Tags is the jurisdiction tag table that TagSets index.
	Tags []string
}

// NumSources is the number of traffic sources.
func (w *World) NumSources() int { return len(w.SourceNames) }

// RTTAt returns the RTT from source j to site s and its provenance.
func (w *World) RTTAt(s, j int) (float64, Provenance) {
	k := s*w.NumSources() + j
	return w.RTT[k], w.RTTProvenance[k]
}

// RTTUpperAt returns the upper bound of the RTT from source j to site s.
func (w *World) RTTUpperAt(s, j int) float64 {
	k := s*w.NumSources() + j
	if w.RTTUpper == nil {
		return w.RTT[k]
	}
	return w.RTTUpper[k]
}

// RTTNote says where the RTT from source j to site s came from, as
// explanations show it: Provenance.String, with the upper bound of an
// estimate ("estimated (fitted, upper bound 31.5 ms)").
func (w *World) RTTNote(s, j int) string {
	v, p := w.RTTAt(s, j)
	note := p.String()
	if p.IsEstimate() && w.RTTUpper != nil && v < UnknownRTT {
		if up := w.RTTUpper[s*w.NumSources()+j]; up > v && up < UnknownRTT {
			note = strings.Replace(note, ")", ", upper bound "+strconv.FormatFloat(up, 'f', 1, 64)+" ms)", 1)
		}
	}
	return note
}

// TagIndex returns the index of a jurisdiction tag, or -1.
func (w *World) TagIndex(tag string) int {
	for i, t := range w.Tags {
		if t == tag {
			return i
		}
	}
	return -1
}

// HourlyCost is the price of a pod's requests at site s: cores × CPU price
// + GiB × memory price + GPUs × GPU price. A resource the pod requests at
// an unknown price makes the cost +Inf.
func (w *World) HourlyCost(s int, cores, memGiB, gpus float64) float64 {
	c := term(cores, w.Sites.CPUPrice[s]) + term(memGiB, w.Sites.MemPrice[s]) + term(gpus, w.Sites.GPUPrice[s])
	if math.IsNaN(c) {
		return math.Inf(1)
	}
	return c
}

// Egress is the hourly price of gib GiB per hour leaving site s; +Inf
// when the site's egress price is unknown and gib > 0.
func (w *World) Egress(s int, gib float64) float64 {
	if len(w.Sites.EgressPrice) != w.Sites.Len() {
		return 0
	}
	return term(gib, w.Sites.EgressPrice[s])
}

func term(qty, price float64) float64 {
	if !(qty > 0) {
		return 0
	}
	if !(price >= 0) || math.IsInf(price, 1) {
		return math.Inf(1)
	}
	return qty * price
}
