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

package telemetry

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/component-base/metrics"
)

// TestMetricsReference checks that Metrics, which the reference is
// generated from, describes exactly what the collectors export: names,
// types, label names.
func TestMetricsReference(t *testing.T) {
	reg := metrics.NewKubeRegistry()
	reg.MustRegister(lastSuccess, staleGauge, queryDuration, queryErrors, seriesGauge)
	lastSuccess.WithLabelValues("rtt").Set(1)
	staleGauge.WithLabelValues("rtt").Set(0)
	queryDuration.WithLabelValues("rtt").Observe(0.1)
	queryErrors.WithLabelValues("rtt").Inc()
	seriesGauge.WithLabelValues("rtt", "true").Set(1)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range families {
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		got[f.GetName()] = strings.ToLower(f.GetType().String()) + " " + strings.Join(labels, ",") + " " + f.GetHelp()
	}
	want := map[string]string{}
	for _, m := range Metrics() {
		var labels []string
		for _, l := range m.Labels {
			labels = append(labels, l.Name)
		}
		slices.Sort(labels)
		help := "[" + m.Stability + "] " + m.Help
		want[m.Name] = m.Type + " " + strings.Join(labels, ",") + " " + help
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Metrics() disagrees with the collectors (-Metrics,+collectors):\n%s", diff)
	}
}
