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

package config

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EdgePlacementArgs configures the EdgePlacement plugin.
type EdgePlacementArgs struct {
	metav1.TypeMeta

	// MinCandidateNodes is how many nodes with room for the pod PreFilter
	// keeps, taking feasible sites best first (the best site whole). At most
	// 100 means the framework examines every candidate with room whatever
	// percentageOfNodesToScore says (it never stops before 100 feasible
	// nodes); above 100 it may sample across sites.
	MinCandidateNodes int32

	// CacheSyncTimeoutSeconds bounds how long the plugin waits at start-up
	// for its Site, TrafficSource and PlacementPolicy caches.
	CacheSyncTimeoutSeconds int32

	// PlacedEvents records a Placed Event on each pod with a policy, saying
	// where and why, in addition to the placement annotation EdgePlacement's
	// Bind writes with the binding. Each event is one more API write per pod.
	PlacedEvents bool

	// GPUResources are the extended resources a pod's hourly cost prices as
	// GPUs: exact names, and prefixes ending in "*". Each unit requested of
	// any of them counts as one GPU.
	GPUResources []string

	// AcceptLegacySiteLabel lets a node without the site label name its
	// site with the legacy one, which the node itself can set: for the time
	// it takes to relabel nodes on upgrade.
	AcceptLegacySiteLabel bool

	// Telemetry reads live signals from Prometheus; nil: declared values only.
	Telemetry *TelemetryArgs
}

// TelemetryArgs configure the live signals.
type TelemetryArgs struct {
	// Address of the Prometheus HTTP API, e.g. http://prometheus:9090.
	Address string
	// RefreshSeconds between reads; QueryTimeoutSeconds per query.
	RefreshSeconds, QueryTimeoutSeconds int32
	// Files holding the CA bundle, client certificate and key, and bearer
	// token; never the secrets themselves.
	CAFile, CertFile, KeyFile, BearerTokenFile string

	NodeUtilization, RTT, Price, Health *SignalArgs
	// SiteRTT is the RTT between two Sites; disabled unless its query is
	// set.
	SiteRTT *SignalArgs
}

// SignalArgs configure one signal.
type SignalArgs struct {
	// Query is an instant PromQL query; empty disables the signal.
	Query string
	// MaxAgeSeconds after the last successful read, the signal is stale.
	MaxAgeSeconds int32
	// NodeLabel, SourceLabel and SiteLabel name the labels that carry the
	// Node, TrafficSource and Site names.
	NodeLabel, SourceLabel, SiteLabel string
	// FromSiteLabel and ToSiteLabel name the labels that carry the two
	// Sites of a site RTT.
	FromSiteLabel, ToSiteLabel string
}
