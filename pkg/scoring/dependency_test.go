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
)

// testDependency is a dependency running at fra: its RTT from testWorld's
// sites fra, par, zrh, iad, the last two estimated (upper bounds 20 and
// 150 ms).
func testDependency() Dependency {
	return Dependency{
		Weight:     1,
		RTT:        []float64{1, 9, 8, 90},
		Upper:      []float64{1, 9, 20, 150},
		Provenance: []Provenance{Declared, Live, Estimated | Fitted, Estimated},
	}
}

func TestDependencies(t *testing.T) {
	paris := func(p *Policy) { p.Sources, p.Weights = []int{0}, []float64{1} }
	tests := []struct {
		name   string
		policy func(p *Policy)
		dep    func(d *Dependency)
		// latency is the objective per site; reasons the verdict per site.
		latency []float64
		reasons []Reason
		best    int32
	}{
		{
			name: "a dependency alone is the objective",
			dep:  func(*Dependency) {},
			// fra 1, par 9, zrh 8, iad 90
			latency: []float64{1, 9, 8, 90},
			reasons: []Reason{Feasible, Feasible, Feasible, Feasible},
			best:    0,
		},
		{
			name:   "sources and dependencies share one weighted mean",
			policy: paris,
			dep:    func(d *Dependency) { d.Weight = 3 },
			// (paris + 3·dep)/4: fra (11+3)/4, par (2+27)/4, zrh (13+24)/4, iad (78+270)/4
			latency: []float64{3.5, 7.25, 9.25, 87},
			reasons: []Reason{Feasible, Feasible, Feasible, Feasible},
			best:    0,
		},
		{
			name:    "worst case over sources and dependencies",
			policy:  func(p *Policy) { paris(p); p.Objective = WorstCase },
			dep:     func(*Dependency) {},
			latency: []float64{11, 9, 13, 90},
			reasons: []Reason{Feasible, Feasible, Feasible, Feasible},
			best:    1,
		},
		{
			name: "a hard bound judges an estimate at its upper bound",
			dep:  func(d *Dependency) { d.MaxRTT = 10 },
			// zrh's estimate 8 is within 10, its upper bound 20 is not
			latency: []float64{1, 9, 8, 90},
			reasons: []Reason{Feasible, Feasible, ReasonDependencyRTT, ReasonDependencyRTT},
			best:    0,
		},
		{
			name:    "central estimates pass on their value",
			policy:  func(p *Policy) { p.EstimatedRTT = EstimatesCentral },
			dep:     func(d *Dependency) { d.MaxRTT = 10 },
			latency: []float64{1, 9, 8, 90},
			reasons: []Reason{Feasible, Feasible, Feasible, ReasonDependencyRTT},
			best:    0,
		},
		{
			name:    "rejected estimates fail the bound however small",
			policy:  func(p *Policy) { p.EstimatedRTT = EstimatesReject },
			dep:     func(d *Dependency) { d.MaxRTT = 1000 },
			latency: []float64{1, 9, 8, 90},
			reasons: []Reason{Feasible, Feasible, ReasonDependencyRTT, ReasonDependencyRTT},
			best:    0,
		},
		{
			name:    "without upper bounds a conservative bound rejects estimates",
			dep:     func(d *Dependency) { d.MaxRTT = 1000; d.Upper = nil },
			latency: []float64{1, 9, 8, 90},
			reasons: []Reason{Feasible, Feasible, ReasonDependencyRTT, ReasonDependencyRTT},
			best:    0,
		},
		{
			name:    "an unknown RTT fails the bound and scores worst",
			dep:     func(d *Dependency) { d.MaxRTT = 100; d.RTT[1] = UnknownRTT; d.Upper[1] = UnknownRTT },
			latency: []float64{1, math.Inf(1), 8, 90},
			reasons: []Reason{Feasible, ReasonDependencyRTT, Feasible, ReasonDependencyRTT},
			best:    0,
		},
		{
			name:    "a stand-in for a stale live value is rejected when the policy rejects stale RTTs",
			policy:  func(p *Policy) { p.RejectStaleRTT = true },
			dep:     func(d *Dependency) { d.Provenance[1] = Stale },
			latency: []float64{1, 9, 8, 90},
			reasons: []Reason{Feasible, ReasonStale, Feasible, Feasible},
			best:    0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testWorld()
			p := Policy{AllowAll: true, WLatency: 1}
			if tc.policy != nil {
				tc.policy(&p)
			}
			d := testDependency()
			tc.dep(&d)
			p.Dependencies = []Dependency{d}
			var pl Plan
			pl.Evaluate(w, &p)
			for s := range w.Sites.Len() {
				if got := pl.SiteLatency(s); math.Abs(got-tc.latency[s]) > 1e-9 && !(math.IsInf(got, 1) && math.IsInf(tc.latency[s], 1)) {
					t.Errorf("site %s: latency %v, want %v", w.Sites.Names[s], got, tc.latency[s])
				}
				if got := pl.SiteReason(s); got != tc.reasons[s] {
					t.Errorf("site %s: reason %v, want %v", w.Sites.Names[s], got, tc.reasons[s])
				}
			}
			if r := pl.Ranked(); len(r) == 0 || r[0] != tc.best {
				t.Errorf("ranked %v, want %d first", r, tc.best)
			}
		})
	}
}

// A running pod is moved off a site for a dependency's bound only on
// evidence: an RTT made of declared or live pairs over the bound.
func TestDependencyBreachProven(t *testing.T) {
	w := testWorld()
	d := testDependency()
	d.MaxRTT = 5
	p := Policy{AllowAll: true, WLatency: 1, Dependencies: []Dependency{d}}
	var pl Plan
	pl.Evaluate(w, &p)
	for s, want := range []bool{false, true, false, false} {
		if pl.SiteReason(s) == Feasible {
			if want {
				t.Errorf("site %s is feasible, want a dependency breach", w.Sites.Names[s])
			}
			continue
		}
		if got := pl.SiteBreachProven(s); got != want {
			t.Errorf("site %s: breach proven %v, want %v (reason %v)", w.Sites.Names[s], got, want, pl.SiteReason(s))
		}
	}
	if got := pl.DependencyOverBound(1); got != 0 {
		t.Errorf("DependencyOverBound(par) = %d, want 0", got)
	}
}

func TestEvaluateWithDependenciesAllocatesNothing(t *testing.T) {
	w := testWorld()
	p := Policy{AllowAll: true, WLatency: 1, Sources: []int{0, 1}, Weights: []float64{1, 2}, Dependencies: []Dependency{testDependency()}}
	var pl Plan
	pl.Evaluate(w, &p)
	if n := testing.AllocsPerRun(100, func() { pl.Evaluate(w, &p) }); n != 0 {
		t.Errorf("Evaluate allocated %v times per run", n)
	}
}
