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
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var whoColors = map[string]color.Color{
	ProximaScheduler: color.RGBA{R: 0x1b, G: 0x9e, B: 0x77, A: 0xff},
	DefaultScheduler: color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff},
	"optimum":        color.RGBA{R: 0x75, G: 0x70, B: 0xb3, A: 0xff},
}

// WriteCharts writes two PNGs into dir and returns their paths: per class,
// mean RTT and hourly cost for Proxima, the default scheduler and the
// optimum; and a map of the sites by latitude and longitude, sized by the
// pods Proxima placed there.
func (r *Report) WriteCharts(dir string) ([]string, error) {
	classes := filepath.Join(dir, "demo-classes.png")
	if err := r.classesChart(classes); err != nil {
		return nil, err
	}
	sites := filepath.Join(dir, "demo-sites.png")
	if err := r.sitesChart(sites); err != nil {
		return nil, err
	}
	return []string{classes, sites}, nil
}

func (r *Report) classesChart(path string) error {
	var names, rttNames []string
	for _, cr := range r.Classes {
		names = append(names, cr.Class)
		if cr.HasLatency {
			rttNames = append(rttNames, cr.Class)
		} else {
			rttNames = append(rttNames, cr.Class+" (no traffic sources)")
		}
	}
	panel := func(title, ylabel string, value func(Metrics) float64) (*plot.Plot, error) {
		labels := names
		if ylabel == "ms" {
			labels = rttNames
		}
		return groupedBars(title, ylabel, labels, func(who string, i int) float64 {
			cr := r.Classes[i]
			for _, row := range cr.Rows {
				if row.Who == who {
					if v := value(row); !math.IsNaN(v) && (cr.HasLatency || ylabel != "ms") {
						return v
					}
				}
			}
			return 0
		})
	}
	rtt, err := panel("Demand-weighted mean RTT per class (lower is better)", "ms", func(m Metrics) float64 { return m.MeanRTT })
	if err != nil {
		return err
	}
	cost, err := panel("Hourly cost per class (lower is better)", "cost per hour", func(m Metrics) float64 { return m.HourlyCost })
	if err != nil {
		return err
	}
	img := vgimg.New(11*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{rtt}, {cost}}, tiles, dc)
	rtt.Draw(canvases[0][0])
	cost.Draw(canvases[1][0])
	return savePNG(img, path)
}

// groupedBars is a bar chart with one group per label and in each one bar
// for Proxima, the default scheduler and the optimum: value(who, i) for
// label i (0 draws none).
func groupedBars(title, ylabel string, labels []string, value func(who string, i int) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	w := vg.Points(28)
	for k, who := range []string{ProximaScheduler, DefaultScheduler, "optimum"} {
		vals := make(plotter.Values, len(labels))
		for i := range labels {
			vals[i] = value(who, i)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color = whoColors[who]
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(k-1) * w
		p.Add(bars)
		p.Legend.Add(who, bars)
	}
	p.NominalX(labels...)
	return p, nil
}

func (r *Report) sitesChart(path string) error {
	counts := map[string]int{}
	for _, run := range r.Runs {
		if run.Scheduler != ProximaScheduler {
			continue
		}
		for _, p := range run.Placements {
			if p.Site != "" {
				counts[p.Site]++
			}
		}
	}
	p := plot.New()
	p.Title.Text = "Sites by location; circle area = pods placed by Proxima (crosses: none)"
	p.X.Label.Text = "longitude (degrees)"
	p.Y.Label.Text = "latitude (degrees)"
	maxCount := 1
	for _, n := range counts {
		maxCount = max(maxCount, n)
	}
	var used, empty plotter.XYs
	var labels []string
	for _, s := range r.Scenario.Sites {
		c := r.measurements.Cities[s.City]
		if counts[s.Name] > 0 {
			used = append(used, plotter.XY{X: c.Lon, Y: c.Lat})
			labels = append(labels, fmt.Sprintf("%s (%d)", s.Name, counts[s.Name]))
		} else {
			empty = append(empty, plotter.XY{X: c.Lon, Y: c.Lat})
		}
	}
	if len(used) > 0 {
		sc, err := plotter.NewScatter(used)
		if err != nil {
			return err
		}
		sizes := make([]int, 0, len(used))
		for _, s := range r.Scenario.Sites {
			if n := counts[s.Name]; n > 0 {
				sizes = append(sizes, n)
			}
		}
		sc.GlyphStyleFunc = func(i int) draw.GlyphStyle {
			radius := vg.Points(3 + 14*math.Sqrt(float64(sizes[i])/float64(maxCount)))
			return draw.GlyphStyle{Color: whoColors[ProximaScheduler], Radius: radius, Shape: draw.CircleGlyph{}}
		}
		p.Add(sc)
		p.Legend.Add("pods placed", sc)
		lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: used, Labels: labels})
		if err != nil {
			return err
		}
		for i := range lbl.TextStyle {
			lbl.TextStyle[i].Font.Size = vg.Points(7)
		}
		p.Add(lbl)
	}
	if len(empty) > 0 {
		sc, err := plotter.NewScatter(empty)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: color.Gray{Y: 0x80}, Radius: vg.Points(3), Shape: draw.CrossGlyph{}}
		p.Add(sc)
		p.Legend.Add("no pods", sc)
	}
	var srcs plotter.XYs
	for _, s := range r.Scenario.Sources {
		c := r.measurements.Cities[s.City]
		srcs = append(srcs, plotter.XY{X: c.Lon, Y: c.Lat})
	}
	if len(srcs) > 0 {
		sc, err := plotter.NewScatter(srcs)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(3), Radius: vg.Points(3), Shape: draw.TriangleGlyph{}}
		p.Add(sc)
		p.Legend.Add("client cities", sc)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	img := vgimg.New(12*vg.Inch, 7*vg.Inch)
	p.Draw(draw.New(img))
	return savePNG(img, path)
}
