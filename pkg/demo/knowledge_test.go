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
	"slices"
	"testing"
)

// With 60% of the measured pairs declared, the world model's fitted
// estimates of the other 40% are at least 30% closer to the measured RTTs
// than the distance prior, at the median and the 90th percentile, in the
// embedded scenario and in worlds moved to other cities.
func TestFittedEstimatesBeatTheDistancePrior(t *testing.T) {
	m, err := LoadMeasurements()
	if err != nil {
		t.Fatal(err)
	}
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
			errs := EstimatorErrors(sc, m)
			prior, fitted := errs[0], errs[1]
			if prior.Pairs < 50 || fitted.Pairs != prior.Pairs {
				t.Fatalf("cities %d seed %d: %d and %d hidden pairs, want the same 50 or more", cities, seed, prior.Pairs, fitted.Pairs)
			}
			if !(fitted.Median <= 0.7*prior.Median) || !(fitted.P90 <= 0.7*prior.P90) {
				t.Errorf("cities %d seed %d: fitted error median %.1f p90 %.1f ms, prior %.1f and %.1f: want 30%% lower",
					cities, seed, fitted.Median, fitted.P90, prior.Median, prior.P90)
			}
			// The upper bound is meant to cover 95% of the pairs.
			if fitted.Beyond > 0.1 {
				t.Errorf("cities %d seed %d: %.0f%% of hidden pairs above the upper bound, want at most 10%%", cities, seed, 100*fitted.Beyond)
			}
			t.Logf("cities %d seed %d: %d hidden pairs; prior median %.1f p90 %.1f under %.0f%%; fitted median %.1f p90 %.1f under %.0f%%, above the upper bound %.1f%%",
				cities, seed, prior.Pairs, prior.Median, prior.P90, 100*prior.Under, fitted.Median, fitted.P90, 100*fitted.Under, 100*fitted.Beyond)
		}
	}
}

// Declaring a share of the measured pairs is deterministic in the seed and
// keeps every site in its country.
func TestDeclaredShareAndRedrawnCities(t *testing.T) {
	m, err := LoadMeasurements()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	orig, err := DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	sc.RedrawCities(m, 5)
	moved := 0
	for i, s := range sc.Sites {
		if m.Cities[s.City].Country != m.Cities[orig.Sites[i].City].Country {
			t.Errorf("site %s moved from %s to %s, another country", s.Name, orig.Sites[i].City, s.City)
		}
		if s.City != orig.Sites[i].City {
			moved++
		}
	}
	if moved < len(sc.Sites)/3 {
		t.Errorf("only %d of %d sites moved", moved, len(sc.Sites))
	}
	for i, s := range sc.Sources {
		if m.Cities[s.City].Country != m.Cities[orig.Sources[i].City].Country {
			t.Errorf("source %s moved from %s to %s, another country", s.Name, orig.Sources[i].City, s.City)
		}
	}
	count := func(seed uint64) (int, int, []string) {
		sc.SetDeclared(0.6, seed)
		_, sources, measured, _ := sc.objects(m)
		var names []string
		n := 0
		for _, src := range sources {
			for _, r := range src.Spec.RTTs {
				names = append(names, src.Name+"/"+r.Site)
				n++
			}
		}
		return n, measured, names
	}
	n1, measured, a := count(1)
	_, _, b := count(1)
	_, _, c := count(2)
	if want := int(0.6*float64(measured) + 0.5); n1 != want {
		t.Errorf("declared %d of %d measured pairs, want %d", n1, measured, want)
	}
	if !slices.Equal(a, b) {
		t.Error("the same seed declared different pairs")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 1 and 2 declared the same pairs")
	}
}

// The truth the report judges by has no upper bounds: a placement breaks
// an SLO only if the measured RTT does, whatever the scenario declared.
func TestTruthIgnoresTheSchedulersUncertainty(t *testing.T) {
	m, err := LoadMeasurements()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := DefaultScenario()
	sc.SetDeclared(0.3, 1)
	tr := newTruth(sc, m)
	if tr.world.RTTUpper != nil {
		t.Fatal("the truth world carries the scheduler's upper bounds")
	}
	for _, c := range sc.Classes {
		cm, err := tr.model(c)
		if err != nil {
			t.Fatal(err)
		}
		if cm.hasLatency && c.Policy.Latency.MaxRTTMilliseconds != nil && cm.slo.NumFeasible() == 0 {
			t.Errorf("class %s: no site meets its SLO on measured RTTs", c.Name)
		}
	}
}
