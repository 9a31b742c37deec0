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

package perfdata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRead reads the data items of every *_benchmark_*.json in a directory
// and nothing else; a file that is not JSON is an error naming it.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("SchedulingBasic_benchmark_2026-12-07.json", `{"version": "v1", "dataItems": [
		{"data": {"Average": 2.5}, "unit": "ms", "labels": {"Metric": "scheduler_plugin_execution_duration_seconds", "plugin": "EdgePlacement", "extension_point": "PreFilter"}},
		{"data": {"Average": 120}, "unit": "pods/s", "labels": {"Metric": "SchedulingThroughput"}}]}`)
	write("Other_benchmark_2026-12-07.json", `{"version": "v1", "dataItems": [{"data": {"Perc50": 1}, "labels": {"Metric": "x"}}]}`)
	write("residency_x.json", `{"workload": "x"}`)
	items, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("%d items, want 3 from the two data item files: %+v", len(items), items)
	}
	var prefilter float64
	for _, it := range items {
		if it.Labels["plugin"] == "EdgePlacement" && it.Labels["extension_point"] == "PreFilter" {
			prefilter = it.Data["Average"]
		}
	}
	if prefilter != 2.5 {
		t.Errorf("EdgePlacement's PreFilter average %v, want 2.5", prefilter)
	}
	write("Broken_benchmark_2026-12-07.json", `not json`)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "Broken_benchmark") {
		t.Errorf("a broken file: error %v, want one naming it", err)
	}
}
