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
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/state"
)

// What the scheduler is told: in a real fleet nobody declares every
// (source, site) RTT. A scenario declares a share of the measured pairs,
// chosen at random with a seed, and leaves the rest to the world model's
// estimate; the report still judges every placement on every measured pair.

// SetDeclared makes the scenario declare only fraction (0..1) of its
// measured source-site pairs, chosen with seed; 1 declares every one.
func (s *Scenario) SetDeclared(fraction float64, seed uint64) {
	s.declaredFraction, s.seed, s.declaredSet = min(max(fraction, 0), 1), seed, true
}

// SetEstimates makes every class's policy with an RTT bound judge
// estimated RTTs by h (see PlacementPolicy latency.estimates).
func (s *Scenario) SetEstimates(h placementv1alpha1.EstimateHandling) {
	for i := range s.Classes {
		if l := s.Classes[i].Policy.Latency; l != nil && l.MaxRTTMilliseconds != nil {
			l.Estimates = h
		}
	}
}

// DeclaredFraction is the share of measured pairs the scenario declares.
func (s *Scenario) DeclaredFraction() float64 {
	if !s.declaredSet {
		return 1
	}
	return s.declaredFraction
}

// declared returns, for the measured pairs in source-major order (source i,
// then site k, as objects lists them), which ones the scenario declares.
func (s *Scenario) declared(measured int) []bool {
	out := make([]bool, measured)
	f := s.DeclaredFraction()
	if f >= 1 {
		for i := range out {
			out[i] = true
		}
		return out
	}
	perm := rand.New(rand.NewPCG(s.seed, 0x9e3779b97f4a7c15)).Perm(measured)
	for _, i := range perm[:int(math.Round(f*float64(measured)))] {
		out[i] = true
	}
	return out
}

// RedrawCities moves every site and source to another city of the
// measurements, chosen with seed: a site to a city of the same country (its
// residency stays true), a source likewise (its policies' latency bounds
// stay meaningful); one keeps its city when its country has no other
// unused one. No two get the same city.
func (s *Scenario) RedrawCities(m *Measurements, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	names := make([]string, 0, len(m.Cities))
	for name := range m.Cities {
		names = append(names, name)
	}
	slices.Sort(names)
	used := map[string]bool{}
	pick := func(old string, same func(a, b City) bool) string {
		var pool []string
		for _, n := range names {
			if !used[n] && n != old && same(m.Cities[n], m.Cities[old]) {
				pool = append(pool, n)
			}
		}
		if len(pool) == 0 {
			return old
		}
		return pool[rng.IntN(len(pool))]
	}
	for i := range s.Sites {
		s.Sites[i].City = pick(s.Sites[i].City, func(a, b City) bool { return a.Country == b.Country })
		used[s.Sites[i].City] = true
	}
	for i := range s.Sources {
		s.Sources[i].City = pick(s.Sources[i].City, func(a, b City) bool { return a.Country == b.Country })
		used[s.Sources[i].City] = true
	}
}

// EstimatorError is how far an RTT estimator is from the measured RTT on
// the measured pairs the scenario did not declare.
type EstimatorError struct {
	Estimator string
	// Pairs is the number of hidden measured pairs.
	Pairs int
	// Median and P90 absolute error (ms); Under is the share of pairs
	// underestimated.
	Median, P90, Under float64
	// Beyond is the share of pairs whose measured RTT exceeds the
	// estimator's upper bound (estimate + k·σ).
	Beyond float64
}

// EstimatorErrors evaluates the distance prior and the world model's fitted
// estimate on the hidden measured pairs: the world is built from the
// scenario's objects as the scheduler builds it (state.Build).
func EstimatorErrors(sc *Scenario, m *Measurements) []EstimatorError {
	sites, sources, _, _ := sc.objects(m)
	snap := state.Build(state.Objects{Sites: sites, Sources: sources})
	site := make(map[string]SiteSpec, len(sc.Sites))
	for _, s := range sc.Sites {
		site[s.Name] = s
	}
	source := make(map[string]SourceSpec, len(sc.Sources))
	for _, s := range sc.Sources {
		source[s.Name] = s
	}
	w := snap.World
	var prior, fitted, priorUp, fittedUp, truth []float64
	for si, s := range snap.Sites() {
		for j, src := range snap.Sources() {
			a, b := m.Cities[source[src.Name].City], m.Cities[site[s.Name].City]
			ms, ok := m.RTT(a.Name, b.Name)
			if _, p := w.RTTAt(si, j); !ok || !p.IsEstimate() {
				continue // unmeasured, or declared
			}
			est := rttmodel.EstimateRTT(a.Lat, a.Lon, b.Lat, b.Lon)
			prior = append(prior, est)
			priorUp = append(priorUp, rttmodel.EstimatePriorUpper(est))
			v, _ := w.RTTAt(si, j)
			fitted = append(fitted, v)
			fittedUp = append(fittedUp, w.RTTUpperAt(si, j))
			truth = append(truth, ms)
		}
	}
	return []EstimatorError{errorsOf("distance prior", prior, priorUp, truth), errorsOf("fitted", fitted, fittedUp, truth)}
}

func errorsOf(name string, est, upper, truth []float64) EstimatorError {
	e := EstimatorError{Estimator: name, Pairs: len(truth)}
	if len(truth) == 0 {
		e.Median, e.P90, e.Under, e.Beyond = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return e
	}
	abs := make([]float64, len(truth))
	for i := range truth {
		abs[i] = math.Abs(est[i] - truth[i])
		if est[i] < truth[i] {
			e.Under++
		}
		if upper[i] < truth[i] {
			e.Beyond++
		}
	}
	slices.Sort(abs)
	e.Median = stat.Quantile(0.5, stat.Empirical, abs, nil)
	e.P90 = stat.Quantile(0.9, stat.Empirical, abs, nil)
	e.Under /= float64(len(truth))
	e.Beyond /= float64(len(truth))
	return e
}

func formatMs(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
