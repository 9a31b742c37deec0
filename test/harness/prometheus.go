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

package harness

import (
	"testing"

	"github.com/proxima-sched/proxima/pkg/controlplane"
)

// Prometheus is a real Prometheus server (bin/prometheus, built by `make
// tools`) scraping every second (see controlplane.Prometheus). It can be
// stopped and started again on the same address and data, to test outages.
type Prometheus = controlplane.Prometheus

// Exporter serves controllable series for Prometheus to scrape: RTTs, site
// prices and health, and node utilization (see controlplane.Exporter).
type Exporter = controlplane.Exporter

// NodeUtilizationQuery reads Exporter.NodeUtilization, standing in for the
// node_exporter rate query.
const NodeUtilizationQuery = controlplane.NodeUtilizationQuery

// StartPrometheus starts Prometheus scraping the exporter; it stops when the
// test ends.
func StartPrometheus(tb testing.TB, exporter *Exporter) *Prometheus {
	tb.Helper()
	return StartPrometheusWith(tb, exporter.ScrapeConfig("proxima-test"), nil)
}

// StartPrometheusWith starts Prometheus with the given scrape_configs list
// (YAML list items, indented two spaces), scraping and evaluating rules
// every second, with the rule files given by name and content; it stops
// when the test ends.
func StartPrometheusWith(tb testing.TB, scrapeConfigs string, ruleFiles map[string][]byte) *Prometheus {
	tb.Helper()
	p, err := controlplane.StartPrometheus(tb.TempDir(), scrapeConfigs, ruleFiles)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Stop)
	return p
}

// StartExporter serves the series on a free loopback port until the test ends.
func StartExporter(tb testing.TB) *Exporter {
	tb.Helper()
	e, err := controlplane.StartExporter()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Close() })
	return e
}
