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
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Alternative is what the caller knows of a site's nodes for the pod: the
// lowest load (ScoreLoad) among its nodes with room; lost is empty when one
// has room, else why none can take the pod (LostNoRoom, LostNoHardware).
type Alternative func(site int) (load float64, lost string)

// Record explains the plan's pod placed on node in site i of the snapshot
// the plan was evaluated against: the PlacementRecord the scheduler writes
// with the binding. load is the node's utilization as its score used it
// (ScoreLoad). alt tells the runner-up's best node; nil leaves its load term
// 0 and says only whether its site score was lower.
func (p *PodPlan) Record(snap *Snapshot, node string, i int, load float64, alt Alternative) placementv1alpha1.PlacementRecord {
	w, pl := snap.World, &p.Plan
	rec := placementv1alpha1.PlacementRecord{
		Version: placementv1alpha1.PlacementRecordVersion, Policy: p.Policy.Name, Node: node,
		Site: w.Sites.Names[i], Tier: w.Sites.Tier[i].String(), Country: scoring.CountryCode(w.Sites.Country[i]),
		FeasibleSites: pl.NumFeasible(), TotalSites: w.Sites.Len(), WorldGeneration: snap.Generation,
	}
	rec.SourceCount = len(p.Rules.Sources)
	var heaviest [placementv1alpha1.MaxRecordedRTTs]int
	for _, j := range heaviestSources(&p.Rules, w, i, heaviest[:0]) {
		rec.RTTs = append(rec.RTTs, RecordedRTT(w, i, j))
	}
	rec.DependencyCount = len(p.Dependencies)
	for _, d := range p.heaviestDependencies(i) {
		d.Milliseconds, d.UpperMilliseconds = rounded(d.Milliseconds, 100), rounded(d.UpperMilliseconds, 100)
		rec.Dependencies = append(rec.Dependencies, d)
	}
	if p.HasLatency() {
		rec.LatencyMilliseconds = rounded(Finite(pl.SiteLatency(i)), 100)
	}
	rec.HourlyCost = rounded(Finite(pl.SiteCost(i)), 1e6)
	if e := pl.SiteEgress(i); e > 0 {
		rec.EgressHourly = rounded(Finite(e), 1e6)
	}
	rec.CostProvenance, rec.CostLive = priceProvenance(w.Sites.PriceProvenance[i])
	rec.Score = terms(pl.SiteTerms(i, load))
	for _, r := range pl.Ranked() {
		if int(r) == i {
			continue
		}
		alt := p.Alternative(int(r), alt)
		if alt.Score.Total < rec.Score.Total && alt.Lost == "" {
			alt.Lost = LostLowerScore
		} else if alt.Lost == "" {
			alt.Lost = LostOtherPlugins
		}
		alt.LatencyMilliseconds, alt.HourlyCost = rounded(alt.LatencyMilliseconds, 100), rounded(alt.HourlyCost, 1e6)
		alt.Score = roundedTerms(alt.Score)
		rec.RunnerUp = &alt
		break
	}
	rec.Score = roundedTerms(rec.Score)
	return rec
}

// heaviestSources appends to out the (at most cap(out)) sources of the
// policy that weigh most in its latency objective at site i, the heaviest
// first: an unknown RTT, then by weight times RTT (WeightedMean) or by RTT
// (WorstCase); ties keep the policy's order. Sources the World does not
// have are skipped.
func heaviestSources(rules *scoring.Policy, w *scoring.World, i int, out []int) []int {
	weight := func(k int) float64 {
		v, _ := w.RTTAt(i, rules.Sources[k])
		if Finite(v) == nil {
			return math.Inf(1)
		}
		if rules.Objective == scoring.WeightedMean && k < len(rules.Weights) {
			return rules.Weights[k] * v
		}
		return v
	}
	// Insertion into a list of at most cap(out): O(sources × cap).
	var ws [placementv1alpha1.MaxRecordedRTTs]float64
	for k, j := range rules.Sources {
		if j < 0 || j >= w.NumSources() {
			continue
		}
		x, n := weight(k), len(out)
		pos := n
		for pos > 0 && x > ws[pos-1] {
			pos--
		}
		if pos == cap(out) || pos >= len(ws) {
			continue
		}
		if n < cap(out) {
			out = append(out, 0)
			n++
		}
		copy(out[pos+1:n], out[pos:n-1])
		copy(ws[pos+1:n], ws[pos:n-1])
		out[pos], ws[pos] = j, x
	}
	return out
}

// HasLatency reports whether the plan has a latency objective: the policy
// has sources, or dependencies that run somewhere.
func (p *PodPlan) HasLatency() bool {
	return len(p.Rules.Sources) > 0 || len(p.Rules.Dependencies) > 0
}

// DependencyRTTs are the RTTs from site i to every one of the policy's
// dependencies, in the policy's order: a dependency not placed has Sites 0
// and no value.
func (p *PodPlan) DependencyRTTs(i int) []placementv1alpha1.DependencyRTT {
	var out []placementv1alpha1.DependencyRTT
	k := 0
	for _, d := range p.Dependencies {
		r := placementv1alpha1.DependencyRTT{Dependency: d.Name, Sites: len(d.Sites) + min(int(d.Unlocated), 1), Provenance: placementv1alpha1.ProvenanceUnknown,
			Live: placementv1alpha1.LiveNotRead}
		if d.Placed() && k < len(p.Rules.Dependencies) {
			rd := &p.Rules.Dependencies[k]
			k++
			v, prov := rd.RTT[i], rd.Provenance[i]
			r.Milliseconds = Finite(v)
			r.Provenance, r.Estimator, r.UpperMilliseconds = rttProvenance(v, rd.Upper[i], prov)
			r.Live = liveState(prov)
		}
		out = append(out, r)
	}
	return out
}

// heaviestDependencies are the (at most MaxRecordedRTTs) dependencies
// that weigh most in the latency objective at site i, the heaviest first:
// not placed or unknown, then by weight times RTT (WeightedMean) or by RTT
// (WorstCase); ties keep the policy's order.
func (p *PodPlan) heaviestDependencies(i int) []placementv1alpha1.DependencyRTT {
	all := p.DependencyRTTs(i)
	weight := func(k int) float64 {
		r := all[k]
		if r.Milliseconds == nil {
			return math.Inf(1)
		}
		w := 1.0
		if ref := p.Policy.Spec.Dependencies; k < len(ref) && ref[k].Weight != nil && p.Rules.Objective == scoring.WeightedMean {
			w = float64(*ref[k].Weight)
		}
		return w * *r.Milliseconds
	}
	idx := make([]int, len(all))
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(weight(b), weight(a)) })
	out := make([]placementv1alpha1.DependencyRTT, 0, min(len(idx), placementv1alpha1.MaxRecordedRTTs))
	for _, k := range idx[:min(len(idx), placementv1alpha1.MaxRecordedRTTs)] {
		out = append(out, all[k])
	}
	return out
}

// SourceRTTs are the RTTs from every one of the policy's sources to site i
// of the plan's World, in the policy's order: what `kubectl proxima`
// computes on demand where the record keeps only the heaviest.
func (p *PodPlan) SourceRTTs(i int) []placementv1alpha1.SourceRTT {
	var out []placementv1alpha1.SourceRTT
	for _, j := range p.Rules.Sources {
		if j >= 0 && j < p.world.NumSources() {
			out = append(out, SourceRTTOf(p.world, i, j))
		}
	}
	return out
}

// RecordedRTT is SourceRTTOf as a PlacementRecord keeps it: milliseconds
// to the hundredth.
func RecordedRTT(w *scoring.World, i, j int) placementv1alpha1.SourceRTT {
	r := SourceRTTOf(w, i, j)
	r.Milliseconds, r.UpperMilliseconds = rounded(r.Milliseconds, 100), rounded(r.UpperMilliseconds, 100)
	return r
}

// rounded is v rounded to 1/per (per 100: hundredths): the record keeps
// the digits explanations print, not float noise.
func rounded(v *float64, per float64) *float64 {
	if v == nil {
		return nil
	}
	x := math.Round(*v*per) / per
	return &x
}

func roundedTerms(t placementv1alpha1.ScoreTerms) placementv1alpha1.ScoreTerms {
	r := func(v float64) float64 { return math.Round(v*1e4) / 1e4 }
	return placementv1alpha1.ScoreTerms{Latency: r(t.Latency), Cost: r(t.Cost), Load: r(t.Load), Total: r(t.Total)}
}

// Why an alternative site lost.
const (
	LostLowerScore   = "lower score"
	LostNoRoom       = "no room"
	LostNoHardware   = "no node meets the hardware rule"
	LostOtherPlugins = "scored no lower; the other score plugins or the candidate narrowing chose"
)

// Alternative is feasible site i for the plan's pod, scored at its best
// node (alt; nil: load term 0). Lost is what alt says when no node can take
// the pod, else empty for the caller to judge.
func (p *PodPlan) Alternative(i int, alt Alternative) placementv1alpha1.SiteAlternative {
	pl := &p.Plan
	a := placementv1alpha1.SiteAlternative{Site: p.worldSiteName(i), HourlyCost: Finite(pl.SiteCost(i))}
	if p.HasLatency() {
		a.LatencyMilliseconds = Finite(pl.SiteLatency(i))
	}
	load := 1.0
	if alt != nil {
		load, a.Lost = alt(i)
		if a.Lost != "" {
			load = 1
		}
	}
	a.Score = terms(pl.SiteTerms(i, load))
	return a
}

func (p *PodPlan) worldSiteName(i int) string { return p.world.Sites.Names[i] }

func terms(t scoring.Terms) placementv1alpha1.ScoreTerms {
	return placementv1alpha1.ScoreTerms{Latency: t.Latency, Cost: t.Cost, Load: t.Load, Total: t.Total()}
}

// Finite is v as an optional JSON number: nil when it is unknown (NaN,
// infinite, or the core's UnknownRTT).
func Finite(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) || v >= scoring.UnknownRTT {
		return nil
	}
	return &v
}

// SourceRTTOf is the RTT from source j to site i with its provenance as a
// PlacementRecord shows it. A pair with neither a measurement nor an
// estimate is unknown, whatever its bits say.
func SourceRTTOf(w *scoring.World, i, j int) placementv1alpha1.SourceRTT {
	v, prov := w.RTTAt(i, j)
	r := placementv1alpha1.SourceRTT{Source: w.SourceNames[j], Milliseconds: Finite(v)}
	r.Provenance, r.Estimator, r.UpperMilliseconds = rttProvenance(v, w.RTTUpperAt(i, j), prov)
	r.Live = liveState(prov)
	return r
}

// rttProvenance is an RTT's provenance as a PlacementRecord shows it:
// unknown without a value; estimated, with its estimator and its upper
// bound, when any part of it is; live when it is a fresh live value; else
// declared.
func rttProvenance(v, upper float64, prov scoring.Provenance) (provenance, estimator string, up *float64) {
	switch {
	case Finite(v) == nil:
		return placementv1alpha1.ProvenanceUnknown, "", nil
	case prov&scoring.Estimated != 0:
		estimator = placementv1alpha1.EstimatorDistancePrior
		if prov&scoring.Fitted != 0 {
			estimator = placementv1alpha1.EstimatorFitted
		}
		if upper > v {
			up = Finite(upper)
		}
		return placementv1alpha1.ProvenanceEstimated, estimator, up
	case prov&scoring.Live != 0 && prov&scoring.Stale == 0:
		return placementv1alpha1.ProvenanceLive, "", nil
	}
	return placementv1alpha1.ProvenanceDeclared, "", nil
}

// liveState is the live state of a value made of pairs with the
// provenance bits p: missing or stale when any pair's live value is (a
// dependency's RTT may mix live pairs with stand-ins), else fresh when
// any is live.
func liveState(p scoring.Provenance) string {
	switch {
	case p&(scoring.Stale|scoring.Absent) == scoring.Stale|scoring.Absent:
		return placementv1alpha1.LiveMissingValue
	case p&scoring.Stale != 0:
		return placementv1alpha1.LiveStaleValue
	case p&scoring.Live != 0:
		return placementv1alpha1.LiveFreshValue
	}
	return placementv1alpha1.LiveNotRead
}

func priceProvenance(p scoring.Provenance) (provenance, live string) {
	if p&scoring.Live != 0 {
		return placementv1alpha1.ProvenanceLive, placementv1alpha1.LiveFreshValue
	}
	return placementv1alpha1.ProvenanceDeclared, liveState(p)
}

// DescribeRTT is one RTT as explanations print it: "12.0 ms", "12.0 ms
// (live)", "31.2 ms (estimated (fitted, upper bound 40.1 ms))", "812.3 ms
// (estimated (distance prior, upper bound 1573.4 ms); live value stale)",
// "unknown (no
// measurement, no location to estimate from)".
func DescribeRTT(r placementv1alpha1.SourceRTT) string {
	if r.Milliseconds == nil {
		s := "unknown (no measurement, no location to estimate from"
		switch r.Live {
		case placementv1alpha1.LiveStaleValue:
			s += "; live value stale"
		case placementv1alpha1.LiveMissingValue:
			s += "; no live value"
		}
		return s + ")"
	}
	s := strconv.FormatFloat(*r.Milliseconds, 'f', 1, 64) + " ms"
	var notes []string
	if r.Provenance != placementv1alpha1.ProvenanceDeclared || r.Live == placementv1alpha1.LiveStaleValue || r.Live == placementv1alpha1.LiveMissingValue {
		notes = append(notes, r.Provenance)
	}
	if r.Provenance == placementv1alpha1.ProvenanceEstimated {
		// "estimated (fitted, upper bound 40.1 ms)", as World.RTTNote says it.
		est := "distance prior"
		if r.Estimator == placementv1alpha1.EstimatorFitted {
			est = "fitted"
		}
		if r.UpperMilliseconds != nil {
			est += ", upper bound " + strconv.FormatFloat(*r.UpperMilliseconds, 'f', 1, 64) + " ms"
		}
		notes[0] += " (" + est + ")"
	}
	switch r.Live {
	case placementv1alpha1.LiveStaleValue:
		notes = append(notes, "live value stale")
	case placementv1alpha1.LiveMissingValue:
		notes = append(notes, "no live value")
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}

// DescribeCost is a cost as explanations print it: "0.0400/h", with
// "(live price)", "(declared price; live price stale)" or "(declared price;
// no live price)" when telemetry prices the site; "unknown" without a
// price.
func DescribeCost(cost *float64, provenance, live string) string {
	if cost == nil {
		return "unknown (a requested resource has no price)"
	}
	s := strconv.FormatFloat(*cost, 'f', 4, 64) + "/h"
	switch {
	case provenance == placementv1alpha1.ProvenanceLive:
		s += " (live price)"
	case live == placementv1alpha1.LiveStaleValue:
		s += " (declared price; live price stale)"
	case live == placementv1alpha1.LiveMissingValue:
		s += " (declared price; no live price)"
	}
	return s
}

// Sentence is the record as the one-line PlacementAnnotation: "PlacementPolicy
// eu-api placed the pod on n1 in site pop-paris (Regional, FR); RTT
// shoppers-paris 4.0 ms; cost 0.0400/h; 3 of 6 sites met the hard rules".
// It names the heaviest RTT the record keeps and counts the other sources
// ("RTT a 40.0 ms and 63 more source(s)"): the record has the next
// heaviest, `kubectl proxima explain` every one.
func Sentence(rec *placementv1alpha1.PlacementRecord) string {
	var b strings.Builder
	if rec.Site == "" {
		fmt.Fprintf(&b, "PlacementPolicy %s placed the pod on %s, whose site is unknown", rec.Policy, rec.Node)
	} else {
		fmt.Fprintf(&b, "PlacementPolicy %s placed the pod on %s in site %s (%s, %s)", rec.Policy, rec.Node, rec.Site, rec.Tier, rec.Country)
		if len(rec.RTTs) > 0 {
			r := rec.RTTs[0]
			fmt.Fprintf(&b, "; RTT %s %s", r.Source, DescribeRTT(r))
			if more := max(rec.SourceCount, len(rec.RTTs)) - 1; more > 0 {
				fmt.Fprintf(&b, " and %d more source(s)", more)
			}
		}
		if len(rec.Dependencies) > 0 {
			d := rec.Dependencies[0]
			if d.Sites == 0 {
				fmt.Fprintf(&b, "; dependency %s not running yet", d.Dependency)
			} else {
				fmt.Fprintf(&b, "; RTT to dependency %s %s", d.Dependency, DescribeRTT(d.AsSourceRTT()))
			}
			switch more := max(rec.DependencyCount, len(rec.Dependencies)) - 1; {
			case more == 1:
				b.WriteString(" and 1 more dependency")
			case more > 1:
				fmt.Fprintf(&b, " and %d more dependencies", more)
			}
		}
		if rec.HourlyCost != nil {
			fmt.Fprintf(&b, "; cost %s", DescribeCost(rec.HourlyCost, rec.CostProvenance, rec.CostLive))
			if rec.EgressHourly != nil {
				fmt.Fprintf(&b, " with egress %s/h", strconv.FormatFloat(*rec.EgressHourly, 'f', 4, 64))
			}
		}
		fmt.Fprintf(&b, "; %d of %d sites met the hard rules", rec.FeasibleSites, rec.TotalSites)
	}
	for _, n := range rec.Notes {
		b.WriteString("; " + n)
	}
	return b.String()
}

// Annotations are the placement annotations the scheduler writes on the
// Binding for a record: the one-line Sentence and the JSON document.
func Annotations(rec *placementv1alpha1.PlacementRecord) map[string]string {
	a := map[string]string{placementv1alpha1.PlacementAnnotation: Sentence(rec)}
	if doc, err := json.Marshal(rec); err == nil {
		a[placementv1alpha1.PlacementRecordAnnotation] = string(doc)
	}
	return a
}
