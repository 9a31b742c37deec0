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
	"cmp"
	"slices"
)

// Spread is a policy's spread rule (PlacementPolicy spec.spread) in the
// core's terms: 0 means unset.
type Spread struct {
	// MinSites: while the workload runs in fewer feasible sites, its
	// next pod goes to a feasible site where it has none (if one has
	// room).
	MinSites int32
	// MaxSkew: a used site may hold at most this many more pods than the
	// least-used used site with room, the next pod counted.
	MaxSkew int32
	// MaxPerSite caps the workload's pods at one site.
	MaxPerSite int32
}

// Set reports whether the rule constrains anything.
func (r Spread) Set() bool { return r.MinSites > 1 || r.MaxSkew > 0 || r.MaxPerSite > 0 }

// SpreadReason is why the spread rule keeps the next pod of a workload
// off a feasible site.
type SpreadReason uint8

// Spread reasons.
const (
	SpreadAllowed SpreadReason = iota
	// SpreadMinSites: the workload runs in fewer than MinSites sites, and
	// a feasible site where it has no pod has room.
	SpreadMinSites
	// SpreadMaxSkew: one more pod here would hold more than MaxSkew pods
	// above the least-used site the workload runs in that has room.
	SpreadMaxSkew
	// SpreadMaxPerSite: the site holds MaxPerSite of the workload's pods.
	SpreadMaxPerSite
)

var spreadText = [...]string{"allowed", "spread minSites", "spread maxSkew", "spread maxPerSite"}

func (r SpreadReason) String() string {
	if int(r) < len(spreadText) {
		return spreadText[r]
	}
	return "unknown"
}

// SpreadCount is the workload's pods at one feasible site.
type SpreadCount struct {
	Site int32
	Pods int32
}

// SpreadVerdict is the spread rule judged for the next pod of a workload
// (JudgeSpread). The zero value allows every site.
type SpreadVerdict struct {
	rule   Spread
	counts []SpreadCount
	// least is the fewest pods at a used site with room; 0 when none has
	// room (no skew bound then: every used site is as full as the least).
	least int32
	// fresh: the pod must go to a site the workload does not use.
	fresh bool
}

// JudgeSpread judges rule for the next pod of a workload whose pods run
// counts (one entry per feasible site that holds any, in any order, which
// JudgeSpread sorts and keeps; sites the policy's other rules exclude are
// not listed). feasible are the
// feasible sites (Plan.Ranked) and room reports whether the pod fits on a
// node of a site; it is asked of the used sites and of unused feasible
// sites until one has room. The rule:
//
//   - maxPerSite: a site holding MaxPerSite pods is excluded;
//   - minSites: while fewer than MinSites sites are used, the used ones
//     are excluded, if an unused feasible site has room;
//   - maxSkew (1 when neither it nor MaxPerSite is set): a used site s is
//     excluded when count(s) + 1 - least > MaxSkew, where least is the
//     fewest pods at a used site with room. An unused site is never
//     excluded by it, nor is the least-used site with room, so the skew
//     bound alone never leaves a pod without a site with room.
func JudgeSpread(rule Spread, counts []SpreadCount, feasible []int32, room func(site int32) bool) SpreadVerdict {
	if rule.MaxSkew <= 0 && rule.MaxPerSite <= 0 {
		rule.MaxSkew = 1
	}
	slices.SortFunc(counts, func(a, b SpreadCount) int { return cmp.Compare(a.Site, b.Site) })
	v := SpreadVerdict{rule: rule, counts: counts}
	used := 0
	for _, c := range counts {
		if c.Pods <= 0 {
			continue
		}
		used++
		if (v.least == 0 || c.Pods < v.least) && room(c.Site) {
			v.least = c.Pods
		}
	}
	if int(rule.MinSites) > used {
		for _, s := range feasible {
			if v.pods(s) == 0 && room(s) {
				v.fresh = true
				break
			}
		}
	}
	return v
}

// pods is the workload's pod count at site s.
func (v *SpreadVerdict) pods(s int32) int32 {
	if i, ok := slices.BinarySearchFunc(v.counts, s, func(c SpreadCount, s int32) int { return cmp.Compare(c.Site, s) }); ok {
		return v.counts[i].Pods
	}
	return 0
}

// Reason is why the next pod may not go to feasible site s, or
// SpreadAllowed.
func (v *SpreadVerdict) Reason(s int32) SpreadReason {
	n := v.pods(s)
	switch {
	case v.rule.MaxPerSite > 0 && n >= v.rule.MaxPerSite:
		return SpreadMaxPerSite
	case n > 0 && v.fresh:
		return SpreadMinSites
	case n > 0 && v.rule.MaxSkew > 0 && v.least > 0 && n+1-v.least > v.rule.MaxSkew:
		return SpreadMaxSkew
	}
	return SpreadAllowed
}

// Pods is the workload's pod count at site s, as the verdict counted it.
func (v *SpreadVerdict) Pods(s int32) int32 { return v.pods(s) }

// UsedSites is how many feasible sites hold the workload's pods.
func (v *SpreadVerdict) UsedSites() int {
	n := 0
	for _, c := range v.counts {
		if c.Pods > 0 {
			n++
		}
	}
	return n
}

// Least is the fewest pods at a used feasible site with room (0: none).
func (v *SpreadVerdict) Least() int32 { return v.least }
