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
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Print writes the comparison table.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tscheduler\tmean RTT ms\tp95 RTT ms\tcost/h\tviolations\tunschedulable\tRTT ÷ optimum\tcost ÷ optimum\t")
	for _, cr := range r.Classes {
		opt := cr.Rows[len(cr.Rows)-1]
		for _, row := range cr.Rows {
			rtt, p95, ratio := "-", "-", "-"
			if cr.HasLatency && !math.IsNaN(row.MeanRTT) {
				rtt, p95 = fmt.Sprintf("%.1f", row.MeanRTT), fmt.Sprintf("%.1f", row.P95RTT)
				if opt.MeanRTT > 0 {
					ratio = fmt.Sprintf("%.2f", row.MeanRTT/opt.MeanRTT)
				}
			}
			costRatio := "-"
			if opt.HourlyCost > 0 {
				costRatio = fmt.Sprintf("%.2f", row.HourlyCost/opt.HourlyCost)
			}
			viol := fmt.Sprint(row.Violations())
			if row.Violations() > 0 {
				var parts []string
				for _, v := range []struct {
					n    int
					what string
				}{{row.Residency, "residency"}, {row.Hardware, "hardware"}, {row.SLO, "SLO"}, {row.CostCap, "cost cap"}} {
					if v.n > 0 {
						parts = append(parts, fmt.Sprintf("%d %s", v.n, v.what))
					}
				}
				viol = strings.Join(parts, ", ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%d\t%s\t%s\t\n", cr.Class, row.Who, rtt, p95, row.HourlyCost, viol, row.Unschedulable, ratio, costRatio)
		}
	}
	_ = tw.Flush()
}

// PrintKnowledge writes, for a scenario that declares only part of its
// measured RTTs, what that cost each latency-led class against the run with
// every measured RTT declared, and how far the RTT estimators are from the
// measured RTTs they stand in for.
func (r *Report) PrintKnowledge(w io.Writer) {
	if r.Estimators == nil {
		return
	}
	fmt.Fprintf(w, "RTT knowledge: %.0f%% of the measured source-site RTTs declared (seed %d); placements judged on every measured RTT\n\n",
		100*r.Scenario.DeclaredFraction(), r.Scenario.seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tmean RTT ms\tall declared ms\tRTT ÷ all declared\tSLO violations\tunschedulable\t")
	for _, cr := range r.Classes {
		if !cr.HasLatency {
			continue
		}
		got, ok1 := r.Row(cr.Class, ProximaScheduler)
		base, ok2 := r.Row(cr.Class, AllDeclared)
		if !ok1 || !ok2 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.3f\t%d\t%d\t\n", cr.Class, got.MeanRTT, base.MeanRTT, got.MeanRTT/base.MeanRTT, got.SLO, got.Unschedulable)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "estimator\thidden pairs\tmedian error ms\tp90 error ms\tunderestimated\tabove upper bound\t")
	for _, e := range r.Estimators {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.0f%%\t%.1f%%\t\n", e.Estimator, e.Pairs, e.Median, e.P90, 100*e.Under, 100*e.Beyond)
	}
	_ = tw.Flush()
}

// Row returns the metrics of who for class, and whether they exist.
func (r *Report) Row(class, who string) (Metrics, bool) {
	for _, cr := range r.Classes {
		if cr.Class != class {
			continue
		}
		for _, row := range cr.Rows {
			if row.Who == who {
				return row, true
			}
		}
	}
	return Metrics{}, false
}
