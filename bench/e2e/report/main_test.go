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
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const items = `{"version": "v1", "dataItems": [
 {"data": {"Average": 200, "Perc50": 198, "Perc90": 230, "Perc99": 260}, "unit": "pods/s",
  "labels": {"Metric": "SchedulingThroughput", "Name": "BenchmarkPerfScheduling/Default/5000Nodes/measure"}},
 {"data": {"Average": 190, "Perc50": 191, "Perc90": 220, "Perc99": 240}, "unit": "pods/s",
  "labels": {"Metric": "SchedulingThroughput", "Name": "BenchmarkPerfScheduling/Proxima/5000Nodes/measure"}},
 {"data": {"Average": 100}, "unit": "pods/s",
  "labels": {"Metric": "SchedulingThroughput", "Name": "BenchmarkPerfScheduling/Default_AllNodes/5000Nodes/measure"}},
 {"data": {"Average": 150}, "unit": "pods/s",
  "labels": {"Metric": "SchedulingThroughput", "Name": "BenchmarkPerfScheduling/Proxima_AllNodes/5000Nodes/measure"}},
 {"data": {"Average": 4.2, "Perc50": 3.5, "Perc99": 12.25}, "unit": "ms",
  "labels": {"Metric": "scheduler_scheduling_attempt_duration_seconds", "result": "scheduled", "Name": "BenchmarkPerfScheduling/Proxima/5000Nodes/measure"}},
 {"data": {"Average": 99}, "unit": "ms",
  "labels": {"Metric": "scheduler_scheduling_attempt_duration_seconds", "result": "unschedulable", "Name": "BenchmarkPerfScheduling/Proxima/5000Nodes/measure"}},
 {"data": {"Average": 0.0215}, "unit": "ms",
  "labels": {"Metric": "scheduler_plugin_execution_duration_seconds", "plugin": "EdgePlacement", "extension_point": "PreFilter", "Name": "BenchmarkPerfScheduling/Proxima/5000Nodes/measure"}},
 {"data": {"Average": 0.5}, "unit": "ms",
  "labels": {"Metric": "scheduler_plugin_execution_duration_seconds", "plugin": "EdgePlacement", "extension_point": "PreFilter", "Name": "BenchmarkPerfScheduling/Default/5000Nodes/measure"}},
 {"data": {}, "unit": "",
  "labels": {"Metric": "not applicable", "Name": "BenchmarkPerfScheduling/Proxima/5000Nodes/measure"}}
]}`

func TestReport(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "BenchmarkPerfScheduling_benchmark_proxima_x.json"), []byte(items), 0o644); err != nil {
		t.Fatal(err)
	}
	res := `{"workload": "BenchmarkPerfScheduling/Proxima/5000Nodes", "enforced": true, "placed": 500, "outside": 0, "latencyPods": 250, "meanRTTMs": 12.25}`
	if err := os.WriteFile(filepath.Join(dir, "residency_x.json"), []byte(res), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.write(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		// Proxima against Default: 190/200; the AllNodes variant against Default_AllNodes: 150/100.
		"| Proxima | 190.0 | 191.0 | 220.0 | 240.0 | 0.95× | 3.5 | 12.2 | 0 of 500 | 12.2 (250) |",
		"| Proxima_AllNodes | 150.0 | 0.0 | 0.0 | 0.0 | 1.50× |",
		"| Default | 200.0 | 198.0 | 230.0 | 260.0 | — |",
		"| Proxima | 21.5 | 0.0 | 0.0 | 0.0 | 0.0 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	// EdgePlacement samples under another profile are left-overs of the
	// previous scheduler, not that profile's.
	if strings.Contains(got, "| Default | 500.0 |") {
		t.Errorf("report shows EdgePlacement durations under the Default profile:\n%s", got)
	}
	if strings.Contains(got, "NetworkOverhead average") {
		t.Errorf("report has a NetworkOverhead table without NetworkOverhead data:\n%s", got)
	}
}

func TestLoadEmptyDir(t *testing.T) {
	if _, err := load(t.TempDir()); err == nil {
		t.Fatal("load of a directory without data items succeeded")
	}
}
