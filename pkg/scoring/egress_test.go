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

// TestEgress: the egress of a pod's declared traffic joins its hourly
// cost, which the cost cap bounds and the cost objective ranks; an
// unknown egress price fails the cap closed only where traffic leaves.
func TestEgress(t *testing.T) {
	inf := math.Inf(1)
	// 1 core and 1 GiB at testWorld's prices: fra 0.034, par 0.056, zrh 0.102, iad 0.023.
	base := []float64{0.034, 0.056, 0.102, 0.023}
	tests := []struct {
		name    string
		egress  []float64 // per site, per GiB
		policy  func(p *Policy)
		want    []float64 // egress per site
		reasons []Reason
		best    int32
	}{
		{
			name:    "no traffic, no egress",
			egress:  []float64{0.09, 0.09, 0.09, 0.09},
			policy:  func(*Policy) {},
			want:    []float64{0, 0, 0, 0},
			reasons: []Reason{Feasible, Feasible, Feasible, Feasible},
			best:    3,
		},
		{
			name:    "sent to sources leaves the pod's site",
			egress:  []float64{0.01, 0.002, 0, 0.09},
			policy:  func(p *Policy) { p.SentGiB = 2 },
			want:    []float64{0.02, 0.004, 0, 0.18},
			reasons: []Reason{Feasible, Feasible, Feasible, Feasible},
			best:    0, // fra 0.054 beats par 0.060, zrh 0.102 and iad 0.203
		},
		{
			name:    "the cap bounds the cost with egress",
			egress:  []float64{0.01, 0.002, 0, 0.09},
			policy:  func(p *Policy) { p.SentGiB = 2; p.MaxHourly = 0.1 },
			want:    []float64{0.02, 0.004, 0, 0.18},
			reasons: []Reason{Feasible, Feasible, ReasonMaxCost, ReasonMaxCost},
			best:    0,
		},
		{
			name:    "an unknown egress price fails the cap where traffic leaves",
			egress:  []float64{math.NaN(), 0.002, 0, 0.01},
			policy:  func(p *Policy) { p.SentGiB = 2; p.MaxHourly = 1 },
			want:    []float64{inf, 0.004, 0, 0.02},
			reasons: []Reason{ReasonMaxCost, Feasible, Feasible, Feasible},
			best:    3,
		},
		{
			name:   "a dependency's egress adds to the sources'",
			egress: []float64{0.01, 0.002, 0, 0.09},
			policy: func(p *Policy) {
				p.SentGiB = 1
				p.Dependencies = []Dependency{{RTT: make([]float64, 4), Provenance: make([]Provenance, 4), Egress: []float64{0, 0.5, 0.5, 0.5}}}
			},
			want:    []float64{0.01, 0.502, 0.5, 0.59},
			reasons: []Reason{Feasible, Feasible, Feasible, Feasible},
			best:    0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testWorld()
			w.Sites.EgressPrice = tc.egress
			p := Policy{AllowAll: true, Cores: 1, MemGiB: 1, WCost: 1}
			tc.policy(&p)
			var pl Plan
			pl.Evaluate(w, &p)
			for s := range 4 {
				if got := pl.SiteEgress(s); !near(got, tc.want[s]) {
					t.Errorf("site %d: egress %v, want %v", s, got, tc.want[s])
				}
				if got, want := pl.SiteCost(s), base[s]+tc.want[s]; !near(got, want) {
					t.Errorf("site %d: cost %v, want %v", s, got, want)
				}
				if got := pl.SiteReason(s); got != tc.reasons[s] {
					t.Errorf("site %d: %v, want %v", s, got, tc.reasons[s])
				}
			}
			if r := pl.Ranked(); len(r) == 0 || r[0] != tc.best {
				t.Errorf("ranked %v, want %d first", r, tc.best)
			}
		})
	}
}

func near(a, b float64) bool {
	if math.IsInf(b, 1) {
		return math.IsInf(a, 1)
	}
	return math.Abs(a-b) < 1e-9
}
