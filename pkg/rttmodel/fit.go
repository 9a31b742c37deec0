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
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// The fitted RTT model fills the (source, site) pairs that nobody declared
// or measured live from the pairs that somebody did:
//
//	rtt(j, s) = L(d) + a_j + b_s + u_j·v_s + n(j, s)
//
// where:
//
//   - L is a piecewise-linear curve in the great-circle distance d (knots
//     at 0, 250, 750, 2,000, 5,000, 10,000 km): metro, regional,
//     continental and ocean routes are inflated differently. It is pulled
//     toward the distance prior (EstimateRTT) with the weight of
//     RTTFitPriorWeight pairs per knot, so a handful of measurements
//     cannot bend it.
//   - a_j and b_s are offsets per source and per site: how much slower
//     than its distance a city's network is (a far-off exchange point, a
//     slow last mile), ridge-regularised toward 0 with RTTFitRidge pairs.
//   - u_j·v_s is a low-rank interaction (rank 0 to 2, chosen by
//     cross-validation): groups of sources that reach groups of sites
//     faster or slower than the rest.
//   - n(j, s) is a neighbour correction: what the model gets wrong for
//     this source at nearby sites and for nearby sources at this site,
//     weighted by distance (reach chosen by cross-validation, or off).
//
// Each estimate carries an uncertainty from the fit's held-out errors
// (5-fold cross-validation: the errors it makes on measured pairs it was
// not fitted to): their mean size as a curve in distance, scaled for
// sources and sites whose routes are more erratic than most, and for
// those with fewer measurements than most. The upper bound is the estimate
// plus the RTTUpperQuantile quantile of those errors in that scale: the
// snapshot keeps the estimate (the score uses it) and the upper bound (a
// hard maxRTT bound judges by it unless the policy says otherwise). With
// fewer than RTTFitMinPairs usable measurements no fit is made: the prior
// stands, with the prior's own measured error as its bound
// (EstimatePriorUpper).
//
// On the WonderProxy data with 60% of a world's pairs declared, the fit's
// median and 90th-percentile errors on the other 40% are about half the
// prior's (pkg/demo, `proxima-demo --declared-fraction`).
//
// The world model (package state) fits when its declared and live RTTs or
// locations change, never in a scheduling cycle and not in its worker but
// beside it: alternating least squares over the measured pairs,
// O(folds × iterations × pairs). Until it is done a snapshot keeps the
// previous fit's estimates and says so (state.Snapshot.FitPending).
// Live RTTs enter the fit rounded to a fixed grid (FitGrid), so that
// jitter on every telemetry refresh does not refit, and the fit is a
// function of the current inputs alone, not of the order they arrived in:
// the scheduler and proxima-controller, each with its own model, hold the
// same fit for the same data and judge a bound alike. The measured RTTs
// themselves are always used as they are; only estimates wait for a refit.
const (
	// RTTFitRidge is the ridge strength on the per-source and per-site
	// offsets, in pairs: an endpoint with n measurements moves its offset
	// n/(n+RTTFitRidge) of the way to what its residuals say.
	RTTFitRidge = 2.0
	// RTTFitPriorWeight is how many pairs' worth of evidence the distance
	// prior's base and slope count for.
	RTTFitPriorWeight = 8.0
	// RTTFitMinPairs is the fewest measured pairs a fit is made from.
	RTTFitMinPairs = 6
	// RTTUpperQuantile is the share of estimates the upper bound is meant
	// to be above the true RTT for: estimate + z·σ, with z this quantile
	// of the fit's standardised held-out errors (at least 1).
	RTTUpperQuantile = 0.95

	rttFitIterations = 20
	// rttFitSmoothness weighs the fitted curve's bends (see fitCurve).
	rttFitSmoothness = 4.0
	// rttFitMaxRank is the highest rank of the interaction term tried;
	// rttFitFactorRidge its ridge strength. A higher rank is taken only
	// when it cuts the cross-validated error by rttFitRankGain.
	rttFitMaxRank     = 2 // fitFactors solves ranks 1 and 2
	rttFitFactorRidge = 5.0
	rttFitRankGain    = 0.03
	rttFitFolds       = 5
	rttScaleRidge     = 4.0
	// priorSlope is the prior's ms per km (EstimateRTT).
	priorSlope = 2 * EstimateRouteInflation / FibreKilometresPerMillisecond
	// Floor of σ, ms: measurements are rounded and jitter.
	rttSigmaFloor = 1.0
	// fitGridStep is the ratio between neighbouring points of the grid
	// live RTTs are rounded to for the fit (FitGrid), fitGridFloor the
	// step in ms below which the grid is linear.
	fitGridStep  = 1.05
	fitGridFloor = 1.0
)

// FitGrid is the value a live RTT of ms milliseconds enters the fit as:
// rounded to the nearest whole millisecond up to 20 ms, and above that to
// the nearest point of a geometric grid 5% apart, so that a measurement
// moving within its grid cell neither refits nor changes the fit. The
// grid is fixed: the same value gives the same point in every process.
func FitGrid(ms float64) float64 {
	if math.IsNaN(ms) || ms <= 0 {
		return ms
	}
	if ms < fitGridFloor/(fitGridStep-1) {
		return math.Round(ms/fitGridFloor) * fitGridFloor
	}
	step := math.Log(fitGridStep)
	return math.Exp(math.Round(math.Log(ms)/step) * step)
}

// EstimatePriorUpper is the upper bound of a distance-prior estimate of est
// ms (see EstimateRTT): over all measured WonderProxy pairs, the measured
// RTT is below 1.9 × the estimate + 30 ms for about 95% of them at every
// distance. Without measurements to fit, an estimate is that uncertain.
func EstimatePriorUpper(est float64) float64 {
	return 1.9*est + 30
}

// rttKnotsKm are the knots of the fitted distance curve: routes across a
// metro, a region, a continent and an ocean are inflated differently.
var rttKnotsKm = [...]float64{0, 250, 750, 2000, 5000, 10000, 20100}

const numKnots = len(rttKnotsKm)

// hat returns the knot interval of d and the weight of its upper knot: the
// linear-interpolation basis of the curve.
func hat(d float64) (i int, t float64) {
	d = min(max(d, 0), rttKnotsKm[numKnots-1])
	for i = 0; i < numKnots-2 && d > rttKnotsKm[i+1]; i++ {
	}
	return i, (d - rttKnotsKm[i]) / (rttKnotsKm[i+1] - rttKnotsKm[i])
}

// curve is a piecewise-linear function of distance, by its values at the
// knots.
type curve [numKnots]float64

func (c *curve) at(d float64) float64 {
	i, t := hat(d)
	return (1-t)*c[i] + t*c[i+1]
}

// hatPoint is a distance in the curve's basis: its knot interval and the
// weight of the interval's upper knot.
type hatPoint struct {
	i int
	t float64
}

func hats(d []float64) []hatPoint {
	out := make([]hatPoint, len(d))
	for k, v := range d {
		out[k].i, out[k].t = hat(v)
	}
	return out
}

func (c *curve) atHat(h hatPoint) float64 { return (1-h.t)*c[h.i] + h.t*c[h.i+1] }

// fitCurve is the penalised least-squares curve through the points
// (h[k], y[k]): each knot is pulled toward prior's value with the weight of
// priorWeight points, and the slope is kept from bending sharply between
// knots (smoothness, also in points).
func fitCurve(h []hatPoint, y []float64, prior *curve, priorWeight, smooth float64) curve {
	var a [numKnots][numKnots]float64
	var rhs [numKnots]float64
	for k, p := range h {
		i, t := p.i, p.t
		a[i][i] += (1 - t) * (1 - t)
		a[i][i+1] += (1 - t) * t
		a[i+1][i+1] += t * t
		rhs[i] += (1 - t) * y[k]
		rhs[i+1] += t * y[k]
	}
	for i := range numKnots {
		a[i][i] += priorWeight
		rhs[i] += priorWeight * prior[i]
	}
	// Smoothness: the change of slope at each inner knot, in ms per
	// 1,000 km, squared. The prior is a line, so this pulls toward it too.
	for i := 1; i < numKnots-1; i++ {
		l, r := 1000/(rttKnotsKm[i]-rttKnotsKm[i-1]), 1000/(rttKnotsKm[i+1]-rttKnotsKm[i])
		row := [3]float64{l, -l - r, r}
		for x := range 3 {
			for z := x; z < 3; z++ {
				a[i-1+x][i-1+z] += smooth * row[x] * row[z]
			}
		}
	}
	ata := mat.NewSymDense(numKnots, nil)
	for i := range numKnots {
		for j := i; j < numKnots; j++ {
			ata.SetSym(i, j, a[i][j])
		}
	}
	var ch mat.Cholesky
	out := *prior
	var x mat.VecDense
	if ch.Factorize(ata) && ch.SolveVecTo(&x, mat.NewVecDense(numKnots, rhs[:])) == nil {
		for i := range out {
			out[i] = x.AtVec(i)
		}
	}
	return out
}

// RTTFit is a fitted RTT model over a [sites × sources] matrix.
type RTTFit struct {
	// Fitted is false when there were too few measurements: Estimate then
	// returns the distance prior.
	Fitted bool
	// Pairs is the number of measured pairs fitted.
	Pairs int
	// line is the common RTT curve in distance, sigma the residuals'
	// standard deviation in distance.
	line, sigma curve
	// SourceOffset and SiteOffset (ms) by index.
	SourceOffset, SiteOffset []float64
	// count of measured pairs per source and per site.
	nSource, nSite []int
	// u and v are the low-rank interaction's factors, rank per source and
	// per site.
	u, v []float64
	rank int
	// typical is the thinness of the endpoints σ was measured on.
	typical float64
	// sourceScale and siteScale scale σ per endpoint (nil: 1).
	sourceScale, siteScale []float64
	// upperZ is z in the upper bound estimate + z·σ.
	upperZ float64
	// resid is the model's residual on each measured pair (NaN elsewhere),
	// nb the neighbours and reach (km, 0: off) the neighbour correction's.
	resid          []float64
	nb             *neighbours
	reach          float64
	sites, sources int
	// maxKm is the longest distance among the measured pairs: beyond it
	// the data says nothing, and the bound is the prior's at least.
	maxKm float64
}

// rttNeighbourReachKm are the reaches of the neighbour correction that
// cross-validation chooses from.
var rttNeighbourReachKm = [...]float64{150, 400, 1000}

const (
	// rttNeighbours is how many nearest sites (and sources) the
	// neighbour correction reads.
	rttNeighbours = 12
	// rttNeighbourPrior is the weight of a zero correction, as of one
	// neighbour at distance 0.
	rttNeighbourPrior = 1.0
)

// neighbours lists, for every site and every source, the nearest other
// sites (sources) and their distances, nearest first.
type neighbours struct {
	site, source [][]neighbour
}

type neighbour struct {
	i  int32
	km float32
}

// neighboursOf finds each site's and source's nearest others; nil when
// locations are not given.
func neighboursOf(in *RTTInput) *neighbours {
	if in.SiteLat == nil || in.SourceLat == nil {
		return nil
	}
	near := func(lat, lon []float64) [][]neighbour {
		// Points on the unit sphere: the nearest by great circle are the
		// nearest by chord, which is a dot product away.
		const rad = math.Pi / 180
		xyz := make([][3]float64, len(lat))
		for a := range lat {
			if !math.IsNaN(lat[a]) {
				xyz[a] = [3]float64{math.Cos(lat[a]*rad) * math.Cos(lon[a]*rad), math.Cos(lat[a]*rad) * math.Sin(lon[a]*rad), math.Sin(lat[a] * rad)}
			}
		}
		out := make([][]neighbour, len(lat))
		type cand struct {
			i   int32
			dot float64
		}
		var best [rttNeighbours]cand
		for a := range lat {
			if math.IsNaN(lat[a]) {
				continue
			}
			n := 0
			for b := range lat {
				if b == a || math.IsNaN(lat[b]) {
					continue
				}
				dot := xyz[a][0]*xyz[b][0] + xyz[a][1]*xyz[b][1] + xyz[a][2]*xyz[b][2]
				if n == rttNeighbours && dot <= best[n-1].dot {
					continue
				}
				// Insert, keeping best sorted nearest (largest dot) first.
				if n < rttNeighbours {
					n++
				}
				i := n - 1
				for ; i > 0 && best[i-1].dot < dot; i-- {
					best[i] = best[i-1]
				}
				best[i] = cand{int32(b), dot}
			}
			out[a] = make([]neighbour, n)
			for k := range n {
				b := best[k].i
				out[a][k] = neighbour{b, float32(GreatCircleKilometres(lat[a], lon[a], lat[b], lon[b]))}
			}
		}
		return out
	}
	return &neighbours{site: near(in.SiteLat, in.SiteLon), source: near(in.SourceLat, in.SourceLon)}
}

// residuals records the model's residual on the measured pairs idx.
func (f *RTTFit) residuals(idx []int, distKm, measured []float64) {
	f.resid = make([]float64, len(distKm))
	for k := range f.resid {
		f.resid[k] = math.NaN()
	}
	for _, k := range idx {
		f.resid[k] = measured[k] - f.central(k/f.sources, k%f.sources, distKm[k])
	}
}

// nearby is the neighbour correction of the pair (site s, source j): what
// the model gets wrong for this source at nearby sites and for nearby
// sources at this site, weighted by exp(-distance/reach) and shrunk toward
// 0. Routes are regional: a city that reaches the west through a distant
// exchange is slow to every western site, which per-endpoint offsets
// average away.
func (f *RTTFit) nearby(nb *neighbours, reach float64, s, j int) float64 {
	if nb == nil || f.resid == nil {
		return 0
	}
	num, den := 0.0, rttNeighbourPrior
	m := f.sources
	for _, n := range nb.site[s] {
		if e := f.resid[int(n.i)*m+j]; !math.IsNaN(e) {
			w := math.Exp(-float64(n.km) / reach)
			num, den = num+w*e, den+w
		}
	}
	for _, n := range nb.source[j] {
		if e := f.resid[s*m+int(n.i)]; !math.IsNaN(e) {
			w := math.Exp(-float64(n.km) / reach)
			num, den = num+w*e, den+w
		}
	}
	return num / den
}

func (f *RTTFit) interaction(s, j int) float64 {
	if f.u == nil {
		return 0
	}
	var x float64
	for r := range f.rank {
		x += f.u[j*f.rank+r] * f.v[s*f.rank+r]
	}
	return x
}

// fitFactors is one round of alternating ridge least squares for the
// interaction u_j·v_s (rank 1 or 2) on what the curve and offsets leave.
func (f *RTTFit) fitFactors(idx []int, measured, line []float64, sources, sites int) {
	R := f.rank
	if f.u == nil {
		f.u, f.v = make([]float64, sources*R), make([]float64, sites*R)
		for i := range f.u {
			f.u[i] = 0.1 * float64(1+i%7) // a fixed, non-degenerate start
		}
	}
	resid := make([]float64, len(idx))
	for i, k := range idx {
		resid[i] = measured[k] - line[i] - f.SourceOffset[k%sources] - f.SiteOffset[k/sources]
	}
	// solve sets x (n entities × R) to the ridge solution given the other
	// side's factors: per entity the R×R normal equations, solved in
	// closed form.
	solve := func(x, other []float64, n int, own, peer func(k int) int) {
		ata := make([]float64, n*3) // a00, a01, a11
		atb := make([]float64, n*2)
		for i, k := range idx {
			e, p := own(k), peer(k)
			o0 := other[p*R]
			ata[e*3] += o0 * o0
			atb[e*2] += o0 * resid[i]
			if R == 2 {
				o1 := other[p*R+1]
				ata[e*3+1] += o0 * o1
				ata[e*3+2] += o1 * o1
				atb[e*2+1] += o1 * resid[i]
			}
		}
		for e := range n {
			a00, a01, a11 := ata[e*3]+rttFitFactorRidge, ata[e*3+1], ata[e*3+2]+rttFitFactorRidge
			b0, b1 := atb[e*2], atb[e*2+1]
			if R == 1 {
				x[e] = b0 / a00
				continue
			}
			det := a00*a11 - a01*a01
			x[e*2], x[e*2+1] = (a11*b0-a01*b1)/det, (a00*b1-a01*b0)/det
		}
	}
	solve(f.v, f.u, sites, func(k int) int { return k / sources }, func(k int) int { return k % sources })
	solve(f.u, f.v, sources, func(k int) int { return k % sources }, func(k int) int { return k / sources })
}

func priorCurve() curve {
	var c curve
	for i, d := range rttKnotsKm {
		c[i] = EstimateBaseMilliseconds + priorSlope*d
	}
	return c
}

// RTTInput is what FitRTT fits: an [sites × sources] row-major matrix of
// great-circle distances and measured RTTs, and where the sites and
// sources are.
type RTTInput struct {
	Sites, Sources int
	// DistKm is each pair's great-circle distance (NaN: a location is
	// unknown).
	DistKm []float64
	// Measured is each pair's declared or live RTT (NaN: not measured).
	Measured []float64
	// SiteLat, SiteLon, SourceLat and SourceLon are the locations in
	// decimal degrees (NaN: unknown); nil leaves out the neighbour
	// correction.
	SiteLat, SiteLon, SourceLat, SourceLon []float64
}

// FitRTT fits the model to in.
//
// The rank of the interaction term (0 to rttFitMaxRank) and the reach of
// the neighbour correction are chosen by rttFitFolds-fold cross-validation
// over the measured pairs, and σ comes from the chosen model's held-out
// residuals: the errors it makes on pairs it was not fitted to, which is
// what an estimate is.
func FitRTT(in RTTInput) *RTTFit {
	sites, sources, distKm, measured := in.Sites, in.Sources, in.DistKm, in.Measured
	var idx []int
	for k := range sites * sources {
		if !math.IsNaN(measured[k]) && measured[k] >= 0 && !math.IsNaN(distKm[k]) {
			idx = append(idx, k)
		}
	}
	if len(idx) < RTTFitMinPairs {
		return fitOn(sites, sources, distKm, measured, nil, 0)
	}
	nb := neighboursOf(&in)
	// Folds: a fixed pseudo-random assignment, so that a refit of the same
	// inputs gives the same model.
	fold := make([]int, len(idx))
	for i, k := range idx {
		fold[i] = int((uint64(k)*0x9E3779B97F4A7C15)>>40) % rttFitFolds
	}
	bestRank, bestErr := 0, math.Inf(1)
	var bestRes []float64
	var bestFolds []*RTTFit
	for rank := range rttFitMaxRank + 1 {
		res := make([]float64, len(idx))
		folds := make([]*RTTFit, rttFitFolds)
		var sum float64
		for k := range rttFitFolds {
			train := make([]int, 0, len(idx))
			for i, p := range idx {
				if fold[i] != k {
					train = append(train, p)
				}
			}
			f := fitOn(sites, sources, distKm, measured, train, rank)
			f.residuals(train, distKm, measured)
			folds[k] = f
			for i, p := range idx {
				if fold[i] == k {
					res[i] = measured[p] - f.central(p/sources, p%sources, distKm[p])
					sum += math.Abs(res[i])
				}
			}
		}
		if !(sum < bestErr*(1-rttFitRankGain)) {
			break // a higher rank will not help where this one did not
		}
		bestRank, bestErr, bestRes, bestFolds = rank, sum, res, folds
	}
	// The neighbour correction's reach: none, or the one whose held-out
	// errors are smallest.
	bestReach := 0.0
	if nb != nil {
		for _, reach := range rttNeighbourReachKm {
			res := make([]float64, len(idx))
			var sum float64
			for i, p := range idx {
				f := bestFolds[fold[i]]
				res[i] = measured[p] - f.central(p/sources, p%sources, distKm[p]) - f.nearby(nb, reach, p/sources, p%sources)
				sum += math.Abs(res[i])
			}
			if sum < bestErr {
				bestReach, bestErr, bestRes = reach, sum, res
			}
		}
	}
	f := fitOn(sites, sources, distKm, measured, idx, bestRank)
	if bestReach > 0 {
		f.residuals(idx, distKm, measured)
		f.nb, f.reach = nb, bestReach
	}
	// σ (here the mean absolute error, a scale robust to the few routes
	// that are far off) as a curve in distance: the held-out residuals,
	// pulled toward their overall mean where few pairs fall.
	d, v := make([]float64, len(idx)), make([]float64, len(idx))
	var total float64
	for i, k := range idx {
		d[i], v[i] = distKm[k], math.Abs(bestRes[i])
		total += v[i]
	}
	var flat curve
	for i := range flat {
		flat[i] = total / float64(len(idx))
	}
	f.sigma = fitCurve(hats(d), v, &flat, RTTFitPriorWeight, rttFitSmoothness)
	// Some cities' routes are more erratic than others': each source and
	// site scales σ by how large its own held-out residuals are against
	// the curve (shrunk toward 1 with rttScaleRidge pairs).
	f.sourceScale, f.siteScale = make([]float64, sources), make([]float64, sites)
	for i, k := range idx {
		z := v[i] / max(f.sigma.at(d[i]), rttSigmaFloor)
		f.sourceScale[k%sources] += z
		f.siteScale[k/sources] += z
	}
	for j, z := range f.sourceScale {
		f.sourceScale[j] = (z + rttScaleRidge) / (float64(f.nSource[j]) + rttScaleRidge)
	}
	for s, z := range f.siteScale {
		f.siteScale[s] = (z + rttScaleRidge) / (float64(f.nSite[s]) + rttScaleRidge)
	}
	// The held-out residuals already carry the uncertainty of offsets fitted
	// from a typical number of pairs; Estimate adds to it for endpoints
	// with fewer.
	f.typical = thinness(mean(f.nSource), mean(f.nSite))
	// z: the quantile of the standardised held-out errors (measured above
	// the estimate) that the upper bound covers.
	z := make([]float64, len(idx))
	for i, k := range idx {
		z[i] = bestRes[i] / f.sigmaAt(k/sources, k%sources, distKm[k])
	}
	slices.Sort(z)
	f.upperZ = max(1, stat.Quantile(RTTUpperQuantile, stat.Empirical, z, nil))
	return f
}

func mean(xs []int) float64 {
	var t float64
	for _, x := range xs {
		t += float64(x)
	}
	return t / float64(max(len(xs), 1))
}

// thinness is the variance factor of an estimate whose source and site
// offsets rest on nSource and nSite pairs.
func thinness(nSource, nSite float64) float64 {
	return 1 + RTTFitRidge/(nSource+RTTFitRidge) + RTTFitRidge/(nSite+RTTFitRidge)
}

// fitOn fits the curve, offsets and a rank-rank interaction to the pairs idx
// (nil: not fitted, the prior).
func fitOn(sites, sources int, distKm, measured []float64, idx []int, rank int) *RTTFit {
	f := &RTTFit{line: priorCurve(), rank: rank, sites: sites, sources: sources,
		SourceOffset: make([]float64, sources), SiteOffset: make([]float64, sites),
		nSource: make([]int, sources), nSite: make([]int, sites)}
	for _, k := range idx {
		f.nSource[k%sources]++
		f.nSite[k/sources]++
	}
	f.Pairs = len(idx)
	for _, k := range idx {
		f.maxKm = max(f.maxKm, distKm[k])
	}
	if len(idx) < RTTFitMinPairs {
		return f
	}
	f.Fitted = true
	a, b := f.SourceOffset, f.SiteOffset
	sumA, sumB := make([]float64, sources), make([]float64, sites)
	d, y := make([]float64, len(idx)), make([]float64, len(idx))
	for i, k := range idx {
		d[i] = distKm[k]
	}
	prior := priorCurve()
	h := hats(d)
	line := make([]float64, len(idx))
	for range rttFitIterations {
		// The curve, given the offsets.
		for i, k := range idx {
			y[i] = measured[k] - a[k%sources] - b[k/sources] - f.interaction(k/sources, k%sources)
		}
		f.line = fitCurve(h, y, &prior, RTTFitPriorWeight, rttFitSmoothness)
		for i := range idx {
			line[i] = f.line.atHat(h[i])
		}
		// The offsets, given the curve: ridge means of the residuals.
		clear(sumA)
		for i, k := range idx {
			sumA[k%sources] += measured[k] - line[i] - b[k/sources] - f.interaction(k/sources, k%sources)
		}
		for j := range a {
			a[j] = sumA[j] / (float64(f.nSource[j]) + RTTFitRidge)
		}
		clear(sumB)
		for i, k := range idx {
			sumB[k/sources] += measured[k] - line[i] - a[k%sources] - f.interaction(k/sources, k%sources)
		}
		for s := range b {
			b[s] = sumB[s] / (float64(f.nSite[s]) + RTTFitRidge)
		}
		if rank > 0 {
			f.fitFactors(idx, measured, line, sources, sites)
		}
	}
	return f
}

// Estimate is the model's RTT (ms) for the pair of site s and source j at
// distance distKm, and its upper bound (ms). The bound is never tighter
// than the distance prior's own (EstimatePriorUpper) where the fit has no
// evidence: beyond the longest measured distance, and for a site or a
// source without a single measured pair.
func (f *RTTFit) Estimate(s, j int, distKm float64) (ms, upper float64) {
	prior := Prior(distKm)
	if !f.Fitted {
		return prior, EstimatePriorUpper(prior)
	}
	est := f.central(s, j, distKm)
	if f.reach > 0 {
		est = max(est+f.nearby(f.nb, f.reach, s, j), 2*distKm/FibreKilometresPerMillisecond)
	}
	upper = est + f.upperZ*f.sigmaAt(s, j, distKm)
	if distKm > f.maxKm || f.nSite[s] == 0 || f.nSource[j] == 0 {
		upper = max(upper, EstimatePriorUpper(prior))
	}
	return est, upper
}

// EstimateSites is the model's RTT (ms) between sites s and t at distance
// distKm, and its upper bound. The model is fitted to (source, site)
// pairs: between two sites it reads the distance curve and both sites'
// offsets, and since no pair of sites is in its held-out errors, the bound
// is never tighter than the distance prior's own (EstimatePriorUpper).
func (f *RTTFit) EstimateSites(s, t int, distKm float64) (ms, upper float64) {
	prior := Prior(distKm)
	if !f.Fitted || s < 0 || t < 0 || s >= len(f.SiteOffset) || t >= len(f.SiteOffset) {
		return prior, EstimatePriorUpper(prior)
	}
	est := max(f.line.at(distKm)+f.SiteOffset[s]+f.SiteOffset[t], 2*distKm/FibreKilometresPerMillisecond)
	upper = max(est+f.upperZ*max(rttSigmaFloor, f.sigma.at(distKm)), EstimatePriorUpper(prior))
	return est, upper
}

// central is the model's RTT for a pair, never below the speed of light in
// fibre over the great circle.
func (f *RTTFit) central(s, j int, distKm float64) float64 {
	est := f.line.at(distKm) + f.SourceOffset[j] + f.SiteOffset[s] + f.interaction(s, j)
	return max(est, 2*distKm/FibreKilometresPerMillisecond)
}

// sigmaAt is the uncertainty (one σ, ms) of the estimate of a pair.
func (f *RTTFit) sigmaAt(s, j int, distKm float64) float64 {
	sigma := f.sigma.at(distKm)
	if f.sourceScale != nil {
		sigma *= math.Sqrt(f.sourceScale[j] * f.siteScale[s])
	}
	// Offsets resting on fewer pairs than usual are less certain.
	if f.typical > 0 {
		sigma *= math.Sqrt(max(1, thinness(float64(f.nSource[j]), float64(f.nSite[s]))/f.typical))
	}
	return max(rttSigmaFloor, sigma)
}
