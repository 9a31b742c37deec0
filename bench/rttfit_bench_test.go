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

package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// syntheticRTTInput is a world of sites and sources at random places in
// Europe and North America whose RTTs follow the distance prior with a
// per-city offset and noise; measured of every pair are measured.
func syntheticRTTInput(sites, sources int, measured float64, seed uint64) rttmodel.RTTInput {
	r := rand.New(rand.NewPCG(seed, 7))
	in := rttmodel.RTTInput{Sites: sites, Sources: sources,
		DistKm: make([]float64, sites*sources), Measured: make([]float64, sites*sources),
		SiteLat: make([]float64, sites), SiteLon: make([]float64, sites),
		SourceLat: make([]float64, sources), SourceLon: make([]float64, sources)}
	place := func() (lat, lon float64) {
		if r.IntN(2) == 0 {
			return 36 + 24*r.Float64(), -10 + 40*r.Float64() // Europe
		}
		return 26 + 22*r.Float64(), -122 + 52*r.Float64() // North America
	}
	siteOff, srcOff := make([]float64, sites), make([]float64, sources)
	for s := range sites {
		in.SiteLat[s], in.SiteLon[s] = place()
		siteOff[s] = 5 * r.Float64()
	}
	for j := range sources {
		in.SourceLat[j], in.SourceLon[j] = place()
		srcOff[j] = 5 * r.Float64()
	}
	for s := range sites {
		for j := range sources {
			k := s*sources + j
			d := rttmodel.GreatCircleKilometres(in.SiteLat[s], in.SiteLon[s], in.SourceLat[j], in.SourceLon[j])
			in.DistKm[k] = d
			in.Measured[k] = math.NaN()
			if r.Float64() < measured {
				in.Measured[k] = rttmodel.EstimateRTT(in.SiteLat[s], in.SiteLon[s], in.SourceLat[j], in.SourceLon[j])*(1+0.3*r.Float64()) +
					siteOff[s] + srcOff[j] + r.NormFloat64()
			}
		}
	}
	return in
}

// BenchmarkRTTFit is one refit of the RTT model, as the world model runs it
// when declared or live RTTs change (never per pod): cross-validated
// choice of rank and neighbour reach, the final fit, and the estimates of
// every unmeasured pair.
func BenchmarkRTTFit(b *testing.B) {
	sizes := []struct{ sites, sources int }{{29, 12}, {200, 16}, {2000, 64}}
	if *fleet {
		sizes = append(sizes, struct{ sites, sources int }{10000, 64})
	}
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("sites=%d/sources=%d", sz.sites, sz.sources), func(b *testing.B) {
			in := syntheticRTTInput(sz.sites, sz.sources, 0.6, 1)
			b.ReportAllocs()
			for b.Loop() {
				f := rttmodel.FitRTT(in)
				for k, m := range in.Measured {
					if math.IsNaN(m) {
						f.Estimate(k/sz.sources, k%sz.sources, in.DistKm[k])
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/refit")
		})
	}
}

// BenchmarkScoreEstimates is BenchmarkScore's per-pod work on one world
// with every RTT declared and with 40% of them estimates judged at their
// upper bound (the default), in one run: the conservative max-RTT rule
// must not change the per-pod cost.
func BenchmarkScoreEstimates(b *testing.B) {
	for _, sz := range []struct{ nodes, sites, sources int }{{5000, 200, 16}, {50000, 2000, 16}, {50000, 2000, 64}} {
		for _, estimated := range []bool{false, true} {
			name := fmt.Sprintf("nodes=%d/sites=%d/sources=%d/estimated=%v", sz.nodes, sz.sites, sz.sources, estimated)
			b.Run(name, func(b *testing.B) {
				w, nodes := SyntheticWorld(sz.nodes, sz.sites, sz.sources, 1)
				if estimated {
					r := rand.New(rand.NewPCG(2, 3))
					w.RTTUpper = make([]float64, len(w.RTT))
					for k, v := range w.RTT {
						w.RTTUpper[k] = v
						if r.Float64() < 0.4 {
							w.RTTProvenance[k] = scoring.Estimated | scoring.Fitted
							w.RTTUpper[k] = v * 1.2
						}
					}
				}
				scorePods(b, w, nodes)
			})
		}
	}
}
