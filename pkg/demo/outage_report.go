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
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ReturnTolerance is how close to its value before the outage a mean RTT
// must come back to count as returned.
const ReturnTolerance = 1.05

// phase tells which phase a sample at t belongs to: 0 steady, 1 outage, 2
// recovery.
func (r *OutageReport) phase(t float64) int {
	switch {
	case t < r.Steady.Seconds():
		return 0
	case t < (r.Steady + r.Outage).Seconds():
		return 1
	default:
		return 2
	}
}

// Summary sums up one run's timeline.
func (r *OutageReport) Summary(run OutageRun) OutageSummary {
	s := OutageSummary{Config: run.Config, End: math.NaN()}
	var sums [3]float64
	var counts [3]int
	for _, x := range run.Samples {
		ph := r.phase(x.T)
		if !math.IsNaN(x.MeanRTT) {
			sums[ph] += x.MeanRTT
			counts[ph]++
		}
		if ph == 1 {
			s.PeakViolations = max(s.PeakViolations, x.Violations)
			s.EndViolations = x.Violations
		}
	}
	mean := func(ph int) float64 {
		if counts[ph] == 0 {
			return math.NaN()
		}
		return sums[ph] / float64(counts[ph])
	}
	s.Before, s.During, s.After = mean(0), mean(1), mean(2)
	if n := len(run.Samples); n > 0 {
		s.End = run.Samples[n-1].MeanRTT
	}
	// The first recovery sample from which every later one is back.
	recovered := (r.Steady + r.Outage).Seconds()
	back := -1.0
	for _, x := range run.Samples {
		if x.T < r.Steady.Seconds() {
			continue
		}
		if x.T < recovered {
			if x.Bound != x.Pods || !(x.MeanRTT <= ReturnTolerance*s.Before) {
				s.Left = true
			}
			continue
		}
		ok := x.Bound == x.Pods && x.MeanRTT <= ReturnTolerance*s.Before
		if !ok {
			s.Left = true
		}
		switch {
		case ok && back < 0:
			back = x.T
		case !ok:
			back = -1
		}
	}
	if back >= 0 {
		s.Returned = true
		s.Return = time.Duration((back - recovered) * float64(time.Second))
	}
	return s
}

// Print writes the per-configuration table.
func (r *OutageReport) Print(w io.Writer) {
	fmt.Fprintf(w, "Site %s down from t=%.0fs to t=%.0fs; classes followed: %s\n\n", r.Site, r.Steady.Seconds(), (r.Steady + r.Outage).Seconds(),
		strings.Join(r.Classes, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "configuration\tmean RTT ms before\tduring\tafter\tat end\tviolations during (peak / end)\tback within %.2f× after recovery\t\n", ReturnTolerance)
	for _, run := range r.Runs {
		s := r.Summary(run)
		back := "never"
		switch {
		case !s.Left:
			back = "never left"
		case s.Returned:
			back = fmt.Sprintf("%.0f s", s.Return.Seconds())
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d / %d\t%s\t\n", s.Config, s.Before, s.During, s.After, s.End, s.PeakViolations, s.EndViolations, back)
	}
	_ = tw.Flush()
}

var configColors = map[string]color.Color{
	WithRebalancer:    whoColors[ProximaScheduler],
	WithoutRebalancer: whoColors["optimum"],
	DefaultScheduler:  whoColors[DefaultScheduler],
}

// WriteChart writes outage-timeline.png into dir and returns its path: the
// mean RTT and the violations over time, one line per configuration, the
// outage shaded.
func (r *OutageReport) WriteChart(dir string) (string, error) {
	path := filepath.Join(dir, "outage-timeline.png")
	panel := func(title, ylabel string, value func(OutageSample) float64) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "seconds"
		p.Y.Label.Text = ylabel
		p.Legend.Top = true
		top := 1.0
		for _, run := range r.Runs {
			for _, x := range run.Samples {
				if v := value(x); !math.IsNaN(v) {
					top = max(top, v)
				}
			}
		}
		// Room above the lines for the legend.
		top *= 1.6
		p.Y.Min, p.Y.Max = 0, top
		from, to := r.Steady.Seconds(), (r.Steady + r.Outage).Seconds()
		shade, err := plotter.NewPolygon(plotter.XYs{{X: from, Y: 0}, {X: to, Y: 0}, {X: to, Y: top}, {X: from, Y: top}})
		if err != nil {
			return nil, err
		}
		shade.Color = color.Gray{Y: 0xe4}
		shade.LineStyle.Width = 0
		p.Add(shade)
		p.Legend.Add(r.Site+" down", shade)
		// Drawn last first, so that the rebalancer's line is on top; the
		// legend in order.
		lines := make([]*plotter.Line, len(r.Runs))
		for i := len(r.Runs) - 1; i >= 0; i-- {
			run := r.Runs[i]
			var xys plotter.XYs
			for _, x := range run.Samples {
				if v := value(x); !math.IsNaN(v) {
					xys = append(xys, plotter.XY{X: x.T, Y: v})
				}
			}
			if len(xys) == 0 {
				continue
			}
			line, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			// A sample holds until the next.
			line.StepStyle = plotter.PostStep
			line.Color = configColors[run.Config]
			line.Width = vg.Points(2)
			if run.Config == WithoutRebalancer {
				line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			}
			p.Add(line)
			lines[i] = line
		}
		for i, line := range lines {
			if line != nil {
				p.Legend.Add(r.Runs[i].Config, line)
			}
		}
		p.Add(plotter.NewGrid())
		return p, nil
	}
	classes := strings.Join(r.Classes, ", ")
	rtt, err := panel(fmt.Sprintf("Mean RTT of %s (measured; lower is better)", classes), "ms", func(x OutageSample) float64 { return x.MeanRTT })
	if err != nil {
		return "", err
	}
	viol, err := panel(fmt.Sprintf("Pods of %s on a site breaking a hard rule (the down site included)", classes), "pods",
		func(x OutageSample) float64 { return float64(x.Violations) })
	if err != nil {
		return "", err
	}
	img := vgimg.New(11*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{rtt}, {viol}}, tiles, dc)
	rtt.Draw(canvases[0][0])
	viol.Draw(canvases[1][0])
	return path, savePNG(img, path)
}
