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
	"math"
	"slices"

	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// rttFitted is a fit with the inputs it was made from, so that a rebuild
// whose inputs did not change reuses it.
type rttFitted struct {
	fit            *rttmodel.RTTFit
	dist, measured []float64
	sites, sources int
}

// sameInputs reports whether a fit was made from exactly these inputs
// (live RTTs already on the grid, rttmodel.FitGrid): then it is the fit they give.
func (r *rttFitted) sameInputs(sites, sources int, dist, measured []float64) bool {
	return r != nil && r.sites == sites && r.sources == sources &&
		slices.EqualFunc(r.dist, dist, sameFloat) && slices.EqualFunc(r.measured, measured, sameFloat)
}

// sameFloat: equal, or both NaN.
func sameFloat(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }

// fillEstimates replaces every estimated RTT of w (Provenance Estimated,
// with both locations known) by the fitted model's estimate, marks it
// Fitted when the model was fitted, and fills w.RTTUpper. The fit is
// prev's when the inputs are the same; otherwise f's when it has one for
// them, or a new one made here when f is nil. When f is making it, the
// estimates come from prev's fit if the sites and sources are where they
// were (only RTTs changed), else from the distance prior, and pending is
// set.
func fillEstimates(w *scoring.World, siteLocs, sourceLocs []latLon, prev *rttFitted, f *fitter) (r *rttFitted, pending bool) {
	n, m := len(siteLocs), len(sourceLocs)
	dist := make([]float64, n*m)
	measured := make([]float64, n*m)
	for s := range n {
		for j := range m {
			k := s*m + j
			dist[k], measured[k] = math.NaN(), math.NaN()
			if a, b := siteLocs[s], sourceLocs[j]; a.ok && b.ok {
				dist[k] = rttmodel.GreatCircleKilometres(a.lat, a.lon, b.lat, b.lon)
			}
			if !w.RTTProvenance[k].IsEstimate() && w.RTT[k] < scoring.UnknownRTT {
				measured[k] = w.RTT[k]
				if w.RTTProvenance[k]&scoring.Live != 0 {
					measured[k] = rttmodel.FitGrid(measured[k])
				}
			}
		}
	}
	r = prev
	if !prev.sameInputs(n, m, dist, measured) {
		in := rttmodel.RTTInput{Sites: n, Sources: m, DistKm: dist, Measured: measured,
			SiteLat: make([]float64, n), SiteLon: make([]float64, n), SourceLat: make([]float64, m), SourceLon: make([]float64, m)}
		for s, l := range siteLocs {
			in.SiteLat[s], in.SiteLon[s] = l.coords()
		}
		for j, l := range sourceLocs {
			in.SourceLat[j], in.SourceLon[j] = l.coords()
		}
		switch {
		case f == nil:
			r = &rttFitted{fit: rttmodel.FitRTT(in), dist: dist, measured: measured, sites: n, sources: m}
		default:
			r = f.get(in, dist, measured)
			if r == nil {
				pending = true
				r = prev
				if prev == nil || prev.sites != n || prev.sources != m || !slices.EqualFunc(prev.dist, dist, sameFloat) {
					r = &rttFitted{fit: &rttmodel.RTTFit{}, dist: dist, sites: n, sources: m}
				}
			}
		}
	}
	w.RTTUpper = make([]float64, n*m)
	for k := range n * m {
		w.RTTUpper[k] = w.RTT[k]
		if !w.RTTProvenance[k].IsEstimate() || math.IsNaN(dist[k]) {
			continue
		}
		est, upper := r.fit.Estimate(k/m, k%m, dist[k])
		if pending && r.measured != nil && !math.IsNaN(r.measured[k]) {
			// The fit in use saw this pair measured, and the measurement is
			// gone (a series vanished) while the refit without it runs: its
			// own bound for the pair is in-sample, so no tighter than the
			// distance prior's until the refit is done.
			upper = max(upper, rttmodel.EstimatePriorUpper(rttmodel.Prior(dist[k])))
		}
		w.RTT[k], w.RTTUpper[k] = est, upper
		if r.fit.Fitted {
			w.RTTProvenance[k] |= scoring.Fitted
		}
	}
	return r, pending
}

// coords are the location's latitude and longitude, NaN when unknown.
func (l latLon) coords() (lat, lon float64) {
	if !l.ok {
		return math.NaN(), math.NaN()
	}
	return l.lat, l.lon
}

// estimateBetween is EstimateRTT for parsed locations; ok is false when
// either location is unknown.
func estimateBetween(a, b latLon) (ms float64, ok bool) {
	if !a.ok || !b.ok {
		return 0, false
	}
	return rttmodel.EstimateRTT(a.lat, a.lon, b.lat, b.lon), true
}
