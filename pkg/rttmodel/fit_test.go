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

package rttmodel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// synthetic is a world whose RTTs follow the model exactly, plus noise:
// base 8 ms, 0.02 ms/km, offsets per source and site.
func synthetic(sites, sources int, noise float64, rng *rand.Rand) (dist, rtt []float64) {
	a, b := make([]float64, sources), make([]float64, sites)
	for j := range a {
		a[j] = rng.Float64() * 10
	}
	for s := range b {
		b[s] = rng.Float64() * 10
	}
	dist, rtt = make([]float64, sites*sources), make([]float64, sites*sources)
	for s := range sites {
		for j := range sources {
			k := s*sources + j
			dist[k] = rng.Float64() * 3000
			rtt[k] = 8 + 0.02*dist[k] + a[j] + b[s] + noise*rng.NormFloat64()
		}
	}
	return dist, rtt
}

func TestFitRTTLearnsOffsetsAndSlope(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const sites, sources = 40, 12
	dist, truth := synthetic(sites, sources, 1, rng)
	measured := make([]float64, len(truth))
	hidden := 0
	for k := range truth {
		measured[k] = truth[k]
		if rng.Float64() < 0.4 {
			measured[k] = math.NaN()
			hidden++
		}
	}
	f := FitRTT(RTTInput{Sites: sites, Sources: sources, DistKm: dist, Measured: measured})
	if !f.Fitted {
		t.Fatal("not fitted")
	}
	// The common curve: 8 ms + 0.02 ms/km plus the offsets' means.
	if slope := (f.line.at(2000) - f.line.at(1000)) / 1000; math.Abs(slope-0.02) > 0.002 {
		t.Errorf("slope %v ms/km, want about 0.02", slope)
	}
	var fitErr, priorErr float64
	covered := 0
	for k := range truth {
		if !math.IsNaN(measured[k]) {
			continue
		}
		est, upper := f.Estimate(k/sources, k%sources, dist[k])
		fitErr += math.Abs(est - truth[k])
		priorErr += math.Abs(EstimateBaseMilliseconds + priorSlope*dist[k] - truth[k])
		if truth[k] <= upper {
			covered++
		}
	}
	fitErr /= float64(hidden)
	priorErr /= float64(hidden)
	// Noise σ is 1 ms; offsets learnt from ~24 and ~7 pairs each.
	if fitErr > 2.5 {
		t.Errorf("mean error on hidden pairs %.2f ms, want under 2.5 (prior: %.2f)", fitErr, priorErr)
	}
	if share := float64(covered) / float64(hidden); share < 0.9 {
		t.Errorf("upper bound covers %.0f%% of hidden pairs, want at least 90%%", 100*share)
	}
}

func TestFitRTTTooFewPairsKeepsThePrior(t *testing.T) {
	dist := []float64{100, 2000, 500}
	measured := []float64{10, math.NaN(), math.NaN()}
	f := FitRTT(RTTInput{Sites: 3, Sources: 1, DistKm: dist, Measured: measured})
	if f.Fitted {
		t.Fatal("fitted from one pair")
	}
	est, upper := f.Estimate(1, 0, 2000)
	if want := EstimateBaseMilliseconds + priorSlope*2000; est != want || upper != EstimatePriorUpper(want) {
		t.Errorf("Estimate = %v (upper %v), want the prior %v (upper %v)", est, upper, want, EstimatePriorUpper(want))
	}
}

// TestEstimateBoundWhereTheFitHasNoEvidence: short measurements say
// nothing about a pair 10,000 km away, nor about a site never measured:
// there the upper bound is at least the distance prior's own.
func TestEstimateBoundWhereTheFitHasNoEvidence(t *testing.T) {
	// Sites 0..5 measured from sources 0 and 1 at 200-700 km; site 6 never
	// measured; every pair of source 2 unmeasured.
	const sites, sources = 7, 3
	dist := make([]float64, sites*sources)
	measured := make([]float64, sites*sources)
	for s := range sites {
		for j := range sources {
			k := s*sources + j
			dist[k] = 200 + 100*float64(s) + 10*float64(j)
			measured[k] = math.NaN()
			if s < 6 && j < 2 {
				measured[k] = 9 + 0.018*dist[k]
			}
		}
	}
	f := FitRTT(RTTInput{Sites: sites, Sources: sources, DistKm: dist, Measured: measured})
	if !f.Fitted {
		t.Fatal("not fitted")
	}
	priorUpper := func(km float64) float64 { return EstimatePriorUpper(EstimateBaseMilliseconds + priorSlope*km) }
	for _, tc := range []struct {
		name string
		s, j int
		km   float64
	}{
		{"10,000 km, far beyond the measured 700 km", 0, 0, 10000},
		{"a site never measured, within the measured distances", 6, 0, 500},
		{"a source never measured", 0, 2, 400},
	} {
		if _, upper := f.Estimate(tc.s, tc.j, tc.km); upper < priorUpper(tc.km) {
			t.Errorf("%s: upper bound %.1f ms, tighter than the prior's %.1f ms", tc.name, upper, priorUpper(tc.km))
		}
	}
	// Where the fit has evidence it may be tighter than the prior.
	if _, upper := f.Estimate(2, 1, 410); !(upper < priorUpper(410)) {
		t.Errorf("a measured site and source within the data: upper %.1f ms, no tighter than the prior's %.1f", upper, priorUpper(410))
	}
}
