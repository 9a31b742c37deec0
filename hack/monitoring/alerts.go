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
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The jobs Prometheus gives the two components' targets: prometheus-operator
// names a ServiceMonitor's job after the Service it scrapes, and so does a
// plain kubernetes_sd scrape job relabelled as in docs/monitoring.md.
const (
	schedulerJob  = "proxima-scheduler-metrics"
	controllerJob = "proxima-controller"
)

// alert is one alerting rule; Runbook is the heading of its section in
// docs/troubleshooting.md, whose anchor the runbook_url names.
type alert struct {
	Name, Expr, For, Severity, Summary, Description string
}

// alerts are the rules an operator acts on. Each has a runbook in
// docs/troubleshooting.md under a heading named after the alert.
var alerts = []alert{
	{
		Name: "ProximaSchedulerNoLeader",
		Expr: fmt.Sprintf(`max(leader_election_master_status{job=%[1]q}) < 1 or absent(leader_election_master_status{job=%[1]q})`, schedulerJob),
		For:  "5m", Severity: "critical",
		Summary:     "No proxima-scheduler replica leads: pods with schedulerName proxima-scheduler are not scheduled.",
		Description: "No proxima-scheduler replica has held its Lease (or none is scraped) for 5 minutes; new and evicted pods of Proxima's policies stay Pending.",
	},
	{
		Name: "ProximaControllerNoLeader",
		Expr: fmt.Sprintf(`max(leader_election_master_status{job=%[1]q}) < 1 or absent(leader_election_master_status{job=%[1]q})`, controllerJob),
		For:  "10m", Severity: "warning",
		Summary:     "No proxima-controller replica leads: policy status, the rebalancer, the policy gate and the RTT probe plan have stopped.",
		Description: "No proxima-controller replica has held its Lease (or none is scraped) for 10 minutes. Scheduling goes on, but pods gated by the policy gate stay gated, nothing is rebalanced and the blackbox exporters keep the last probe targets.",
	},
	{
		Name: "ProximaTelemetryStale",
		Expr: fmt.Sprintf(`max by (signal) (proxima_telemetry_stale{job=%q}) == 1`, schedulerJob),
		For:  "10m", Severity: "warning",
		Summary:     "Proxima's live {{ $labels.signal }} telemetry is stale: placement uses declared values.",
		Description: "proxima-scheduler has had no fresh read of the {{ $labels.signal }} signal from Prometheus for 10 minutes. Pods are placed on declared and estimated values (policies with onStale: Block are not placed), and the rebalancer moves no pod for it.",
	},
	{
		Name: "ProximaRebalancerPaused",
		Expr: fmt.Sprintf(`max by (reason) (proxima_rebalancer_paused{job=%q}) == 1`, controllerJob),
		For:  "15m", Severity: "warning",
		Summary:     "The rebalancer has moved nothing for 15 minutes ({{ $labels.reason }}).",
		Description: "proxima-controller's rebalancer is paused because of {{ $labels.reason }} (telemetry: live telemetry is stale; apiserver: its last API request failed; fit: the RTT model is being refitted). Pods that break a hard rule stay where they are until it resumes.",
	},
	{
		Name: "ProximaPodsPending",
		Expr: fmt.Sprintf(`sum by (profile) (scheduler_unschedulable_pods{job=%q, plugin="EdgePlacement"}) > 0`, schedulerJob),
		For:  "15m", Severity: "warning",
		Summary:     "{{ $value }} pod(s) of profile {{ $labels.profile }} have been Pending for a Proxima rule for 15 minutes.",
		Description: "EdgePlacement is the plugin that last rejected {{ $value }} pod(s) of profile {{ $labels.profile }}, continuously for 15 minutes: no site satisfies their policy's hard rules, the policy cannot be evaluated, or the sites that do have no room.",
	},
	{
		Name: "ProximaProbeCoverageLow",
		Expr: fmt.Sprintf(`sum(proxima_probes_unprobed_pairs{job=%[1]q}) / sum(proxima_probes_planned_pairs{job=%[1]q}) > 0.1`, controllerJob),
		For:  "30m", Severity: "warning",
		Summary:     "{{ $value | humanizePercentage }} of the planned RTT probe pairs have no probe target.",
		Description: "More than 10% of the RTT pairs the probe plan wants measured ((source, site) pairs, and pairs of sites for dependencies) have been served no target for 30 minutes: a TrafficSource without spec.probe, or a site without a ready exporter pod (either site of a pair of sites). Their RTTs stay estimated, and hard RTT bounds judged on estimates keep pods Pending or on worse sites.",
	},
	{
		Name: "ProximaRebalancerEvictionErrors",
		Expr: fmt.Sprintf(`sum by (namespace, policy) (increase(proxima_rebalancer_evictions_total{job=%q, result="error"}[15m])) > 0`, controllerJob),
		For:  "0m", Severity: "warning",
		Summary:     "The rebalancer's evictions for policy {{ $labels.namespace }}/{{ $labels.policy }} fail.",
		Description: "The API server refused {{ $value | humanize }} eviction(s) the rebalancer asked for in the last 15 minutes with an error other than a PodDisruptionBudget's refusal.",
	},
}

// runbookAnchor is the anchor GitHub gives the heading "Alert NAME".
func runbookAnchor(name string) string { return "alert-" + strings.ToLower(name) }

// ruleGroups are the alerts as prometheus-operator's rule groups (the spec
// of the PrometheusRule, and a Prometheus rule file as they are).
func ruleGroups(version string) []monitoringv1.RuleGroup {
	var rules []monitoringv1.Rule
	for _, a := range alerts {
		d := monitoringv1.Duration(a.For)
		rules = append(rules, monitoringv1.Rule{
			Alert:  a.Name,
			Expr:   intstr.FromString(a.Expr),
			For:    &d,
			Labels: map[string]string{"severity": a.Severity},
			Annotations: map[string]string{
				"summary":     a.Summary,
				"description": a.Description,
				"runbook_url": fmt.Sprintf("https://github.com/proxima-sched/proxima/blob/%s/docs/troubleshooting.md#%s", version, runbookAnchor(a.Name)),
			},
		})
	}
	return []monitoringv1.RuleGroup{{Name: "proxima", Rules: rules}}
}
