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
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

const namespace = "proxima"

var (
	lastSuccess = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: namespace, Subsystem: "telemetry", Name: "last_success_timestamp_seconds",
		Help:           "Unix time of the last successful read of each live signal.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"signal"})
	staleGauge = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: namespace, Subsystem: "telemetry", Name: "stale",
		Help:           "1 while a live signal is older than its maximum age and declared values are in use.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"signal"})
	queryDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace: namespace, Subsystem: "telemetry", Name: "query_duration_seconds",
		Help:           "Duration of Prometheus queries per signal.",
		Buckets:        metrics.ExponentialBuckets(0.001, 2, 15),
		StabilityLevel: metrics.ALPHA,
	}, []string{"signal"})
	queryErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Subsystem: "telemetry", Name: "query_errors_total",
		Help:           "Failed Prometheus queries per signal.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"signal"})
	seriesGauge = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: namespace, Subsystem: "telemetry", Name: "series",
		Help:           "Series returned by the last read of each signal, mapped to nodes or sites or not (unknown labels, out-of-range values).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"signal", "mapped"})

	registerOnce sync.Once
)

// registerMetrics registers the metrics with the legacy registry, which
// kube-scheduler serves on /metrics.
func registerMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(lastSuccess, staleGauge, queryDuration, queryErrors, seriesGauge)
	})
}
