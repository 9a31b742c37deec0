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

// Command report turns the data items that scheduler_perf writes with
// -data-items-dir (and the residency results bench/e2e writes next to them)
// into the Markdown tables of bench/README.md. Given a repeat run of
// alternating pairs (bench/e2e/pairs.sh), it prints each pair's runs and each
// test case's median and range over the pairs.
//
//	go run ./bench/e2e/report out/bench-e2e
//	go run ./bench/e2e/report out/bench-e2e-pairs
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/proxima-sched/proxima/bench/perfdata"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: report DIR")
		os.Exit(2)
	}
	if err := printDir(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// printDir prints the report of a single run or of a repeat run.
func printDir(dir string, w io.Writer) error {
	dirs, err := pairDirs(dir)
	if err != nil {
		return err
	}
	if len(dirs) > 0 {
		p, err := loadPairs(dirs)
		if err != nil {
			return err
		}
		return writePairs(w, p)
	}
	r, err := load(dir)
	if err != nil {
		return err
	}
	return r.write(w)
}

// The profile every other is compared with, and the plugins whose own
// extension-point durations are reported, for the profile that runs each.
// (Only that profile: the scheduler records plugin durations asynchronously,
// flushing every second, so a few samples of the previous test case's
// scheduler can land after scheduler_perf resets the metrics.)
const baselineProfile = "Default"

// ceilingProfile is the profile with no filter or score plugin: only queue
// sort and the default binder (config/ceiling.yaml). Its throughput is what
// the apiserver and the binding path allow on the machine; the other
// profiles are reported as fractions of it when a pair runs it.
const ceilingProfile = "Ceiling"

var reportedPlugins = []struct {
	name, profile string
	points        []string
}{
	{"EdgePlacement", "Proxima", []string{"PreFilter", "Filter", "PreScore", "Score", "PostBind"}},
	{"NetworkOverhead", "NetworkOverhead", []string{"PreFilter", "Filter", "Score"}},
}

type residency perfdata.Residency

// meanRTT is the residency result's mean client RTT cell: "41.2 (1,250)",
// a dash for none.
func (r *residency) meanRTT() string {
	if r == nil || r.LatencyPods == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f (%d)", r.MeanRTTMs, r.LatencyPods)
}

// run is one test case (a profile and a percentageOfNodesToScore variant)
// on one workload.
type run struct {
	testCase, workload string
	throughput         map[string]float64 // pods/s: Average, Perc50, ...
	attempt            map[string]float64 // ms, scheduled attempts
	plugin             map[string]float64 // "plugin/point" -> average ms
	residency          *residency
	info               *runInfo // repeat runs only
}

// profile and variant split a test case name: "Proxima_AllNodes" is the
// Proxima profile in the AllNodes variant.
func (r *run) profile() string { p, _, _ := strings.Cut(r.testCase, "_"); return p }
func (r *run) variant() string { _, v, _ := strings.Cut(r.testCase, "_"); return v }

type report struct {
	runs []*run // in the order scheduler_perf ran them
}

func (rep *report) get(testCase, workload string) *run {
	for _, r := range rep.runs {
		if r.testCase == testCase && r.workload == workload {
			return r
		}
	}
	r := &run{testCase: testCase, workload: workload,
		throughput: map[string]float64{}, attempt: map[string]float64{}, plugin: map[string]float64{}}
	rep.runs = append(rep.runs, r)
	return r
}

// splitName parses "BenchmarkPerfScheduling/<test case>/<workload>[/...]".
func splitName(name string) (testCase, workload string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) < 3 {
		return "", "", false
	}
	return parts[1], parts[2], true
}

func load(dir string) (*report, error) {
	rep := &report{}
	n, err := perfdata.ReadEach(dir, perfdata.Pattern, rep.addDataItems)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("no scheduler_perf data items (*_benchmark_*.json) in %s", dir)
	}
	if _, err := perfdata.ReadEach(dir, perfdata.ResidencyPattern, rep.addResidency); err != nil {
		return nil, err
	}
	return rep, nil
}

func (rep *report) addDataItems(data []byte) error {
	items, err := perfdata.Parse(data)
	if err != nil {
		return err
	}
	for _, it := range items {
		tc, wl, ok := splitName(it.Labels["Name"])
		if !ok || len(it.Data) == 0 {
			continue
		}
		switch r := rep.get(tc, wl); it.Labels["Metric"] {
		case "SchedulingThroughput":
			r.throughput = it.Data
		case "scheduler_scheduling_attempt_duration_seconds":
			if it.Labels["result"] == "scheduled" {
				r.attempt = it.Data
			}
		case "scheduler_plugin_execution_duration_seconds":
			r.plugin[it.Labels["plugin"]+"/"+it.Labels["extension_point"]] = it.Data["Average"]
		}
	}
	return nil
}

func (rep *report) addResidency(data []byte) error {
	var res residency
	if err := json.Unmarshal(data, &res); err != nil {
		return err
	}
	tc, wl, ok := splitName(res.Workload)
	if !ok {
		return fmt.Errorf("unexpected workload name %q", res.Workload)
	}
	rep.get(tc, wl).residency = &res
	return nil
}

// baseline is the run of the baseline profile with the same variant on the
// same workload, or nil.
func (rep *report) baseline(r *run) *run { return rep.profile(r, baselineProfile) }

// profile is the run of profile (with r's variant) on r's workload.
func (rep *report) profile(r *run, profile string) *run {
	want := profile
	if v := r.variant(); v != "" {
		want += "_" + v
	}
	for _, b := range rep.runs {
		if b.testCase == want && b.workload == r.workload {
			return b
		}
	}
	return nil
}

func (rep *report) workloads() []string {
	var out []string
	for _, r := range rep.runs {
		if !slices.Contains(out, r.workload) {
			out = append(out, r.workload)
		}
	}
	return out
}

func (rep *report) write(w io.Writer) error {
	p := &printer{w: w}
	for _, wl := range rep.workloads() {
		p.printf("#### %s\n\n", wl)
		p.printf("| Test case | Throughput avg (pods/s) | p50 | p90 | p99 | vs %s | Attempt p50 (ms) | p99 (ms) | EU-resident pods outside the EU | Mean client RTT, ms (pods) | Pods batched |\n", baselineProfile)
		p.printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rep.runs {
			if r.workload != wl {
				continue
			}
			res, batched := "—", "—"
			if r.residency != nil {
				res = fmt.Sprintf("%d of %d", r.residency.Outside, r.residency.Placed)
				batched = fmt.Sprintf("%.0f", r.residency.BatchedPods)
			}
			p.printf("| %s | %.1f | %.1f | %.1f | %.1f | %s | %.1f | %.1f | %s | %s | %s |\n", r.testCase,
				r.throughput["Average"], r.throughput["Perc50"], r.throughput["Perc90"], r.throughput["Perc99"],
				times(rep.ratio(r)), r.attempt["Perc50"], r.attempt["Perc99"], res, r.residency.meanRTT(), batched)
		}
		p.printf("\n")
		for _, pl := range reportedPlugins {
			var rows []string
			for _, r := range rep.runs {
				if r.workload != wl || r.profile() != pl.profile || !r.hasPlugin(pl.name) {
					continue
				}
				cells := make([]string, len(pl.points))
				for i, pt := range pl.points {
					cells[i] = fmt.Sprintf("%.1f", 1000*r.plugin[pl.name+"/"+pt])
				}
				rows = append(rows, fmt.Sprintf("| %s | %s |\n", r.testCase, strings.Join(cells, " | ")))
			}
			if len(rows) == 0 {
				continue
			}
			p.printf("| %s average (µs) | %s |\n", pl.name, strings.Join(pl.points, " | "))
			p.printf("|---|%s\n", strings.Repeat("---:|", len(pl.points)))
			for _, row := range rows {
				p.printf("%s", row)
			}
			p.printf("\n")
		}
	}
	return p.err
}

func (r *run) hasPlugin(name string) bool {
	for k := range r.plugin {
		if strings.HasPrefix(k, name+"/") {
			return true
		}
	}
	return false
}

// printer keeps the first write error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
