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

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/proxima-sched/proxima/pkg/probeplan"
)

// Print writes one row per round: pairs measured and planned, and per
// class with traffic sources its mean measured RTT ÷ the all-declared
// placement's, the pods left Pending that the all-declared placement
// placed, and pods over their SLO on measured RTT.
func (p *Probing) Print(w io.Writer) {
	fmt.Fprintf(w, "Probing: a budget of %d pairs per round (%d per site, %d refresh) for %d hidden measured pairs; round 0 measures nothing.\n",
		p.Budget.Pairs, p.Budget.PerSite, p.Budget.Refresh, p.Hidden)
	if len(p.Rounds) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := []string{"ROUND", "MEASURED", "NEXT: BOUND/RANKING/REFRESH"}
	for _, c := range p.Converged(0) {
		header = append(header, strings.ToUpper(c.Class)+" (RATIO, MISSED, SLO)")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for r, round := range p.Rounds {
		row := []string{fmt.Sprint(r), fmt.Sprint(round.Measured),
			fmt.Sprintf("%d/%d/%d", round.Planned[probeplan.TierBound], round.Planned[probeplan.TierRanking], round.Planned[probeplan.TierRefresh])}
		for _, c := range p.Converged(r) {
			ratio := "-"
			if !math.IsNaN(c.Ratio) {
				ratio = fmt.Sprintf("×%.3f", c.Ratio)
			}
			row = append(row, fmt.Sprintf("%s, %d, %d", ratio, c.Missed, c.SLO))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "RATIO: mean measured RTT ÷ the all-declared placement's (- when either placed none); MISSED: pods Pending that the all-declared placement placed; SLO: pods over their max RTT on measured RTT.")
	fmt.Fprintln(w, "Each round measures the pairs the previous round's probe plan asked for, and nothing else.")
}

// WriteChart draws each class's ratio over the rounds (a round with pods
// missed is drawn at the top, as a miss).
func (p *Probing) WriteChart(dir string) (string, error) {
	path := filepath.Join(dir, "probing-rounds.png")
	pl := plot.New()
	pl.Title.Text = "Mean measured RTT ÷ all-declared, by probing round (top: pods left Pending)"
	pl.X.Label.Text = "round"
	pl.Y.Label.Text = "ratio"
	pl.Legend.Top = true
	const miss = 2.0
	pl.Y.Min, pl.Y.Max = 0.8, miss+0.5
	if len(p.Rounds) == 0 {
		return "", fmt.Errorf("no rounds")
	}
	for i, c := range p.Converged(0) {
		var xys plotter.XYs
		for r := range p.Rounds {
			v := p.Converged(r)[i]
			y := v.Ratio
			switch {
			case v.Missed > 0:
				y = miss
			case math.IsNaN(y):
				y = 1 // both placed none: as good as all-declared
			}
			xys = append(xys, plotter.XY{X: float64(r), Y: min(y, miss)})
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return "", err
		}
		line.Color = plotColor(i)
		points.Color = plotColor(i)
		line.Width = vg.Points(2)
		pl.Add(line, points)
		pl.Legend.Add(c.Class, line)
	}
	target, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 1.05}, {X: float64(len(p.Rounds) - 1), Y: 1.05}})
	if err != nil {
		return "", err
	}
	target.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	pl.Add(target, plotter.NewGrid())
	pl.Legend.Add("1.05", target)
	img := vgimg.New(8*vg.Inch, 5*vg.Inch)
	pl.Draw(draw.New(img))
	return path, savePNG(img, path)
}

// plotColor is the i-th of a few distinguishable colours.
func plotColor(i int) color.Color {
	palette := []color.Color{
		color.RGBA{R: 0x1b, G: 0x9e, B: 0x77, A: 0xff}, color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff},
		color.RGBA{R: 0x75, G: 0x70, B: 0xb3, A: 0xff}, color.RGBA{R: 0xe7, G: 0x29, B: 0x8a, A: 0xff},
	}
	return palette[i%len(palette)]
}
