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

	"github.com/google/go-cmp/cmp"
)

// TestOptimumFollowsTheWeights: with room everywhere, a latency-led class
// goes to the site near its users and a cost-led one to the cheap site.
func TestOptimumFollowsTheWeights(t *testing.T) {
	sc, err := parseScenario([]byte(`
sites:
  - {name: paris, city: Paris, tier: Cloud, country: FR, nodes: 1, cpu: 8, pricing: {cpuCoreHour: "0.10"}}
  - {name: tokyo, city: Tokyo, tier: Cloud, country: JP, nodes: 1, cpu: 8, pricing: {cpuCoreHour: "0.01"}}
sources:
  - {name: paris-users, city: Paris, demand: 1}
classes:
  - name: near
    pods: 2
    cpu: "1"
    memory: 1Gi
    policy:
      latency: {sources: [{name: paris-users}]}
      weights: {latency: 9, cost: 1}
  - name: cheap
    pods: 3
    cpu: "1"
    memory: 1Gi
    policy:
      latency: {sources: [{name: paris-users}]}
      weights: {latency: 1, cost: 9}
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadMeasurements()
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(m); err != nil {
		t.Fatal(err)
	}
	a, err := Optimum(sc, m)
	if err != nil {
		t.Fatal(err)
	}
	want := &Allocation{X: [][]float64{{2, 0}, {0, 3}}, Unplaced: []float64{0, 0}}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("optimum (-want,+got):\n%s", diff)
	}
}
