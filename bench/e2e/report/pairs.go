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
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// A repeat run (bench/e2e/pairs.sh) holds one directory per pair,
// pair-01, pair-02, ..., and in each one directory per run, named so that
// they sort in the order they ran (1-Default, 2-Proxima). Each run is one
// test case in its own process; run.json records the machine's load before
// it and how long it took.
const pairGlob = "pair-*"

// runInfo is run.json.
type runInfo struct {
	Load1   float64 `json:"load1"`   // 1-minute load average before the run
	Seconds float64 `json:"seconds"` // wall time of the run, build excluded
}

// pairDirs lists the pair directories of a repeat run in dir, if it is one.
func pairDirs(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, pairGlob))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out, nil
}

// loadPairs reads a repeat run's pair directories: one report per pair, its
// runs in the order they ran.
func loadPairs(dirs []string) ([]*report, error) {
	var pairs []*report
	for _, pd := range dirs {
		runDirs, err := filepath.Glob(filepath.Join(pd, "*"))
		if err != nil {
			return nil, err
		}
		slices.Sort(runDirs)
		pair := &report{}
		for _, rd := range runDirs {
			if fi, err := os.Stat(rd); err != nil || !fi.IsDir() {
				continue
			}
			rep, err := load(rd)
			if err != nil {
				return nil, err
			}
			info, err := readRunInfo(rd)
			if err != nil {
				return nil, err
			}
			for _, r := range rep.runs {
				r.info = info
			}
			pair.runs = append(pair.runs, rep.runs...)
		}
		if len(pair.runs) == 0 {
			return nil, fmt.Errorf("no runs in %s", pd)
		}
		pairs = append(pairs, pair)
	}
	return pairs, nil
}

func readRunInfo(dir string) (*runInfo, error) {
	data, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var info runInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &info, nil
}

// spread is the median and range of a sample.
type spread struct {
	n                int
	median, min, max float64
}

// spreadOf ignores NaNs (a pair without the value).
func spreadOf(xs []float64) spread {
	var s []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return spread{median: math.NaN(), min: math.NaN(), max: math.NaN()}
	}
	slices.Sort(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return spread{n: len(s), median: med, min: s[0], max: s[len(s)-1]}
}

// ratio is r's average throughput over that of its baseline in the same
// report (the same pair), or NaN if there is none.
func (rep *report) ratio(r *run) float64 {
	b := rep.baseline(r)
	if b == nil || b == r || !(value(b.throughput, "Average") > 0) {
		return math.NaN()
	}
	return value(r.throughput, "Average") / b.throughput["Average"]
}

// ofCeiling is r's average throughput over the ceiling profile's in the
// same pair, or NaN if the pair has none.
func (rep *report) ofCeiling(r *run) float64 {
	c := rep.profile(r, ceilingProfile)
	if c == nil || c == r || !(value(c.throughput, "Average") > 0) {
		return math.NaN()
	}
	return value(r.throughput, "Average") / c.throughput["Average"]
}

// summary is one test case on one workload over all pairs.
type summary struct {
	workload, testCase string
	// throughput is the average throughput, attemptP50 the median attempt
	// duration of scheduled pods, ratio the throughput over the baseline's
	// in the same pair, ofCeiling over the ceiling profile's.
	throughput, attemptP50, ratio, ofCeiling spread
}

// summarize aggregates the pairs per workload and test case, in the order
// they first appear.
func summarize(pairs []*report) []summary {
	type key struct{ workload, testCase string }
	type sample struct{ throughput, attemptP50, ratio, ofCeiling []float64 }
	var order []key
	samples := map[key]*sample{}
	for _, p := range pairs {
		for _, r := range p.runs {
			k := key{r.workload, r.testCase}
			s, ok := samples[k]
			if !ok {
				s = &sample{}
				samples[k] = s
				order = append(order, k)
			}
			s.throughput = append(s.throughput, value(r.throughput, "Average"))
			s.attemptP50 = append(s.attemptP50, value(r.attempt, "Perc50"))
			s.ratio = append(s.ratio, p.ratio(r))
			s.ofCeiling = append(s.ofCeiling, p.ofCeiling(r))
		}
	}
	out := make([]summary, 0, len(order))
	for _, k := range order {
		s := samples[k]
		out = append(out, summary{workload: k.workload, testCase: k.testCase,
			throughput: spreadOf(s.throughput), attemptP50: spreadOf(s.attemptP50), ratio: spreadOf(s.ratio), ofCeiling: spreadOf(s.ofCeiling)})
	}
	return out
}

// writePairs prints, per workload, every run of every pair and then each
// test case's median and range over the pairs.
func writePairs(w io.Writer, pairs []*report) error {
	p := &printer{w: w}
	sums := summarize(pairs)
	var workloads []string
	for _, s := range sums {
		if !slices.Contains(workloads, s.workload) {
			workloads = append(workloads, s.workload)
		}
	}
	for _, wl := range workloads {
		n := 0
		for _, pair := range pairs {
			if slices.Contains(pair.workloads(), wl) {
				n++
			}
		}
		unit := "pairs"
		if n == 1 {
			unit = "pair"
		}
		ceiling := false
		for _, s := range sums {
			ceiling = ceiling || s.workload == wl && s.ofCeiling.n > 0
		}
		// cell is the "of Ceiling" cell, when a pair ran the ceiling.
		cell := func(x string) string {
			if !ceiling {
				return ""
			}
			return " " + x + " |"
		}
		p.printf("#### %s, %d %s\n\n", wl, n, unit)
		p.printf("| Pair | Test case | Throughput avg (pods/s) | vs %s |%s Attempt p50 (ms) | EU-resident outside the EU | Mean client RTT, ms (pods) | Pods batched | Load before | Run (s) |\n",
			baselineProfile, cell("of "+ceilingProfile))
		p.printf("|---:|---|---:|---:|%s---:|---:|---:|---:|---:|---:|\n", cell("---:")[min(1, len(cell("---:"))):])
		for i, pair := range pairs {
			for _, r := range pair.runs {
				if r.workload != wl {
					continue
				}
				load, secs := "—", "—"
				if r.info != nil {
					load, secs = fmt.Sprintf("%.2f", r.info.Load1), fmt.Sprintf("%.0f", r.info.Seconds)
				}
				res, batched := "—", "—"
				if r.residency != nil {
					res = fmt.Sprintf("%d of %d", r.residency.Outside, r.residency.Placed)
					batched = fmt.Sprintf("%.0f", r.residency.BatchedPods)
				}
				p.printf("| %d | %s | %s | %s |%s %s | %s | %s | %s | %s | %s |\n", i+1, r.testCase,
					num(value(r.throughput, "Average")), times(pair.ratio(r)), cell(times(pair.ofCeiling(r))),
					num(value(r.attempt, "Perc50")), res, r.residency.meanRTT(), batched, load, secs)
			}
		}
		p.printf("\n")
		p.printf("| Test case | Throughput median (pods/s) | range | vs %s median | range |%s Attempt p50 median (ms) | range |\n",
			baselineProfile, cell("of "+ceilingProfile+" median |"+" range"))
		p.printf("|---|---:|---:|---:|---:|%s---:|---:|\n", cell("---:|---:")[min(1, len(cell("---:|---:"))):])
		for _, s := range sums {
			if s.workload != wl {
				continue
			}
			ratioRange := "—"
			if s.ratio.n > 0 {
				ratioRange = fmt.Sprintf("%.2f–%.2f×", s.ratio.min, s.ratio.max)
			}
			ceilingRange := "—"
			if s.ofCeiling.n > 0 {
				ceilingRange = fmt.Sprintf("%.2f–%.2f×", s.ofCeiling.min, s.ofCeiling.max)
			}
			p.printf("| %s | %s | %s | %s | %s |%s %s | %s |\n", s.testCase,
				num(s.throughput.median), s.throughput.numRange(), times(s.ratio.median), ratioRange,
				cell(times(s.ofCeiling.median)+" | "+ceilingRange), num(s.attemptP50.median), s.attemptP50.numRange())
		}
		p.printf("\n")
	}
	return p.err
}

// value is m[key], or NaN if the run has none (scheduler_perf gives no
// throughput when the pods were all bound within its first one-second sample).
func value(m map[string]float64, key string) float64 {
	if v, ok := m[key]; ok {
		return v
	}
	return math.NaN()
}

// num formats a value, or a dash for NaN.
func num(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.1f", x)
}

func (s spread) numRange() string {
	if s.n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f–%.1f", s.min, s.max)
}

// times formats a ratio, or a dash for NaN.
func times(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", x)
}
