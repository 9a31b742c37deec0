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
)

// Report is a demo's outcome: each scheduler's placements and the optimum,
// evaluated per class.
type Report struct {
	Scenario *Scenario
	Runs     []RunResult
	Optimum  *Allocation
	// Classes holds, per class, one row per scheduler and one for the optimum.
	Classes []ClassReport
	// Estimators are the RTT estimators' errors on the measured pairs the
	// scenario did not declare (nil when it declares every one).
	Estimators []EstimatorError

	measurements *Measurements
	truth        *truth
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

// evaluate fills Classes from the runs and the optimum, judging each
// placement with the scheduler's rules and scores on the true RTTs.
func (r *Report) evaluate() error {
	if r.truth == nil {
		r.truth = newTruth(r.Scenario, r.measurements)
	}
	for ci, c := range r.Scenario.Classes {
		cm, err := r.truth.model(c)
		if err != nil {
			return err
		}
		cr := ClassReport{Class: c.Name, HasLatency: cm.hasLatency}
		for _, run := range r.Runs {
			met := Metrics{Who: run.Scheduler}
			var rtts []float64
			for _, p := range run.Placements {
				if p.Class != c.Name {
					continue
				}
				met.Pods++
				s := r.truth.siteIndex(p.Site)
				if s < 0 {
					met.Unschedulable++
					continue
				}
				rtts = append(rtts, cm.rtt(s))
				met.HourlyCost += cm.hourly(s)
				res, hw, slo, cc := cm.breaks(s, p.NodeLabels)
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
			for si, site := range r.Scenario.Sites {
				x := r.Optimum.X[ci][si]
				if x <= 1e-9 {
					continue
				}
				s := r.truth.siteIndex(site.Name)
				rtts, weights = append(rtts, cm.rtt(s)), append(weights, x)
				met.HourlyCost += x * cm.hourly(s)
			}
			met.Unschedulable = int(math.Round(r.Optimum.Unplaced[ci]))
			met.MeanRTT, met.P95RTT = meanP95(rtts, weights)
			cr.Rows = append(cr.Rows, met)
		}
		r.Classes = append(r.Classes, cr)
	}
	return nil
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
