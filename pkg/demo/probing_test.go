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

package demo

import (
	"testing"

	"github.com/proxima-sched/proxima/pkg/probeplan"
)

// With 60% of the measured pairs declared and a probe budget of 15% of the
// hidden ones, every class with traffic sources is placed as well as with
// every pair declared (mean measured RTT within 5%, no pod left Pending
// that the all-declared placement placed, no SLO violation on measured
// RTT) from the first round of probes on and in every round after it, in
// the embedded world and in worlds moved to other cities, for three seeds
// each.
func TestProbingConverges(t *testing.T) {
	m, err := LoadMeasurements()
	if err != nil {
		t.Fatal(err)
	}
	const rounds, tolerance = 4, 0.05
	for _, cities := range []uint64{0, 3, 7} {
		for _, seed := range []uint64{1, 2, 3} {
			sc, err := DefaultScenario()
			if err != nil {
				t.Fatal(err)
			}
			if cities != 0 {
				sc.RedrawCities(m, cities)
			}
			sc.SetDeclared(0.6, seed)
			hidden := EstimatorErrors(sc, m)[0].Pairs
			budget := probeplan.DefaultBudget
			budget.Pairs = hidden * 15 / 100
			p, err := SimulateProbing(sc, m, budget, rounds)
			if err != nil {
				t.Fatal(err)
			}
			for r := range p.Rounds {
				probed := 0
				for _, n := range p.Rounds[r].Planned {
					probed += n
				}
				if probed > budget.Pairs {
					t.Errorf("cities %d seed %d round %d: %d probes over the budget of %d", cities, seed, r, probed, budget.Pairs)
				}
				for _, c := range p.Converged(r) {
					t.Logf("cities %d seed %d round %d (%d measured): %s ratio %.3f, %d missed, %d SLO", cities, seed, r, p.Rounds[r].Measured,
						c.Class, c.Ratio, c.Missed, c.SLO)
					if r > 0 && !c.Good(tolerance) {
						t.Errorf("cities %d seed %d round %d: %s at %.3f× the all-declared mean RTT, %d pods Pending that it placed, %d over the SLO",
							cities, seed, r, c.Class, c.Ratio, c.Missed, c.SLO)
					}
				}
			}
		}
	}
}
