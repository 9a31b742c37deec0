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

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/proxima-sched/proxima/bench/perfdata"
)

// Placements is what a run's cleanup writes (placements_*.json, by
// bench/e2e and bench/peers/e2e alike): every pod of the shops and the
// site of its node, empty while it is not bound.
type Placements struct {
	// Name is the scheduler_perf test's name:
	// "BenchmarkOnlineBoutique/<test case>/<workload>".
	Name string         `json:"name"`
	Pods []PodPlacement `json:"pods"`
}

// PodPlacement is one pod.
type PodPlacement struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	App       string `json:"app"`
	Node      string `json:"node,omitempty"`
	Site      string `json:"site,omitempty"`
}

// Result judges one run's placements on the world's measured RTTs.
type Result struct {
	Profile string
	Pods    int
	Placed  int
	// Edges counts the call edges judged: a placed pod and a service it
	// calls with a placed pod in the same shop. Unjudged counts those
	// where either side is not placed.
	Edges, Unjudged int
	// MeanRTT is the mean over the judged edges of the RTT from the
	// caller's site to the callee's pods (the mean over them), in ms.
	MeanRTT float64
	// OverBound counts the judged edges whose RTT is above maxNetworkCost.
	OverBound int
	// PerEdge is the mean RTT of each call edge (caller → callee) over the
	// shops where it was judged.
	PerEdge map[string]float64
	// Judged holds the RTT of every judged edge by shop and edge, for
	// comparing profiles on the edges all of them judged (CommonMean).
	Judged map[string]float64
	// CommonRTT is the mean RTT over the CommonEdges, the edges every
	// profile judged.
	CommonRTT   float64
	CommonEdges int
	// Stranded counts the pods left unplaced although a site had a free
	// node within the bound of every placed service they call: a pod
	// that fits somewhere feasible is never left pending, so under Proxima
	// it must be 0.
	Stranded int
	// PreFilter is the mean PreFilter time per scheduling attempt of the
	// whole profile and of its placement plugin (EdgePlacement,
	// NetworkOverhead; sampled by the scheduler), in ms; 0 when unknown.
	PreFilter, PluginPreFilter float64
}

// Judge computes a run's Result. Every call edge of every shop counts
// once per calling pod: each pod of a service issues the same calls.
func (w *World) Judge(p *Placements) (*Result, error) {
	r := &Result{Profile: profileOf(p.Name), PerEdge: map[string]float64{}, Judged: map[string]float64{}}
	sites := map[[2]string][]int{}
	for _, pod := range p.Pods {
		r.Pods++
		if pod.Site == "" {
			continue
		}
		i := w.SiteIndex(pod.Site)
		if i < 0 {
			return nil, fmt.Errorf("%s: pod %s/%s is on node %s of site %q, not in the world", p.Name, pod.Namespace, pod.Name, pod.Node, pod.Site)
		}
		r.Placed++
		sites[[2]string{pod.Namespace, pod.App}] = append(sites[[2]string{pod.Namespace, pod.App}], i)
	}
	calls := map[string][]string{}
	for _, s := range OnlineBoutique {
		calls[s.Name] = s.Calls
	}
	edgeSum, edgeN := map[string]float64{}, map[string]int{}
	var sum float64
	for _, pod := range p.Pods {
		for _, callee := range calls[pod.App] {
			to := sites[[2]string{pod.Namespace, callee}]
			if pod.Site == "" || len(to) == 0 {
				r.Unjudged++
				continue
			}
			from := w.SiteIndex(pod.Site)
			var rtt float64
			for _, j := range to {
				rtt += w.RTT[from][j]
			}
			rtt /= float64(len(to))
			r.Edges++
			sum += rtt
			if rtt > maxNetworkCost {
				r.OverBound++
			}
			e := pod.App + " → " + callee
			edgeSum[e] += rtt
			edgeN[e]++
			r.Judged[pod.Namespace+" "+e] = rtt
		}
	}
	r.Stranded = w.stranded(p.Pods, sites, calls)
	if r.Edges > 0 {
		r.MeanRTT = sum / float64(r.Edges)
	}
	for e, s := range edgeSum {
		r.PerEdge[e] = s / float64(edgeN[e])
	}
	return r, nil
}

// stranded counts the unplaced pods for which, at the end, some site had a
// free node and, for every placed service the pod calls, a mean declared
// RTT to its pods within maxNetworkCost (the bound as Proxima's
// maxRTTMilliseconds reads it). With one pod per service, placements only
// add dependencies and take nodes, so such a pod was feasible at its every
// attempt; with more, a callee's later pods may have moved the mean, so a
// count above 0 there is a pod to look at, not proof.
func (w *World) stranded(pods []PodPlacement, sites map[[2]string][]int, calls map[string][]string) int {
	used := make([]int, len(w.Sites))
	for _, at := range sites {
		for _, i := range at {
			used[i]++
		}
	}
	n := 0
	for _, pod := range pods {
		if pod.Site != "" {
			continue
		}
		for i, s := range w.Sites {
			if used[i] >= s.Nodes {
				continue
			}
			ok := true
			for _, callee := range calls[pod.App] {
				at := sites[[2]string{pod.Namespace, callee}]
				if len(at) == 0 {
					continue
				}
				var sum float64
				for _, j := range at {
					sum += float64(w.DeclaredMs(i, j))
				}
				if sum/float64(len(at)) > maxNetworkCost {
					ok = false
				}
			}
			if ok {
				n++
				break
			}
		}
	}
	return n
}

// profileOf is the test case of "BenchmarkOnlineBoutique/<test case>/...".
func profileOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) < 2 {
		return name
	}
	return parts[1]
}

// Report reads a world's directory after its runs: world.json, the
// placements and scheduler_perf's data items.
func Report(dir string) (*World, []*Result, error) {
	w, err := Load(filepath.Join(dir, "world.json"))
	if err != nil {
		return nil, nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "placements_*.json"))
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no placements_*.json in %s: run the scheduler_perf benchmarks on it first", dir)
	}
	var results []*Result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		p := &Placements{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		r, err := w.Judge(p)
		if err != nil {
			return nil, nil, err
		}
		results = append(results, r)
	}
	commonMeans(results)
	if err := addPreFilter(dir, results); err != nil {
		return nil, nil, err
	}
	order := []string{"Default", "NetworkOverhead", "Proxima"}
	slices.SortFunc(results, func(a, b *Result) int {
		return slices.Index(order, a.Profile) - slices.Index(order, b.Profile)
	})
	return w, results, nil
}

// commonMeans sets every result's CommonRTT over the edges all judged.
func commonMeans(results []*Result) {
	if len(results) == 0 {
		return
	}
	var common []string
	for e := range results[0].Judged {
		if !slices.ContainsFunc(results, func(r *Result) bool { _, ok := r.Judged[e]; return !ok }) {
			common = append(common, e)
		}
	}
	for _, r := range results {
		r.CommonRTT, r.CommonEdges = 0, len(common)
		for _, e := range common {
			r.CommonRTT += r.Judged[e] / float64(len(common))
		}
	}
}

// addPreFilter reads the PreFilter times from scheduler_perf's data items.
func addPreFilter(dir string, results []*Result) error {
	items, err := perfdata.Read(dir)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Labels["extension_point"] != "PreFilter" {
			continue
		}
		for _, r := range results {
			if profileOf(it.Labels["Name"]) != r.Profile {
				continue
			}
			switch it.Labels["Metric"] {
			case "scheduler_framework_extension_point_duration_seconds":
				r.PreFilter = it.Data["Average"]
			case "scheduler_plugin_execution_duration_seconds":
				if p := it.Labels["plugin"]; p == "EdgePlacement" || p == "NetworkOverhead" {
					r.PluginPreFilter = it.Data["Average"]
				}
			}
		}
	}
	return nil
}

// Print writes the comparison: one line per profile, then the RTT of
// every call edge under each.
func Print(out io.Writer, w *World, results []*Result) {
	nodes := 0
	for _, s := range w.Sites {
		nodes += s.Nodes
	}
	fmt.Fprintf(out, "Online Boutique, world seed %d: %d sites (%d nodes) in measured cities, %d shops of %d services × %d pods, bound %d ms on every call\n",
		w.Seed, len(w.Sites), nodes, w.Shops, len(OnlineBoutique), w.replicas(), maxNetworkCost)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\tplaced\tstranded\tedges judged\tmean call RTT ms\ton common edges\tover bound\tPreFilter ms/attempt\tplugin PreFilter ms\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%.1f\t%.1f\t%d\t%.3f\t%.3f\t\n", r.Profile, r.Placed, r.Pods, r.Stranded, r.Edges, r.MeanRTT, r.CommonRTT, r.OverBound, r.PreFilter, r.PluginPreFilter)
	}
	_ = tw.Flush()
	var edges []string
	for _, s := range OnlineBoutique {
		for _, c := range s.Calls {
			edges = append(edges, s.Name+" → "+c)
		}
	}
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "call edge\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t", r.Profile)
	}
	fmt.Fprintln(tw)
	for _, e := range edges {
		fmt.Fprintf(tw, "%s\t", e)
		for _, r := range results {
			if v, ok := r.PerEdge[e]; ok {
				fmt.Fprintf(tw, "%.1f\t", v)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}
