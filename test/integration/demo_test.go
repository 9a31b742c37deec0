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

package integration

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat"

	"github.com/proxima-sched/proxima/pkg/demo"
)

// TestDemoQuality runs a small version of the demo end to end on the real
// control plane and checks placement quality against the default scheduler
// and the offline optimum.
func TestDemoQuality(t *testing.T) {
	sc, err := demo.DefaultScenario()
	if err != nil {
		t.Fatal(err)
	}
	sc.Scale(0, 1, 60) // every site, one node each, 60 pods
	report, err := demo.Run(context.Background(), demo.Options{Scenario: sc, SchedulerConfig: schedulerConfig})
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	report.Print(&table)
	t.Log("\n" + table.String())
	latencyClasses := 0
	// Each latency-led class's mean RTT, weighted by its placed pods.
	var proxRTTs, proxPlaced, defRTTs, defPlaced []float64
	for _, cr := range report.Classes {
		prox, ok1 := report.Row(cr.Class, demo.ProximaScheduler)
		def, ok2 := report.Row(cr.Class, demo.DefaultScheduler)
		opt, ok3 := report.Row(cr.Class, "optimum")
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("class %s lacks a row", cr.Class)
		}
		if v := prox.Violations(); v != 0 {
			t.Errorf("%s: Proxima placed %d pods against a hard rule: %+v", cr.Class, v, prox)
		}
		if prox.Unschedulable > opt.Unschedulable {
			t.Errorf("%s: Proxima left %d pods unschedulable, the optimum %d", cr.Class, prox.Unschedulable, opt.Unschedulable)
		}
		if !cr.HasLatency {
			if prox.HourlyCost > 1.10*opt.HourlyCost {
				t.Errorf("%s: Proxima's cost %.3f/h is over 1.10 × the optimum's %.3f/h", cr.Class, prox.HourlyCost, opt.HourlyCost)
			}
			continue
		}
		latencyClasses++
		// Per class the default scheduler can match the optimum by chance
		// (three GPU pods on four GPU nodes); over all latency-led pods it
		// cannot.
		proxRTTs, proxPlaced = append(proxRTTs, prox.MeanRTT), append(proxPlaced, float64(prox.Pods-prox.Unschedulable))
		defRTTs, defPlaced = append(defRTTs, def.MeanRTT), append(defPlaced, float64(def.Pods-def.Unschedulable))
		if ratio := prox.MeanRTT / opt.MeanRTT; !(ratio <= 1.10) {
			t.Errorf("%s: Proxima's mean RTT is %.3f × the optimum's, want ≤ 1.10", cr.Class, ratio)
		} else {
			t.Logf("%s: Proxima's mean RTT is %.3f × the optimum's", cr.Class, ratio)
		}
	}
	if latencyClasses == 0 {
		t.Fatal("the scenario has no latency-led class to compare")
	}
	if proxMean, defMean := stat.Mean(proxRTTs, proxPlaced), stat.Mean(defRTTs, defPlaced); !(proxMean < defMean) {
		t.Errorf("over the latency-led pods, Proxima's mean RTT %.1f ms is not below the default scheduler's %.1f ms", proxMean, defMean)
	} else {
		t.Logf("over the latency-led pods, mean RTT: Proxima %.1f ms, default scheduler %.1f ms", proxMean, defMean)
	}
	dir := t.TempDir()
	files, err := report.WriteCharts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s is not a PNG: %v", filepath.Base(f), err)
		}
		if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 400 {
			t.Errorf("%s is %dx%d, too small to read", filepath.Base(f), b.Dx(), b.Dy())
		}
	}
}
