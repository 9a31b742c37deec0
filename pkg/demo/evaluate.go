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
	"slices"

	"gonum.org/v1/gonum/stat"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// Report is a demo's outcome: each scheduler's placements and the optimum,
// evaluated per class.
type Report struct {
	Scenario *Scenario
	Runs     []RunResult
	Optimum  *Allocation
	// Classes holds, per class, one row per scheduler and one for the optimum.
	Classes []ClassReport

	measurements *Measurements
}

// RunResult is one scheduler's placements.
type RunResult struct {
	Scheduler  string
	Placements []Placement
}

// ClassReport compares the schedulers on one class.
type ClassReport struct {
	Class string
	// HasLatency is false for classes without traffic sources.
	HasLatency bool
	Rows       []Metrics
}

// Metrics of one placement of a class.
type Metrics struct {
	Who string
	// MeanRTT and P95RTT are demand-weighted RTTs (ms) from the class's
	// sources to the pods' sites, on measured values where measured.
	MeanRTT, P95RTT float64
	// HourlyCost is the class's total hourly price.
	HourlyCost float64
	// Violations count pods placed against a hard rule: residency,
	// hardware, RTT SLO, cost cap.
	Residency, Hardware, SLO, CostCap int
	Unschedulable                     int
	Pods                              int
}

// Violations is the total of hard-rule violations.
func (m Metrics) Violations() int { return m.Residency + m.Hardware + m.SLO + m.CostCap }

// classModel is a class's policy evaluated against the scenario's sites.
type classModel struct {
	spec    ClassSpec
	weights map[string]float64 // source city → weight
	total   float64
}

func (r *Report) model(c ClassSpec) classModel {
	cm := classModel{spec: c, weights: map[string]float64{}}
	if c.Policy.Latency == nil {
		return cm
	}
	demand := map[string]SourceSpec{}
	for _, s := range r.Scenario.Sources {
		demand[s.Name] = s
	}
	for _, sw := range c.Policy.Latency.Sources {
		src, ok := demand[sw.Name]
		if !ok {
			continue
		}
		w := float64(max(src.Demand, 1))
		if sw.Weight != nil {
			w = float64(*sw.Weight)
		}
		cm.weights[src.City] += w
		cm.total += w
	}
	return cm
}

// rtt is the class's demand-weighted RTT and worst RTT at a site city.
func (cm classModel) rtt(m *Measurements, city string) (mean, worst float64) {
	for src, w := range cm.weights {
		v, _ := m.TrueRTT(src, city)
		mean += w * v
		worst = max(worst, v)
	}
	if cm.total > 0 {
		mean /= cm.total
	}
	return mean, worst
}

func (cm classModel) hourly(s SiteSpec) float64 {
	p := s.Pricing
	q := func(x interface{ AsApproximateFloat64() float64 }) float64 { return x.AsApproximateFloat64() }
	cost := 0.0
	if p.CPUCoreHour != nil {
		cost += q(p.CPUCoreHour) * q(&cm.spec.CPU)
	}
	if p.MemoryGiBHour != nil {
		cost += q(p.MemoryGiBHour) * q(&cm.spec.Memory) / (1 << 30)
	}
	if p.GPUHour != nil {
		cost += q(p.GPUHour) * float64(cm.spec.GPUs)
	}
	return cost
}

// breaks reports which hard rules site s breaks for the class.
func (cm classModel) breaks(m *Measurements, s SiteSpec, nodeHasGPU bool) (residency, hardware, slo, costCap bool) {
	pol := cm.spec.Policy
	if r := pol.Residency; r != nil {
		in := func(a *placementv1alpha1.Areas) bool {
			if a == nil {
				return false
			}
			return slices.Contains(a.Countries, s.Country) || slices.ContainsFunc(a.Jurisdictions, func(j string) bool { return slices.Contains(s.Jurisdictions, j) })
		}
		residency = in(r.Denied) || (r.Allowed != nil && !in(r.Allowed))
	}
	if len(pol.Tiers) > 0 && !slices.Contains(pol.Tiers, s.Tier) {
		residency = true // a tier rule is a placement rule too; counted with residency
	}
	hardware = pol.Hardware != nil && !nodeHasGPU
	if l := pol.Latency; l != nil && l.MaxRTTMilliseconds != nil {
		_, worst := cm.rtt(m, s.City)
		slo = worst > float64(*l.MaxRTTMilliseconds)
	}
	if c := pol.Cost; c != nil {
		costCap = cm.hourly(s) > c.MaxHourly.AsApproximateFloat64()
	}
	return
}

func (r *Report) site(name string) (SiteSpec, bool) {
	i := slices.IndexFunc(r.Scenario.Sites, func(s SiteSpec) bool { return s.Name == name })
	if i < 0 {
		return SiteSpec{}, false
	}
	return r.Scenario.Sites[i], true
}

// evaluate fills Classes from the runs and the optimum.
func (r *Report) evaluate() {
	m := r.measurements
	for ci, c := range r.Scenario.Classes {
		cm := r.model(c)
		cr := ClassReport{Class: c.Name, HasLatency: cm.total > 0}
		for _, run := range r.Runs {
			met := Metrics{Who: run.Scheduler}
			var rtts []float64
			for _, p := range run.Placements {
				if p.Class != c.Name {
					continue
				}
				met.Pods++
				s, ok := r.site(p.Site)
				if !ok {
					met.Unschedulable++
					continue
				}
				mean, _ := cm.rtt(m, s.City)
				rtts = append(rtts, mean)
				met.HourlyCost += cm.hourly(s)
				res, hw, slo, cc := cm.breaks(m, s, p.NodeHasGPU)
				met.Residency += b2i(res)
				met.Hardware += b2i(hw)
				met.SLO += b2i(slo)
				met.CostCap += b2i(cc)
			}
			met.MeanRTT, met.P95RTT = meanP95(rtts, nil)
			cr.Rows = append(cr.Rows, met)
		}
		if r.Optimum != nil {
			met := Metrics{Who: "optimum", Pods: c.Pods}
			var rtts, weights []float64
			for si, s := range r.Scenario.Sites {
				x := r.Optimum.X[ci][si]
				if x <= 1e-9 {
					continue
				}
				mean, _ := cm.rtt(m, s.City)
				rtts, weights = append(rtts, mean), append(weights, x)
				met.HourlyCost += x * cm.hourly(s)
			}
			met.Unschedulable = int(math.Round(r.Optimum.Unplaced[ci]))
			met.MeanRTT, met.P95RTT = meanP95(rtts, weights)
			cr.Rows = append(cr.Rows, met)
		}
		r.Classes = append(r.Classes, cr)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// meanP95 is the (weighted) mean and 95th percentile of xs.
func meanP95(xs, ws []float64) (mean, p95 float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	xs = slices.Clone(xs)
	if ws != nil {
		ws = slices.Clone(ws)
	}
	stat.SortWeighted(xs, ws)
	return stat.Mean(xs, ws), stat.Quantile(0.95, stat.Empirical, xs, ws)
}
