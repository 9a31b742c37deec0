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
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// query is one line of a panel: a PromQL expression and its legend.
type query struct{ Expr, Legend string }

// panel is one time series panel of the dashboard.
type panel struct {
	Title, Description, Unit string
	Queries                  []query
}

// row is a titled row of panels.
type row struct {
	Title  string
	Panels []panel
}

var (
	sched = fmt.Sprintf(`job=%q`, schedulerJob)
	ctrl  = fmt.Sprintf(`job=%q`, controllerJob)
)

// rows are the dashboard's contents: scheduling rate and latency, Pending by
// reason, telemetry freshness, the rebalancer's moves and gains, and RTT
// probe coverage.
var rows = []row{
	{Title: "Scheduling", Panels: []panel{
		{
			Title: "Scheduling attempts", Unit: "ops",
			Description: "Attempts per second of proxima-scheduler's profiles, by result.",
			Queries: []query{{
				Expr:   `sum by (profile, result) (rate(scheduler_schedule_attempts_total{` + sched + `}[$__rate_interval]))`,
				Legend: "{{profile}} {{result}}",
			}},
		},
		{
			Title: "Scheduling attempt latency", Unit: "s",
			Description: "p50 and p99 of one scheduling attempt (the scheduling algorithm and binding) of proxima-scheduler's profiles.",
			Queries: []query{
				{Expr: `histogram_quantile(0.99, sum by (le, profile) (rate(scheduler_scheduling_attempt_duration_seconds_bucket{` + sched + `}[$__rate_interval])))`, Legend: "p99 {{profile}}"},
				{Expr: `histogram_quantile(0.5, sum by (le, profile) (rate(scheduler_scheduling_attempt_duration_seconds_bucket{` + sched + `}[$__rate_interval])))`, Legend: "p50 {{profile}}"},
			},
		},
		{
			Title: "EdgePlacement time per extension point", Unit: "s",
			Description: "p99 of EdgePlacement's time at each extension point (sampled by kube-scheduler).",
			Queries: []query{{
				Expr:   `histogram_quantile(0.99, sum by (le, extension_point) (rate(scheduler_plugin_execution_duration_seconds_bucket{` + sched + `, plugin="EdgePlacement"}[$__rate_interval])))`,
				Legend: "{{extension_point}}",
			}},
		},
		{
			Title: "Pending pods by plugin", Unit: "short",
			Description: "Unschedulable pods of proxima-scheduler's profiles by the plugin that last rejected them; EdgePlacement is Proxima's rules. Queued pods of every profile beside them.",
			Queries: []query{
				{Expr: `sum by (profile, plugin) (scheduler_unschedulable_pods{` + sched + `})`, Legend: "{{profile}} {{plugin}}"},
				{Expr: `sum by (queue) (scheduler_pending_pods{` + sched + `})`, Legend: "queue {{queue}}"},
			},
		},
	}},
	{Title: "Telemetry", Panels: []panel{
		{
			Title: "Age of the last successful read", Unit: "s",
			Description: "Seconds since proxima-scheduler last read each live signal from Prometheus.",
			Queries: []query{{
				Expr:   `time() - max by (signal) (proxima_telemetry_last_success_timestamp_seconds{` + sched + `})`,
				Legend: "{{signal}}",
			}},
		},
		{
			Title: "Stale signals", Unit: "short",
			Description: "1 while a signal has no read within its maximum age and declared values are in use.",
			Queries: []query{{
				Expr:   `max by (signal) (proxima_telemetry_stale{` + sched + `})`,
				Legend: "{{signal}}",
			}},
		},
		{
			Title: "Series read", Unit: "short",
			Description: "Series of the last read per signal, mapped to nodes or sites or not (unknown labels, out-of-range values).",
			Queries: []query{{
				Expr:   `max by (signal, mapped) (proxima_telemetry_series{` + sched + `})`,
				Legend: "{{signal}} mapped={{mapped}}",
			}},
		},
		{
			Title: "Query errors", Unit: "ops",
			Description: "Failed Prometheus queries per second, per signal.",
			Queries: []query{{
				Expr:   `sum by (signal) (rate(proxima_telemetry_query_errors_total{` + sched + `}[$__rate_interval]))`,
				Legend: "{{signal}}",
			}},
		},
	}},
	{Title: "Rebalancer", Panels: []panel{
		{
			Title: "Evictions", Unit: "short",
			Description: "Evictions the rebalancer asked for per 15 minutes, by reason and result.",
			Queries: []query{{
				Expr:   `sum by (reason, result) (increase(proxima_rebalancer_evictions_total{` + ctrl + `}[15m]))`,
				Legend: "{{reason}} {{result}}",
			}},
		},
		{
			Title: "Expected RTT gain of the moves", Unit: "ms",
			Description: "Sum of the expected drop of each policy's latency objective over the moves of the last hour.",
			Queries: []query{{
				Expr:   `sum by (namespace, policy) (increase(proxima_rebalancer_move_rtt_gain_milliseconds_sum{` + ctrl + `}[1h]))`,
				Legend: "{{namespace}}/{{policy}}",
			}},
		},
		{
			Title: "Pods to move and waiting", Unit: "short",
			Description: "Pods the rebalancer would move now, and pods still within their grace, dwell or cooldown, by reason.",
			Queries: []query{
				{Expr: `sum by (reason, mode) (proxima_rebalancer_candidates{` + ctrl + `})`, Legend: "candidates {{reason}} {{mode}}"},
				{Expr: `sum by (reason) (proxima_rebalancer_waiting{` + ctrl + `})`, Legend: "waiting {{reason}}"},
				{Expr: `sum(proxima_rebalancer_moving{` + ctrl + `})`, Legend: "moving"},
			},
		},
		{
			Title: "Paused", Unit: "short",
			Description: "1 while the rebalancer moves nothing, by reason.",
			Queries: []query{{
				Expr:   `max by (reason) (proxima_rebalancer_paused{` + ctrl + `})`,
				Legend: "{{reason}}",
			}},
		},
	}},
	{Title: "RTT probes", Panels: []panel{
		{
			Title: "Planned pairs", Unit: "short",
			Description: "RTT pairs the last probe plan measures and the pairs its budget left for later, per tier.",
			Queries: []query{
				{Expr: `sum by (tier) (proxima_probes_planned_pairs{` + ctrl + `})`, Legend: "planned {{tier}}"},
				{Expr: `sum by (tier) (proxima_probes_deferred_pairs{` + ctrl + `})`, Legend: "deferred {{tier}}"},
			},
		},
		{
			Title: "Probe coverage", Unit: "percentunit",
			Description: "Share of the planned pairs served a probe target; the rest, by reason, beside it.",
			Queries: []query{
				{Expr: `1 - sum(proxima_probes_unprobed_pairs{` + ctrl + `}) / sum(proxima_probes_planned_pairs{` + ctrl + `})`, Legend: "covered"},
			},
		},
		{
			Title: "Unprobed pairs", Unit: "short",
			Description: "Planned pairs served no target: no_targets (the TrafficSource has no spec.probe), no_exporter (no ready exporter pod in the site).",
			Queries: []query{{
				Expr:   `sum by (reason) (proxima_probes_unprobed_pairs{` + ctrl + `})`,
				Legend: "{{reason}}",
			}},
		},
		{
			Title: "Probe targets served", Unit: "short",
			Description: "Scrape targets the last plan served to Prometheus.",
			Queries: []query{{
				Expr:   `sum(proxima_probes_targets{` + ctrl + `})`,
				Legend: "targets",
			}},
		},
	}},
}

// buildDashboard builds the Grafana dashboard from rows, reading a
// Prometheus data source chosen by the variable datasource.
func buildDashboard() (dashboard.Dashboard, error) {
	ds := common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}
	b := dashboard.NewDashboardBuilder("Proxima").
		Uid("proxima").
		Description("Proxima's scheduler and controller: scheduling, telemetry, the rebalancer and RTT probes. Generated by hack/monitoring.").
		Tags([]string{"proxima", "kubernetes", "scheduler"}).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus"))
	for _, r := range rows {
		b = b.WithRow(dashboard.NewRowBuilder(r.Title))
		for _, p := range r.Panels {
			pb := timeseries.NewPanelBuilder().
				Title(p.Title).
				Description(p.Description).
				Unit(p.Unit).
				Datasource(ds).
				Height(8).
				Span(6)
			for _, q := range p.Queries {
				pb = pb.WithTarget(prometheus.NewDataqueryBuilder().Datasource(ds).Expr(q.Expr).LegendFormat(q.Legend))
			}
			b = b.WithPanel(pb)
		}
	}
	return b.Build()
}

func ptr[T any](v T) *T { return &v }
