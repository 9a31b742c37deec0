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

package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EdgePlacementArgs configures the EdgePlacement plugin.
//
// +kubebuilder:object:root=true
// +kubebuilder:object:generate=false
type EdgePlacementArgs struct {
	metav1.TypeMeta `json:",inline"`

	// minCandidateNodes is how many nodes with room for the pod PreFilter
	// keeps, taking feasible sites best first (the best site whole). Default
	// 100: the framework examines every candidate with room whatever
	// percentageOfNodesToScore says; above 100 it may sample across sites.
	// +optional
	MinCandidateNodes *int32 `json:"minCandidateNodes,omitempty"`

	// cacheSyncTimeoutSeconds bounds how long the plugin waits at start-up
	// for its Site, TrafficSource and PlacementPolicy caches. Default 60.
	// +optional
	CacheSyncTimeoutSeconds *int32 `json:"cacheSyncTimeoutSeconds,omitempty"`

	// placedEvents records a Placed Event on each pod with a policy, saying
	// where and why, in addition to the placement annotation
	// (placement.proxima.dev/placement) EdgePlacement's Bind writes with the
	// binding at no extra cost. Each event is one more API write per pod, which
	// costs scheduling throughput. Default false.
	// +optional
	PlacedEvents *bool `json:"placedEvents,omitempty"`

	// gpuResources are the extended resources that a pod's hourly cost (a
	// PlacementPolicy's cost.maxHourly and cost objective) prices as GPUs, at
	// a Site's pricing.gpuHour. An entry is an extended resource name, or a
	// prefix of such names ending in "*": "nvidia.com/mig-*" covers every
	// NVIDIA MIG profile. Each unit a pod requests of any of them counts as
	// one GPU, a MIG slice too (the plugin README says why). Default:
	// DefaultGPUResources. Setting it replaces that list; it must not be
	// empty.
	// +optional
	GPUResources []string `json:"gpuResources,omitempty"`

	// acceptLegacySiteLabel also puts a node without the site label
	// node-restriction.kubernetes.io/placement.proxima.dev-site in the site
	// named by its legacy label placement.proxima.dev/site (the restricted
	// label wins when both are set). A kubelet can set the legacy label on
	// its own Node, and so move it into any site: turn this on only while
	// relabelling nodes on upgrade, then off. Default false.
	// +optional
	AcceptLegacySiteLabel *bool `json:"acceptLegacySiteLabel,omitempty"`

	// telemetry reads live signals from Prometheus; absent: declared values
	// only. Every field has a working default.
	// +optional
	Telemetry *TelemetryArgs `json:"telemetry,omitempty"`
}

// TelemetryArgs configure the live signals.
type TelemetryArgs struct {
	// address of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.
	Address string `json:"address"`
	// refreshSeconds between reads. Default 15.
	// +optional
	RefreshSeconds *int32 `json:"refreshSeconds,omitempty"`
	// queryTimeoutSeconds bounds each query. Default 5.
	// +optional
	QueryTimeoutSeconds *int32 `json:"queryTimeoutSeconds,omitempty"`
	// caFile, certFile, keyFile and bearerTokenFile are paths to mounted
	// files (a Secret); the token file is re-read on every request.
	// +optional
	CAFile string `json:"caFile,omitempty"`
	// +optional
	CertFile string `json:"certFile,omitempty"`
	// +optional
	KeyFile string `json:"keyFile,omitempty"`
	// +optional
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`

	// nodeUtilization: CPU utilization (0..1) per node.
	// +optional
	NodeUtilization *SignalArgs `json:"nodeUtilization,omitempty"`
	// rtt: RTT in seconds per (source, site).
	// +optional
	RTT *SignalArgs `json:"rtt,omitempty"`
	// price: a multiplier on each site's declared prices.
	// +optional
	Price *SignalArgs `json:"price,omitempty"`
	// health: 0 when a site is down.
	// +optional
	Health *SignalArgs `json:"health,omitempty"`
	// siteRTT: RTT in seconds between two Sites, which a policy's
	// dependencies are judged by; it overrides the RTTs Sites declare
	// while fresh. Disabled unless query is set, e.g.
	// query: proxima_site_rtt_seconds, the series the shipped probe
	// chain records; while it is read, proxima-controller's probe plan
	// asks for the pairs of sites dependencies need.
	// +optional
	SiteRTT *SignalArgs `json:"siteRTT,omitempty"`
}

// SignalArgs configure one signal.
type SignalArgs struct {
	// query is an instant PromQL query; "" disables the signal; absent: the default.
	// +optional
	Query *string `json:"query,omitempty"`
	// maxAgeSeconds after the last successful read, the signal is stale.
	// Default: four reads, 4 × refreshSeconds (60 with the default refresh);
	// for price, which changes slowly, 80 × refreshSeconds (1200).
	// +optional
	MaxAgeSeconds *int32 `json:"maxAgeSeconds,omitempty"`
	// nodeLabel carries the Node name (node utilization). Default "instance".
	// +optional
	NodeLabel *string `json:"nodeLabel,omitempty"`
	// sourceLabel carries the TrafficSource name (RTT). Default "source".
	// +optional
	SourceLabel *string `json:"sourceLabel,omitempty"`
	// siteLabel carries the Site name (RTT, price, health). Default "site".
	// +optional
	SiteLabel *string `json:"siteLabel,omitempty"`
	// fromSiteLabel and toSiteLabel carry the two Sites of a site RTT
	// (siteRTT). Default "from_site" and "to_site".
	// +optional
	FromSiteLabel *string `json:"fromSiteLabel,omitempty"`
	// +optional
	ToSiteLabel *string `json:"toSiteLabel,omitempty"`
}
