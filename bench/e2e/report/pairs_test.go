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
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpreadOf(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		xs   []float64
		want spread
	}{
		{"one", []float64{1.25}, spread{n: 1, median: 1.25, min: 1.25, max: 1.25}},
		{"odd, unsorted", []float64{1.26, 0.62, 1.25}, spread{n: 3, median: 1.25, min: 0.62, max: 1.26}},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, spread{n: 4, median: 2.5, min: 1, max: 4}},
		{"NaN left out", []float64{nan, 2, nan, 1, 3}, spread{n: 3, median: 2, min: 1, max: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := spreadOf(tc.xs); got != tc.want {
				t.Errorf("spreadOf(%v) = %+v, want %+v", tc.xs, got, tc.want)
			}
		})
	}
	if got := spreadOf([]float64{nan}); got.n != 0 || !math.IsNaN(got.median) {
		t.Errorf("spreadOf(NaN) = %+v, want n 0 and a NaN median", got)
	}
}

// testRun is a test case's average throughput and attempt p50 in one pair.
type testRun struct {
	testCase               string
	throughput, attemptP50 float64
}

// pair builds one pair's report of runs on workload wl.
func pair(wl string, runs ...testRun) *report {
	rep := &report{}
	for _, tr := range runs {
		r := rep.get(tr.testCase, wl)
		if !math.IsNaN(tr.throughput) { // NaN: scheduler_perf gave no throughput
			r.throughput["Average"] = tr.throughput
		}
		r.attempt["Perc50"] = tr.attemptP50
	}
	return rep
}

func TestSummarize(t *testing.T) {
	const wl = "5000Nodes"
	for _, tc := range []struct {
		name  string
		pairs []*report
		want  map[string]summary // by test case
	}{{
		// The three pairs of the problem: Proxima's rate steady, the
		// default profile's moving; the order alternates.
		name: "alternating pairs",
		pairs: []*report{
			pair(wl, testRun{"Default", 205.0, 22.0}, testRun{"Proxima", 127.1, 57.0}),
			pair(wl, testRun{"Proxima", 136.25, 62.0}, testRun{"Default", 109.0, 37.0}),
			pair(wl, testRun{"Proxima", 141.12, 60.0}, testRun{"Default", 112.0, 30.0}),
		},
		want: map[string]summary{
			"Default": {throughput: spread{3, 112, 109, 205}, attemptP50: spread{3, 30, 22, 37},
				ratio: spread{median: math.NaN()}},
			"Proxima": {throughput: spread{3, 136.25, 127.1, 141.12}, attemptP50: spread{3, 60, 57, 62},
				ratio: spread{3, 1.25, 0.62, 1.26}},
		},
	}, {
		// A pair whose baseline is missing (a failed run) has no ratio
		// but still counts for throughput.
		name: "pair without its baseline",
		pairs: []*report{
			pair(wl, testRun{"Default", 100.0, 10.0}, testRun{"Proxima", 150.0, 20.0}),
			pair(wl, testRun{"Proxima", 90.0, 30.0}),
			pair(wl, testRun{"Default", 200.0, 10.0}, testRun{"Proxima", 100.0, 20.0}),
		},
		want: map[string]summary{
			"Default": {throughput: spread{2, 150, 100, 200}, attemptP50: spread{2, 10, 10, 10},
				ratio: spread{median: math.NaN()}},
			"Proxima": {throughput: spread{3, 100, 90, 150}, attemptP50: spread{3, 20, 20, 30},
				ratio: spread{2, 1, 0.5, 1.5}},
		},
	}, {
		// A run without a throughput sample (all pods bound within the
		// first second) has neither a throughput nor a ratio.
		name: "run without throughput",
		pairs: []*report{
			pair(wl, testRun{"Default", 100.0, 10.0}, testRun{"Proxima", math.NaN(), 20.0}),
			pair(wl, testRun{"Proxima", 120.0, 20.0}, testRun{"Default", math.NaN(), 10.0}),
		},
		want: map[string]summary{
			"Default": {throughput: spread{1, 100, 100, 100}, attemptP50: spread{2, 10, 10, 10},
				ratio: spread{median: math.NaN()}},
			"Proxima": {throughput: spread{1, 120, 120, 120}, attemptP50: spread{2, 20, 20, 20},
				ratio: spread{median: math.NaN()}},
		},
	}, {
		// Each variant is compared with the default profile's same variant
		// in the same pair, never with another pair's.
		name: "variants",
		pairs: []*report{
			pair(wl, testRun{"Default_AllNodes", 50.0, 30.0}, testRun{"Proxima_AllNodes", 125.0, 25.0}),
			pair(wl, testRun{"Proxima_AllNodes", 120.0, 25.0}, testRun{"Default_AllNodes", 40.0, 30.0}),
		},
		want: map[string]summary{
			"Default_AllNodes": {throughput: spread{2, 45, 40, 50}, attemptP50: spread{2, 30, 30, 30},
				ratio: spread{median: math.NaN()}},
			"Proxima_AllNodes": {throughput: spread{2, 122.5, 120, 125}, attemptP50: spread{2, 25, 25, 25},
				ratio: spread{2, 2.75, 2.5, 3}},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := summarize(tc.pairs)
			if len(got) != len(tc.want) {
				t.Fatalf("summarize gave %d summaries, want %d: %+v", len(got), len(tc.want), got)
			}
			for _, s := range got {
				want, ok := tc.want[s.testCase]
				if !ok || s.workload != wl {
					t.Errorf("unexpected summary %+v", s)
					continue
				}
				for _, c := range []struct {
					what      string
					got, want spread
				}{{"throughput", s.throughput, want.throughput}, {"attempt p50", s.attemptP50, want.attemptP50}, {"ratio", s.ratio, want.ratio}} {
					if !sameSpread(c.got, c.want) {
						t.Errorf("%s %s = %+v, want %+v", s.testCase, c.what, c.got, c.want)
					}
				}
			}
		})
	}
}

// sameSpread compares to 0.01 (ratios are quotients), NaN equal to NaN;
// a NaN median in want stands for no values at all.
func sameSpread(got, want spread) bool {
	if math.IsNaN(want.median) {
		return got.n == 0 && math.IsNaN(got.median)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 0.01 }
	return got.n == want.n && near(got.median, want.median) && near(got.min, want.min) && near(got.max, want.max)
}

func TestPairsReport(t *testing.T) {
	dir := t.TempDir()
	// Two pairs in alternating order, each run in its own directory.
	for _, run := range []struct {
		dir, testCase string
		throughput    float64
	}{
		{"pair-01/1-Default", "Default", 200},
		{"pair-01/2-Proxima", "Proxima", 250},
		{"pair-02/1-Proxima", "Proxima", 150},
		{"pair-02/2-Default", "Default", 100},
	} {
		d := filepath.Join(dir, run.dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		items := fmt.Sprintf(`{"version": "v1", "dataItems": [
 {"data": {"Average": %g}, "unit": "pods/s",
  "labels": {"Metric": "SchedulingThroughput", "Name": "BenchmarkPerfScheduling/%s/5000Nodes/measure"}},
 {"data": {"Perc50": 40}, "unit": "ms",
  "labels": {"Metric": "scheduler_scheduling_attempt_duration_seconds", "result": "scheduled", "Name": "BenchmarkPerfScheduling/%s/5000Nodes/measure"}}
]}`, run.throughput, run.testCase, run.testCase)
		if err := os.WriteFile(filepath.Join(d, "BenchmarkPerfScheduling_benchmark_proxima_x.json"), []byte(items), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "run.json"), []byte(`{"load1": 1.5, "seconds": 301}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := printDir(dir, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"#### 5000Nodes, 2 pairs",
		// Each pair's runs in the order they ran, Proxima against the
		// Default run of its own pair.
		"| 1 | Default | 200.0 | — | 40.0 | — | — | — | 1.50 | 301 |\n| 1 | Proxima | 250.0 | 1.25× | 40.0 | — | — | — | 1.50 | 301 |\n" +
			"| 2 | Proxima | 150.0 | 1.50× | 40.0 | — | — | — | 1.50 | 301 |\n| 2 | Default | 100.0 | — |",
		"| Default | 150.0 | 100.0–200.0 | — | — | 40.0 | 40.0–40.0 |",
		"| Proxima | 200.0 | 150.0–250.0 | 1.38× | 1.25–1.50× | 40.0 | 40.0–40.0 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

// TestCeilingColumn: with a Ceiling run in the pairs, each profile is also
// given as a fraction of the ceiling's throughput in its own pair, and
// the tables stay well-formed (one cell per column); without one, the
// column is absent.
func TestCeilingColumn(t *testing.T) {
	const wl = "20000Nodes_2000Sites"
	pairs := []*report{
		pair(wl, testRun{"Default", 100, 50}, testRun{"Proxima", 160, 30}, testRun{"Ceiling", 200, 20}),
		pair(wl, testRun{"Ceiling", 250, 20}, testRun{"Proxima", 200, 30}, testRun{"Default", 100, 50}),
	}
	s := summarize(pairs)
	for _, sum := range s {
		if sum.testCase == "Proxima" && (sum.ofCeiling.median != 0.8 || sum.ofCeiling.n != 2) {
			t.Errorf("Proxima of Ceiling: %+v, want a median of 0.8 over 2 pairs", sum.ofCeiling)
		}
		if sum.testCase == "Ceiling" && sum.ofCeiling.n != 0 {
			t.Errorf("the ceiling was compared with itself: %+v", sum.ofCeiling)
		}
	}
	for _, tc := range []struct {
		name    string
		pairs   []*report
		ceiling bool
	}{{"with a ceiling", pairs, true}, {"without", []*report{pair(wl, testRun{"Default", 100, 50}, testRun{"Proxima", 160, 30})}, false}} {
		var buf bytes.Buffer
		if err := writePairs(&buf, tc.pairs); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if got := strings.Contains(out, "of Ceiling"); got != tc.ceiling {
			t.Errorf("%s: an \"of Ceiling\" column is %v, want %v:\n%s", tc.name, got, tc.ceiling, out)
		}
		if tc.ceiling && !strings.Contains(out, "| 0.80× |") {
			t.Errorf("%s: Proxima's 0.80× of the ceiling is missing:\n%s", tc.name, out)
		}
		// Every row of a table has as many cells as its header.
		cells := 0
		for line := range strings.SplitSeq(out, "\n") {
			switch {
			case !strings.HasPrefix(line, "|"):
				cells = 0
			case cells == 0:
				cells = strings.Count(line, "|")
			case strings.Count(line, "|") != cells:
				t.Errorf("%s: %q has %d cells, its header %d", tc.name, line, strings.Count(line, "|")-1, cells-1)
			}
		}
	}
}
