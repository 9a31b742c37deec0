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
	"fmt"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// Allocation is the optimum: X[class][site] pods (fractional) and pods that
// fit nowhere.
type Allocation struct {
	X        [][]float64
	Unplaced []float64
}

// Optimum solves the offline placement as a transportation LP: pods of each
// class to sites, within each site's CPU (and GPU) capacity, only to sites
// that meet the class's hard rules, minimizing the sum over classes of each
// pod's objective: its RTT and its hourly cost, each divided by the class's
// largest feasible value, weighed by the latency and cost shares the
// scheduler's score gives the class's policy (state.Weights normalized by
// scoring.NormalizeWeights). The hard rules, RTTs and costs are the
// scheduler's core evaluated on the true RTTs (truth). It is a bound: it
// ignores node boundaries and arrival order.
func Optimum(sc *Scenario, m *Measurements) (*Allocation, error) {
	return optimum(sc, newTruth(sc, m))
}

func optimum(sc *Scenario, t *truth) (*Allocation, error) {
	nc, ns := len(sc.Classes), len(sc.Sites)
	type pair struct{ c, s int }
	var pairs []pair
	var obj []float64
	for ci, c := range sc.Classes {
		cm, err := t.model(c)
		if err != nil {
			return nil, err
		}
		var maxRTT, maxCost float64
		var feas []int
		for si, site := range sc.Sites {
			s := t.siteIndex(site.Name)
			if !cm.all.SiteFeasible(s) || (cm.hardware != nil && !cm.hardware.Match(node(site, 0))) || (c.GPUs > 0 && site.GPUs == 0) {
				continue
			}
			feas = append(feas, si)
			if cm.hasLatency {
				maxRTT = max(maxRTT, cm.rtt(s))
			}
			maxCost = max(maxCost, cm.hourly(s))
		}
		for _, si := range feas {
			s := t.siteIndex(sc.Sites[si].Name)
			v := 0.0
			if maxRTT > 0 {
				v += cm.wLatency * cm.rtt(s) / maxRTT
			}
			if maxCost > 0 {
				v += cm.wCost * cm.hourly(s) / maxCost
			}
			pairs = append(pairs, pair{ci, si})
			obj = append(obj, v)
		}
	}
	// Columns: pairs, then one "unplaced" per class (penalized), then one
	// slack per site for CPU and per GPU site for GPUs.
	var gpuSites []int
	for si, s := range sc.Sites {
		if s.GPUs > 0 {
			gpuSites = append(gpuSites, si)
		}
	}
	cols := len(pairs) + nc + ns + len(gpuSites)
	rows := nc + ns + len(gpuSites)
	A := mat.NewDense(rows, cols, nil)
	b := make([]float64, rows)
	c := make([]float64, cols)
	copy(c, obj)
	for ci := range sc.Classes {
		c[len(pairs)+ci] = 1000 // leaving a pod unplaced costs more than any placement
		A.Set(ci, len(pairs)+ci, 1)
		b[ci] = float64(sc.Classes[ci].Pods)
	}
	for k, p := range pairs {
		A.Set(p.c, k, 1)
		A.Set(nc+p.s, k, sc.Classes[p.c].CPU.AsApproximateFloat64())
		if g := sc.Classes[p.c].GPUs; g > 0 {
			if gi := slices.Index(gpuSites, p.s); gi >= 0 {
				A.Set(nc+ns+gi, k, float64(g))
			}
		}
	}
	for si, s := range sc.Sites {
		A.Set(nc+si, len(pairs)+nc+si, 1)
		b[nc+si] = float64(s.Nodes * s.CPU)
	}
	for gi, si := range gpuSites {
		A.Set(nc+ns+gi, len(pairs)+nc+ns+gi, 1)
		b[nc+ns+gi] = float64(sc.Sites[si].Nodes * sc.Sites[si].GPUs)
	}
	_, x, err := lp.Simplex(c, A, b, 1e-9, nil)
	if err != nil {
		return nil, fmt.Errorf("solving the optimum: %w", err)
	}
	a := &Allocation{X: make([][]float64, nc), Unplaced: make([]float64, nc)}
	for ci := range a.X {
		a.X[ci] = make([]float64, ns)
		a.Unplaced[ci] = x[len(pairs)+ci]
	}
	for k, p := range pairs {
		a.X[p.c][p.s] = x[k]
	}
	return a, nil
}
