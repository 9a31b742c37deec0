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
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

var scoreSizes = []struct{ nodes, sites, sources int }{
	{1000, 10, 1},
	{1000, 100, 8},
	{5000, 200, 16},
	{10000, 500, 16},
	{10000, 2000, 64},
	{50000, 2000, 16},
	{50000, 2000, 64},
}

// BenchmarkScore is one pod's core work as the plugin runs it, over every
// node (an upper bound: the plugin narrows to about 100 candidates):
// evaluate the policy against the world once (feasible sites, latency by
// matrix-vector product, cost, site scores and ranking, as in PreFilter),
// then per node what Filter and Score read — the site's feasibility, the
// load rule, the node's packed site and load parts (NormalizeScore's pass
// over the candidates is the plugin's, timed in BenchmarkPlugins).
func BenchmarkScore(b *testing.B) {
	for _, sz := range scoreSizes {
		b.Run(fmt.Sprintf("nodes=%d/sites=%d/sources=%d", sz.nodes, sz.sites, sz.sources), func(b *testing.B) {
			w, nodes := SyntheticWorld(sz.nodes, sz.sites, sz.sources, 1)
			scorePods(b, w, nodes)
		})
	}
}

// scorePods times one pod's core work per iteration: Evaluate, then per
// node the site's feasibility, the load rule and the packed score.
func scorePods(b *testing.B, w *scoring.World, nodes *SyntheticNodes) {
	p := SyntheticPolicy(w)
	var pl scoring.Plan
	out := make([]int64, len(nodes.Site))
	b.ReportAllocs()
	for b.Loop() {
		pl.Evaluate(w, p)
		for i, s := range nodes.Site {
			load := scoring.NodeLoad{Value: nodes.Load[i], Live: true}
			out[i] = 0
			if pl.SiteFeasible(int(s)) && pl.LoadRule(load) == scoring.LoadAllowed {
				out[i] = int64(pl.NodeScore(int(s), load.Value))
			}
		}
	}
	reportPerNode(b, len(nodes.Site))
}

// BenchmarkNaive is the same work written the way a typical plugin is: per
// node, look the site and every RTT up in maps and compute everything again.
func BenchmarkNaive(b *testing.B) {
	for _, sz := range scoreSizes[:5] {
		b.Run(fmt.Sprintf("nodes=%d/sites=%d/sources=%d", sz.nodes, sz.sites, sz.sources), func(b *testing.B) {
			w, nodes := SyntheticWorld(sz.nodes, sz.sites, sz.sources, 1)
			p := SyntheticPolicy(w)
			nw := newNaiveWorld(w, nodes)
			b.ReportAllocs()
			for b.Loop() {
				nw.scoreAll(p)
			}
			reportPerNode(b, sz.nodes)
		})
	}
}

func reportPerNode(b *testing.B, nodes int) {
	perPod := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perPod/float64(nodes), "ns/node")
	b.ReportMetric(1e9/perPod, "pods/s")
}

type naiveSite struct {
	tier               scoring.Tier
	eu, healthy        bool
	cpuPrice, memPrice float64
}

type naiveWorld struct {
	nodeSite map[string]string
	sites    map[string]naiveSite
	rtt      map[string]map[string]float64 // source → site → ms
	sources  []string
	nodes    []string
	load     map[string]float64
}

func newNaiveWorld(w *scoring.World, nodes *SyntheticNodes) *naiveWorld {
	nw := &naiveWorld{nodeSite: map[string]string{}, sites: map[string]naiveSite{},
		rtt: map[string]map[string]float64{}, sources: w.SourceNames, nodes: nodes.Names, load: map[string]float64{}}
	for s, name := range w.Sites.Names {
		nw.sites[name] = naiveSite{tier: w.Sites.Tier[s], eu: !w.Sites.Tags[s].Empty(), healthy: w.Sites.Healthy[s],
			cpuPrice: w.Sites.CPUPrice[s], memPrice: w.Sites.MemPrice[s]}
	}
	for j, src := range w.SourceNames {
		nw.rtt[src] = map[string]float64{}
		for s, name := range w.Sites.Names {
			nw.rtt[src][name], _ = w.RTTAt(s, j)
		}
	}
	for i, n := range nodes.Names {
		nw.nodeSite[n] = w.Sites.Names[nodes.Site[i]]
		nw.load[n] = nodes.Load[i]
	}
	return nw
}

// scoreAll scores every node independently: two passes (min/max, then
// scores), each looking everything up per node, as per-node Score plugins do.
func (nw *naiveWorld) scoreAll(p *scoring.Policy) map[string]int64 {
	type raw struct{ lat, cost, load float64 }
	raws := make(map[string]raw, len(nw.nodes))
	lmin, lmax, cmin, cmax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, n := range nw.nodes {
		site := nw.nodeSite[n]
		st := nw.sites[site]
		if !st.eu || !st.healthy {
			continue
		}
		lat, wsum, worst := 0.0, 0.0, 0.0
		for k, j := range p.Sources {
			v := nw.rtt[nw.sources[j]][site]
			lat += p.Weights[k] * v
			wsum += p.Weights[k]
			worst = max(worst, v)
		}
		lat /= wsum
		if worst > p.MaxRTT {
			continue
		}
		cost := p.Cores*st.cpuPrice + p.MemGiB*st.memPrice
		raws[n] = raw{lat, cost, nw.load[n]}
		lmin, lmax, cmin, cmax = min(lmin, lat), max(lmax, lat), min(cmin, cost), max(cmax, cost)
	}
	scores := make(map[string]int64, len(raws))
	wsum := p.WLatency + p.WCost + p.WLoad
	for n, r := range raws {
		lt := (lmax - r.lat) / (lmax - lmin)
		ct := (cmax - r.cost) / (cmax - cmin)
		scores[n] = int64(100*(p.WLatency*lt+p.WCost*ct+p.WLoad*(1-r.load))/wsum + 0.5)
	}
	return scores
}

// BenchmarkLatencyKernel compares ways of computing the weighted-mean RTT
// of every site over every source: gonum's Gemv on the [sites × sources]
// matrix, a plain row-major loop, and a per-site map lookup.
func BenchmarkLatencyKernel(b *testing.B) {
	for _, sz := range []struct{ sites, sources int }{{200, 8}, {2000, 8}, {2000, 16}, {2000, 64}} {
		w, nodes := SyntheticWorld(1, sz.sites, sz.sources, 1)
		x := make([]float64, sz.sources)
		for j := range x {
			x[j] = 1 / float64(sz.sources)
		}
		y := make([]float64, sz.sites)
		name := fmt.Sprintf("sites=%d/sources=%d", sz.sites, sz.sources)
		b.Run("gemv/"+name, func(b *testing.B) {
			a := blas64.General{Rows: sz.sites, Cols: sz.sources, Stride: sz.sources, Data: w.RTT}
			b.ReportAllocs()
			for b.Loop() {
				blas64.Gemv(blas.NoTrans, 1, a, blas64.Vector{N: sz.sources, Inc: 1, Data: x}, 0, blas64.Vector{N: sz.sites, Inc: 1, Data: y})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sz.sites), "ns/site")
		})
		b.Run("loop/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for s := range sz.sites {
					row := w.RTT[s*sz.sources : (s+1)*sz.sources]
					acc := 0.0
					for j, v := range row {
						acc += x[j] * v
					}
					y[s] = acc
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sz.sites), "ns/site")
		})
		b.Run("map/"+name, func(b *testing.B) {
			nw := newNaiveWorld(w, nodes)
			b.ReportAllocs()
			for b.Loop() {
				for s, site := range w.Sites.Names {
					acc := 0.0
					for j, src := range nw.sources {
						acc += x[j] * nw.rtt[src][site]
					}
					y[s] = acc
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sz.sites), "ns/site")
		})
	}
}
