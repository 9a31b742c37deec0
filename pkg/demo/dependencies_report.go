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
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Print writes the scene's report: the RTT of every call edge, each
// class's hourly cost (compute and egress) and where each class went.
func (r *DependencyReport) Print(w io.Writer) {
	fmt.Fprintln(w, "Dependency scene: RTT of every call edge, mean over the caller's pods, in ms (measured between the sites' cities)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "call edge\tbound\t")
	for _, who := range dependencyWho {
		fmt.Fprintf(tw, "%s\t", who)
	}
	fmt.Fprintln(tw)
	for _, e := range r.Edges {
		bound := "-"
		if e.Bound > 0 {
			bound = fmt.Sprintf("%.0f", e.Bound)
		}
		fmt.Fprintf(tw, "%s → %s\t%s\t", e.Caller, e.Callee, bound)
		for _, who := range dependencyWho {
			v := "-"
			if !math.IsNaN(e.RTT[who]) {
				v = fmt.Sprintf("%.1f", e.RTT[who])
				if e.Over[who] > 0 {
					v += fmt.Sprintf(" (%d over)", e.Over[who])
				}
			}
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Hourly cost per class: CPU and memory at the sites' prices + egress of the declared traffic where it leaves a site")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "class\t")
	for _, who := range dependencyWho {
		fmt.Fprintf(tw, "%s\t", who)
	}
	fmt.Fprintln(tw)
	for _, c := range r.Costs {
		fmt.Fprintf(tw, "%s\t", c.Class)
		for _, who := range dependencyWho {
			v := fmt.Sprintf("%.3f + %.3f", c.Compute[who], c.Egress[who])
			if c.Unplaced[who] > 0 {
				v += fmt.Sprintf(" (%d unplaced)", c.Unplaced[who])
			}
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Where each class went:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "class\t")
	for _, who := range dependencyWho {
		fmt.Fprintf(tw, "%s\t", who)
	}
	fmt.Fprintln(tw)
	for _, c := range r.Classes {
		fmt.Fprintf(tw, "%s\t", c.Name)
		for _, who := range dependencyWho {
			fmt.Fprintf(tw, "%s\t", sitesOf(r.Placements[who][c.Name]))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}

// sitesOf lists sites with their pod counts: "store-munich×2, pop-paris".
func sitesOf(sites []string) string {
	count := map[string]int{}
	var names []string
	for _, s := range sites {
		if s == "" {
			s = "unplaced"
		}
		if count[s] == 0 {
			names = append(names, s)
		}
		count[s]++
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		if count[n] > 1 {
			parts = append(parts, fmt.Sprintf("%s×%d", n, count[n]))
		} else {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}

// WriteChart writes dir/demo-dependencies.png: the RTT of every call edge
// and each class's hourly cost, for Proxima, the default scheduler and the
// optimum.
func (r *DependencyReport) WriteChart(dir string) (string, error) {
	var edges []string
	for _, e := range r.Edges {
		edges = append(edges, e.Caller+" →\n"+e.Callee)
	}
	rtt, err := groupedBars("RTT per call edge (lower is better)", "ms", edges, func(who string, i int) float64 {
		if v := r.Edges[i].RTT[who]; !math.IsNaN(v) {
			return v
		}
		return 0
	})
	if err != nil {
		return "", err
	}
	var classes []string
	for _, c := range r.Costs {
		classes = append(classes, c.Class)
	}
	cost, err := groupedBars("Hourly cost per class, egress included (lower is better)", "cost per hour", classes, func(who string, i int) float64 {
		return r.Costs[i].Compute[who] + r.Costs[i].Egress[who]
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "demo-dependencies.png")
	img := vgimg.New(11*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{rtt}, {cost}}, tiles, dc)
	rtt.Draw(canvases[0][0])
	cost.Draw(canvases[1][0])
	return path, savePNG(img, path)
}
