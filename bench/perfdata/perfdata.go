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

// Package perfdata reads what scheduler_perf writes with -data-items-dir:
// its data items (perfdash's format), for the reports of bench/e2e and
// bench/boutique, and the residency results bench/e2e writes next to them.
package perfdata

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Pattern matches the files of data items in a -data-items-dir.
const Pattern = "*_benchmark_*.json"

// Item is one data item: a metric's values (Average, Perc50, ...) and its
// labels (Name, Metric, plugin, extension_point, result, ...). It reads
// the JSON of scheduler_perf's own DataItem; importing that type would
// build scheduler_perf's integration harness (an apiserver and etcd client)
// into every report command for three fields.
type Item struct {
	Data   map[string]float64 `json:"data"`
	Unit   string             `json:"unit"`
	Labels map[string]string  `json:"labels"`
}

// Parse reads the data items of one file.
func Parse(data []byte) ([]Item, error) {
	var items struct {
		DataItems []Item `json:"dataItems"`
	}
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	return items.DataItems, nil
}

// ReadEach passes each file in dir matching pattern to add and returns how
// many there were.
func ReadEach(dir, pattern string, add func([]byte) error) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		if err := add(data); err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
	}
	return len(files), nil
}

// Read returns the data items of every file of data items in dir.
func Read(dir string) ([]Item, error) {
	var all []Item
	_, err := ReadEach(dir, Pattern, func(data []byte) error {
		items, err := Parse(data)
		all = append(all, items...)
		return err
	})
	return all, err
}

// ResidencyPattern matches the files of residency results in a
// -data-items-dir.
const ResidencyPattern = "residency_*.json"

// Residency is what bench/e2e writes after each workload
// (residency_<workload>.json) for its report: where the EU-resident pods
// went, and every profile's mean client RTT on the same measured pods.
type Residency struct {
	Workload string `json:"workload"`
	Enforced bool   `json:"enforced"`
	Placed   int    `json:"placed"`
	Outside  int    `json:"outside"`
	// Unexplained counts placed pods without the placement annotation.
	Unexplained int `json:"unexplained"`
	// BatchedPods counts the pods the scheduler placed on a node hinted by
	// opportunistic batching (scheduler_batch_attempts_total, hint_used),
	// over the whole run.
	BatchedPods float64 `json:"batchedPods"`
	// LatencyPods counts the placed measured pods whose policy reads
	// client RTTs; MeanRTTMs is their mean RTT from their clients
	// (bench/e2e's judgeLatency).
	LatencyPods int     `json:"latencyPods"`
	MeanRTTMs   float64 `json:"meanRTTMs"`
}
