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

package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// LatencyObjective is how a policy combines the round-trip times of its sources.
// +kubebuilder:validation:Enum=WeightedMean;WorstCase
type LatencyObjective string

// Latency objectives.
const (
	// WeightedMean scores a site by the weight-averaged RTT over the sources.
	WeightedMean LatencyObjective = "WeightedMean"
	// WorstCase scores a site by the largest RTT over the sources.
	WorstCase LatencyObjective = "WorstCase"
)

// EstimateHandling is how a hard RTT bound judges a round-trip time that
// nobody declared or measured and Proxima estimated (see TrafficSource).
// +kubebuilder:validation:Enum=Conservative;Central;Reject
type EstimateHandling string

// Estimate handlings.
const (
	// EstimatesConservative judges an estimate at its upper bound: the
	// estimate plus the 95th percentile of the held-out errors of the RTT
	// model fitted to the declared and live RTTs (or, with fewer than six
	// of them, the distance formula's measured error; docs/rtt.md). A site is feasible
	// only when even that bound is within maxRTTMilliseconds.
	EstimatesConservative EstimateHandling = "Conservative"
	// EstimatesCentral judges an estimate at its central value, the one
	// the score uses: more sites pass, and some of them may be slower than
	// the bound.
	EstimatesCentral EstimateHandling = "Central"
	// EstimatesReject requires a declared or live RTT from every listed
	// source: a site with any estimated RTT fails the bound.
	EstimatesReject EstimateHandling = "Reject"
)

// StaleAction is what to do with a site (or node) when an enabled live
// signal has no fresh value for it: its last read is older than the
// signal's maximum age, there has been no successful read yet, or the read
// had no usable series for it.
// +kubebuilder:validation:Enum=UseDeclared;Reject
type StaleAction string

// Stale actions.
const (
	// UseDeclared falls back to the values declared on Sites and TrafficSources.
	UseDeclared StaleAction = "UseDeclared"
	// Reject treats a site (or node) whose live value is stale or missing as
	// infeasible. A signal that is not configured expects nothing and
	// rejects nothing.
	Reject StaleAction = "Reject"
)

// PlacementPolicySpec says which pods the policy governs, where they may run
// (hard rules) and where they should run (soft objective).
// +kubebuilder:validation:XValidation:rule="!has(self.latency) || !has(self.latency.maxRTTMilliseconds) || (has(self.latency.sources) && size(self.latency.sources) > 0)",message="latency.maxRTTMilliseconds needs at least one entry in latency.sources to measure against"
// +kubebuilder:validation:XValidation:rule="!has(self.weights) || !has(self.weights.latency) || self.weights.latency == 0 || (has(self.latency) && has(self.latency.sources) && size(self.latency.sources) > 0) || (has(self.dependencies) && size(self.dependencies) > 0)",message="weights.latency is set but latency.sources and dependencies are empty: name the sources or dependencies whose round-trip time should count"
type PlacementPolicySpec struct {
	// podSelector selects the pods in the policy's namespace that it governs.
	// A pod labelled placement.proxima.dev/policy: <name> is governed by that
	// policy whatever the selectors say. When several selectors match, the
	// highest priority wins, then the first name in alphabetical order. An
	// empty selector matches every pod in the namespace; an absent one
	// matches none (only labelled pods).
	// +optional
	PodSelector *PodSelector `json:"podSelector,omitempty"`

	// priority orders policies whose podSelectors match the same pod; the
	// highest wins. Defaults to 0.
	// +optional
	// +kubebuilder:validation:Minimum=-1000
	// +kubebuilder:validation:Maximum=1000
	Priority *int32 `json:"priority,omitempty"`

	// residency restricts the countries and jurisdictions the pods may run
	// in. It is a hard rule: no latency or cost gain overrides it.
	// +optional
	Residency *Residency `json:"residency,omitempty"`

	// tiers the pods may run in; empty means any tier.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	Tiers []SiteTier `json:"tiers,omitempty"`

	// hardware lists node label requirements the pods' nodes must meet, e.g.
	// nvidia.com/gpu.present In [true].
	// +optional
	Hardware *HardwareRequirements `json:"hardware,omitempty"`

	// latency names the pods' traffic sources, the objective over them and
	// an optional hard bound.
	// +optional
	Latency *LatencyPolicy `json:"latency,omitempty"`

	// dependencies are what the pods call: other pods of the namespace,
	// selected by label or by a Service. The round-trip time from a site to a dependency
	// is the RTT to the sites where the dependency's pods run now,
	// weighted by how many run at each; it joins the latency objective
	// next to the sources (see DependencyRef), and a dependency's
	// maxRTTMilliseconds is a hard rule. A dependency with no running pod
	// yet counts for nothing until one runs: it never keeps a pod from
	// being placed.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Dependencies []DependencyRef `json:"dependencies,omitempty"`

	// spread keeps each workload of the policy (the pods of one
	// controller, such as a ReplicaSet) over several of the sites its
	// other hard rules allow, so that one site's outage does not take
	// the workload down. It is a hard rule, judged for each pod as it is
	// placed (see SpreadPolicy).
	// +optional
	Spread *SpreadPolicy `json:"spread,omitempty"`

	// cost bounds the hourly price of one pod.
	// +optional
	Cost *CostPolicy `json:"cost,omitempty"`

	// telemetry sets live-data limits and what to do when live data is stale.
	// +optional
	Telemetry *TelemetryPolicy `json:"telemetry,omitempty"`

	// weights of the soft objective among the feasible sites. Absent, they
	// are latency 1 (when latency.sources is set), cost 1 and load 1.
	// +optional
	Weights *ObjectiveWeights `json:"weights,omitempty"`

	// rebalance lets proxima-controller move the policy's running pods
	// when the world changes: it evicts a pod (through the Eviction API,
	// so PodDisruptionBudgets hold) whose site now breaks a hard rule, or
	// when a feasible site with room scores better by a threshold, and the
	// pod's controller recreates it for the scheduler to place again.
	// Absent, pods are placed once and never moved.
	// +optional
	Rebalance *RebalancePolicy `json:"rebalance,omitempty"`
}

// RebalanceMode says whether the rebalancer moves a policy's pods.
// +kubebuilder:validation:Enum=Off;DryRun;On
type RebalanceMode string

// Rebalance modes.
const (
	// RebalanceOff: the policy's pods are never moved (the default).
	RebalanceOff RebalanceMode = "Off"
	// RebalanceDryRun: the rebalancer judges the pods as On would and
	// reports the pods it would move, and why, in status.rebalance and its
	// metrics; it evicts nothing.
	RebalanceDryRun RebalanceMode = "DryRun"
	// RebalanceOn: the rebalancer evicts the pods it judges should move.
	RebalanceOn RebalanceMode = "On"
)

// Reasons of a RebalanceCandidate.
const (
	// RebalanceHardRule: the pod's site breaks one of the policy's hard
	// rules.
	RebalanceHardRule = "HardRule"
	// RebalanceBetterSite: a feasible site with room beats the pod's site
	// by the policy's thresholds.
	RebalanceBetterSite = "BetterSite"
)

// UnhealthySiteAction says what a site whose health signal reports it down
// means for the policy's pods running there.
// +kubebuilder:validation:Enum=KeepAutonomous;Keep;Move
type UnhealthySiteAction string

// Unhealthy site actions.
const (
	// UnhealthySiteKeepAutonomous: pods on nodes that keep running on their
	// own while cut off from the control plane (edge autonomy: a KubeEdge
	// edge node, an OpenYurt node with autonomy on) stay, serving the
	// site's own clients; pods on other nodes move. The default.
	UnhealthySiteKeepAutonomous UnhealthySiteAction = "KeepAutonomous"
	// UnhealthySiteKeep: no pod moves because its site is unhealthy.
	UnhealthySiteKeep UnhealthySiteAction = "Keep"
	// UnhealthySiteMove: every pod moves out of an unhealthy site after
	// the grace period.
	UnhealthySiteMove UnhealthySiteAction = "Move"
)

// RebalancePolicy says when the rebalancer moves a policy's pods. Only pods
// whose controller recreates them without loss are moved (a ReplicaSet's,
// a StatefulSet's, a Job's whose pod failure policy ignores disruptions),
// and the replacement goes wherever the scheduler places it.
// docs/rebalancer.md lists the pods that never move and the safety rules.
type RebalancePolicy struct {
	// mode: Off (default), DryRun or On. Quote "On" and "Off" in YAML,
	// which otherwise reads them as booleans.
	// +optional
	Mode RebalanceMode `json:"mode,omitempty"`

	// graceSeconds is how long a pod's site must keep breaking a hard
	// rule (residency, tier, hardware, cost, health, max RTT; or the Site
	// is gone) before the pod is moved, so that a brief outage or one bad
	// RTT reading moves nothing. Defaults to 60.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	GraceSeconds *int32 `json:"graceSeconds,omitempty"`

	// minRTTGainMilliseconds: a pod moves for a better site only when the
	// site the scheduler would choose now has a latency objective (the
	// policy's weighted mean or worst case) at least this much lower than
	// its current site's. Defaults to 5.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MinRTTGainMilliseconds *int32 `json:"minRTTGainMilliseconds,omitempty"`

	// minCostGainPercent: a pod also moves for a better site when that
	// site's hourly cost for the pod is at least this share lower than its
	// current site's. Absent, cost alone never moves a pod.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MinCostGainPercent *int32 `json:"minCostGainPercent,omitempty"`

	// dwellSeconds is how long a better site must stay better (by the
	// thresholds) before a pod moves to it. Defaults to 300.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	DwellSeconds *int32 `json:"dwellSeconds,omitempty"`

	// cooldownSeconds: a pod younger than this is not moved for a better
	// site, so the replacements a move creates do not move again before it
	// passes (no flapping between near-equal sites). Hard rules do not
	// wait for it. Defaults to 600.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=604800
	CooldownSeconds *int32 `json:"cooldownSeconds,omitempty"`

	// maxMoving is how many of the policy's pods may be moving at once: an
	// absolute number or a percentage of its running pods (rounded up, at
	// least 1). A pod is moving from its eviction until its replacement is
	// bound to a node, and the policy has at least as many pods moving as
	// it has pods waiting to be scheduled. Defaults to 1.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^[1-9][0-9]?%$|^100%$')",message="maxMoving must be a positive number or a percentage from 1% to 100%"
	MaxMoving *intstr.IntOrString `json:"maxMoving,omitempty"`

	// onUnhealthySite says what a site the health signal reports down
	// means for the policy's pods there: KeepAutonomous (default) keeps the
	// pods of nodes that serve their site's clients on their own while cut
	// off (KubeEdge edge nodes, OpenYurt autonomy) and moves the others,
	// Keep keeps every pod, Move moves every pod. New pods never go to an
	// unhealthy site whatever this says.
	// +optional
	OnUnhealthySite UnhealthySiteAction `json:"onUnhealthySite,omitempty"`
}

// Residency is the data-residency rule: a site is allowed when its country or
// one of its jurisdictions is in allowed (or allowed is absent), and neither
// its country nor any of its jurisdictions is in denied.
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:XValidation:rule="!has(self.allowed) || !has(self.denied) || !has(self.allowed.countries) || !has(self.denied.countries) || self.allowed.countries.all(c, !(c in self.denied.countries))",message="a country cannot be both allowed and denied"
// +kubebuilder:validation:XValidation:rule="!has(self.allowed) || !has(self.denied) || !has(self.allowed.jurisdictions) || !has(self.denied.jurisdictions) || self.allowed.jurisdictions.all(j, !(j in self.denied.jurisdictions))",message="a jurisdiction cannot be both allowed and denied"
type Residency struct {
	// allowed countries and jurisdictions; a site must match one of them.
	// +optional
	Allowed *Areas `json:"allowed,omitempty"`
	// denied countries and jurisdictions; a site matching any is excluded.
	// +optional
	Denied *Areas `json:"denied,omitempty"`
}

// Areas are countries and jurisdiction tags; at least one must be listed.
// +kubebuilder:validation:XValidation:rule="(has(self.countries) ? size(self.countries) : 0) + (has(self.jurisdictions) ? size(self.jurisdictions) : 0) > 0",message="list at least one country or jurisdiction"
type Areas struct {
	// countries as officially assigned ISO 3166-1 alpha-2 codes in upper
	// case, e.g. ["DE", "FR"].
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=249
	Countries []CountryCode `json:"countries,omitempty"`
	// jurisdictions as tags that Sites declare, e.g. ["EU"].
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`
	Jurisdictions []string `json:"jurisdictions,omitempty"`
}

// HardwareRequirements are requirements on node labels, ANDed.
type HardwareRequirements struct {
	// nodeSelector requirements the node's labels must all meet.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	NodeSelector []NodeRequirement `json:"nodeSelector"`
}

// LatencyPolicy is the latency part of a policy.
type LatencyPolicy struct {
	// sources are the TrafficSources whose round-trip times count, with weights.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Sources []SourceWeight `json:"sources,omitempty"`

	// objective combines the sources' RTTs: WeightedMean (default) or WorstCase.
	// +optional
	// +kubebuilder:default=WeightedMean
	Objective LatencyObjective `json:"objective,omitempty"`

	// maxRTTMilliseconds is a hard bound: a site is feasible only when the
	// RTT from every listed source is at most this.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxRTTMilliseconds *int32 `json:"maxRTTMilliseconds,omitempty"`

	// estimates says how maxRTTMilliseconds judges an RTT that is
	// estimated rather than declared or live: Conservative (default) at
	// its upper bound (the estimate plus the 95th percentile of the
	// model's held-out errors; docs/rtt.md), Central at the estimate itself,
	// Reject not at all (the site fails the bound). Declared and live RTTs
	// are judged as they are; the score always uses the central estimate.
	// +optional
	// +kubebuilder:default=Conservative
	Estimates EstimateHandling `json:"estimates,omitempty"`
}

// SourceWeight names a TrafficSource and its weight in the objective.
type SourceWeight struct {
	// name of a TrafficSource.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// weight of the source, from 1 to 1000; defaults to the source's demand
	// when absent.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Weight *int32 `json:"weight,omitempty"`

	// traffic one pod exchanges with the source's clients, which adds
	// egress to the pod's hourly cost (see Traffic).
	// +optional
	Traffic *Traffic `json:"traffic,omitempty"`
}

// Traffic is what one pod exchanges with a source's clients or a
// dependency, in GiB per hour each way. Traffic leaving a Site is priced
// at that Site's pricing.egressGiB and joins the pod's hourly cost, which
// cost.maxHourly bounds and the cost objective weighs:
//
//   - sent by the pod leaves the pod's site, except the share sent to a
//     dependency's pods in that same site;
//   - received from a dependency leaves the sites where its pods run,
//     each weighted by the pods there, except the pod's own site;
//   - received from a source's clients leaves no Site (they are outside
//     the cluster) and costs nothing here.
//
// A site without egressGiB sends for free. Traffic to or from a dependency
// with a pod on a node in no known Site has an unknown cost, which a cost
// cap rejects everywhere (fail closed). A negative value makes the policy
// invalid: its Ready condition says which (InvalidRule), and its pods are
// not placed. (Admission checks the quantity's format only: a rule on
// every entry of two lists would exceed the CRD's validation budget.)
// +kubebuilder:validation:MinProperties=1
type Traffic struct {
	// sentGiBPerHour is what one pod sends per hour, e.g. "0.5".
	// +optional
	SentGiBPerHour *resource.Quantity `json:"sentGiBPerHour,omitempty"`

	// receivedGiBPerHour is what one pod receives per hour, e.g. "20".
	// +optional
	ReceivedGiBPerHour *resource.Quantity `json:"receivedGiBPerHour,omitempty"`
}

// DependencyRef is something a policy's pods call, and how much its
// round-trip time counts. The latency objective has one weighting rule
// for sources and dependencies: WeightedMean averages the RTT of every
// source and every placed dependency with their weights (a source's
// defaults to its demand, a dependency's to 1); WorstCase takes the
// largest of them.
// +kubebuilder:validation:XValidation:rule="has(self.podSelector) != has(self.service)",message="set exactly one of podSelector and service"
type DependencyRef struct {
	// name identifies the dependency in explanations and the placement
	// record, e.g. "orders-db".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// podSelector selects the dependency's pods in the policy's namespace.
	// Bound pods count; a pod being scheduled never counts as its own
	// dependency. One bound to a node in no known Site makes the RTT to
	// the dependency unknown, which its maxRTTMilliseconds rejects
	// everywhere (fail closed). One of podSelector and service.
	// +optional
	PodSelector *PodSelector `json:"podSelector,omitempty"`

	// service names a Service in the policy's namespace: the dependency's
	// pods are those its spec.selector selects, as podSelector would. A
	// Service that does not exist (yet) places nothing, like a selector
	// that matches no running pod; one without a selector (ExternalName,
	// or endpoints kept by hand) stands for endpoints Proxima cannot
	// locate, so the RTT to it is unknown and its maxRTTMilliseconds
	// rejects every site (fail closed). One of podSelector and service.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Service *string `json:"service,omitempty"`

	// weight of the dependency in the latency objective, from 1 to 1000;
	// defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Weight *int32 `json:"weight,omitempty"`

	// maxRTTMilliseconds is a hard bound: a site is feasible only when its
	// RTT to the dependency (weighted over the dependency's sites) is at
	// most this. Estimated site-to-site RTTs are judged as
	// latency.estimates says (Conservative by default: at their upper
	// bound). A dependency with no running pod bounds nothing.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxRTTMilliseconds *int32 `json:"maxRTTMilliseconds,omitempty"`

	// traffic one pod exchanges with the dependency, which adds egress to
	// the pod's hourly cost (see Traffic): processing a camera stream next
	// to the pods that ingest it sends nothing over a paid link.
	// +optional
	Traffic *Traffic `json:"traffic,omitempty"`
}

// SpreadPolicy spreads a workload's pods over sites. A workload is the
// policy's pods with one controller (the same controller owner reference:
// a ReplicaSet, a StatefulSet, a Job), or the policy's pods without one.
// Its pods are counted per site over the feasible sites only: the sites
// the policy's other hard rules allow for the pod now. A site the rules
// exclude (another country, an unhealthy site, one over the max RTT)
// neither counts nor blocks, and pods that are terminating do not count.
// Each rule below excludes sites for the next pod; none ever keeps a pod
// from a feasible site with room when every other feasible site is full
// or excluded by its other rules, except maxPerSite, which is a cap.
// The rebalancer never moves a pod because of spread, and the site it
// moves a pod to is one spread allows.
// +kubebuilder:validation:MinProperties=1
type SpreadPolicy struct {
	// minSites: while the workload runs in fewer feasible sites than
	// this, its next pod goes to a feasible site where it has no pod yet,
	// if one has room for it. Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinSites *int32 `json:"minSites,omitempty"`

	// maxSkew is the most that the workload's pod count at a site it runs
	// in may exceed its count at the least-used feasible site it runs in
	// that has room, once the next pod is placed: 1 keeps the sites it
	// uses within one pod of each other. Sites where it has no pod are
	// not counted, so a workload is not pulled into every feasible site.
	// Defaults to 1 unless maxPerSite is set.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxSkew *int32 `json:"maxSkew,omitempty"`

	// maxPerSite caps the workload's pods at one site: a pod beyond it
	// stays pending when every feasible site holds this many.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxPerSite *int32 `json:"maxPerSite,omitempty"`
}

// CostPolicy bounds a pod's hourly price.
type CostPolicy struct {
	// maxHourly is the most one pod may cost per hour at a site's prices,
	// egress of its declared traffic included (see Traffic), e.g. "0.50". Sites above it are infeasible. A pod that requests no CPU,
	// memory or GPUs has no cost to bound and is not scheduled.
	// +required
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) > 0",message="cost.maxHourly must be positive"
	MaxHourly resource.Quantity `json:"maxHourly"`
}

// TelemetryPolicy sets live-data limits and freshness rules.
type TelemetryPolicy struct {
	// maxNodeUtilizationPercent keeps pods off nodes whose live CPU
	// utilization is above it.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxNodeUtilizationPercent *int32 `json:"maxNodeUtilizationPercent,omitempty"`

	// onStale says, per signal, what to do when live data is stale or
	// missing (see StaleAction).
	// +optional
	OnStale *StaleActions `json:"onStale,omitempty"`
}

// StaleActions is a StaleAction per live signal; each defaults to UseDeclared.
type StaleActions struct {
	// rtt: live round-trip times.
	// +optional
	// +kubebuilder:default=UseDeclared
	RTT StaleAction `json:"rtt,omitempty"`
	// price: live site prices.
	// +optional
	// +kubebuilder:default=UseDeclared
	Price StaleAction `json:"price,omitempty"`
	// health: live site health.
	// +optional
	// +kubebuilder:default=UseDeclared
	Health StaleAction `json:"health,omitempty"`
	// nodeUtilization: live node CPU utilization (the EdgePlacement
	// telemetry signal of the same name, which
	// telemetry.maxNodeUtilizationPercent bounds). Absent: nodeLoad, else
	// UseDeclared.
	// +optional
	NodeUtilization StaleAction `json:"nodeUtilization,omitempty"`
	// nodeLoad is the deprecated spelling of nodeUtilization, read only
	// when nodeUtilization is absent; proxima-controller notes its use in
	// the Ready condition's message. It will be removed with v1alpha1.
	// +optional
	NodeLoad StaleAction `json:"nodeLoad,omitempty"`
}

// NodeUtilizationAction is the action for the node utilization signal:
// nodeUtilization, else the deprecated nodeLoad, else UseDeclared.
func (s *StaleActions) NodeUtilizationAction() StaleAction {
	switch {
	case s == nil:
		return UseDeclared
	case s.NodeUtilization != "":
		return s.NodeUtilization
	case s.NodeLoad != "":
		return s.NodeLoad
	}
	return UseDeclared
}

// ObjectiveWeights weigh latency, cost and node load in the soft objective,
// each from 0 to 100 (an absent weight is 0); at least one must be positive.
// Only their ratios matter.
// +kubebuilder:validation:XValidation:rule="(has(self.latency) ? self.latency : 0) + (has(self.cost) ? self.cost : 0) + (has(self.load) ? self.load : 0) > 0",message="at least one of weights.latency, weights.cost and weights.load must be positive"
type ObjectiveWeights struct {
	// latency weight.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Latency *int32 `json:"latency,omitempty"`
	// cost weight.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Cost *int32 `json:"cost,omitempty"`
	// load weight.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Load *int32 `json:"load,omitempty"`
}

// PlacementPolicyStatus is what the controller observed of a policy.
type PlacementPolicyStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// feasibleSites is how many sites the hard rules leave (before node
	// capacity, hardware and the dependencies' bounds, which depend on
	// where other pods run, are considered).
	// +optional
	FeasibleSites int32 `json:"feasibleSites,omitempty"`
	// sitesWithoutNodes names the feasible sites that no node belongs to
	// (no node carries the site label with their name), sorted, at most 16:
	// no pod can land there until a node is labelled. A site that every
	// node misses is usually a forgotten or mistyped label.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	SitesWithoutNodes []string `json:"sitesWithoutNodes,omitempty"`
	// matchedPods is how many unfinished pods the policy governs, resolved
	// as the scheduler resolves them (the pod's placement.proxima.dev/policy
	// label, else the first policy of its namespace whose podSelector
	// matches), whichever scheduler they name.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MatchedPods int32 `json:"matchedPods,omitempty"`
	// otherSchedulerPods is how many of the matched pods name a scheduler
	// other than Proxima in spec.schedulerName: that scheduler places them,
	// and the policy's hard rules (residency among them) do not hold for
	// them.
	// +optional
	// +kubebuilder:validation:Minimum=0
	OtherSchedulerPods int32 `json:"otherSchedulerPods,omitempty"`

	// rebalance is what the rebalancer judged of the policy's pods, when
	// spec.rebalance.mode is DryRun or On.
	// +optional
	Rebalance *RebalanceStatus `json:"rebalance,omitempty"`

	// conditions of the policy; Ready is False when it names an unknown
	// source or its hard rules leave no site.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RebalanceStatus is the rebalancer's last judgement of a policy's pods.
type RebalanceStatus struct {
	// candidates is how many of the policy's pods should move now: their
	// grace or dwell time has passed (and, for a better site, their
	// cooldown). In DryRun they stay; in On they are evicted as maxMoving,
	// PodDisruptionBudgets and the rebalancer's rate limit allow.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Candidates int32 `json:"candidates,omitempty"`
	// waiting is how many more pods break a hard rule or have a better
	// site but have not yet waited out their grace, dwell or cooldown, or
	// are held where they are by a do-no-harm rule (see held).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Waiting int32 `json:"waiting,omitempty"`
	// held are the first pods by name, at most 16, that would move but
	// that a do-no-harm rule keeps where they are (docs/rebalancer.md).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Held []RebalanceHeld `json:"held,omitempty"`
	// moving is how many evicted pods have no bound replacement yet, or
	// how many of the policy's pods wait to be scheduled, if more.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Moving int32 `json:"moving,omitempty"`
	// pods are the first candidates by namespace and name, at most 16.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Pods []RebalanceCandidate `json:"pods,omitempty"`
	// message says why nothing moves when the rebalancer has stopped
	// moving pods (telemetry stale, API errors), else is empty.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// RebalanceHeld is a pod that would move but that a do-no-harm rule keeps
// where it is.
type RebalanceHeld struct {
	// pod is the pod's name (in the policy's namespace).
	// +required
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`
	// fromSite is the site of the pod's node.
	// +required
	// +kubebuilder:validation:MaxLength=253
	FromSite string `json:"fromSite"`
	// rule is the do-no-harm rule that keeps it: UnprovenBreach,
	// NoFeasibleRoom, VolumeBound, AutonomousSite or ReplacementMisplaced.
	// +required
	// +kubebuilder:validation:Enum=UnprovenBreach;NoFeasibleRoom;VolumeBound;AutonomousSite;ReplacementMisplaced
	Rule string `json:"rule"`
	// message says why it would move and why it stays.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}

// RebalanceCandidate is a pod the rebalancer would move, or is moving.
type RebalanceCandidate struct {
	// pod is the pod's name (in the policy's namespace).
	// +required
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`
	// fromSite is the site of the pod's node.
	// +required
	// +kubebuilder:validation:MaxLength=253
	FromSite string `json:"fromSite"`
	// toSite is where the scheduler would place the pod now.
	// +required
	// +kubebuilder:validation:MaxLength=253
	ToSite string `json:"toSite"`
	// reason is HardRule (fromSite breaks a hard rule) or BetterSite.
	// +required
	// +kubebuilder:validation:Enum=HardRule;BetterSite
	Reason string `json:"reason"`
	// message says which rule fromSite breaks, or what toSite gains.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
	// rttGainMilliseconds is the expected drop of the policy's latency
	// objective, rounded (negative when the move trades RTT for cost or a
	// hard rule).
	// +optional
	RTTGainMilliseconds *int32 `json:"rttGainMilliseconds,omitempty"`
}

// PlacementPolicy governs where a set of pods may and should run.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=pp,categories=proxima
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Sites",type=integer,JSONPath=`.status.feasibleSites`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`,priority=1
// +kubebuilder:printcolumn:name="Max RTT",type=integer,JSONPath=`.spec.latency.maxRTTMilliseconds`,priority=1
// +kubebuilder:printcolumn:name="Max/h",type=string,JSONPath=`.spec.cost.maxHourly`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Pods",type=integer,JSONPath=`.status.matchedPods`,priority=1
// +kubebuilder:printcolumn:name="Other Scheduler",type=integer,JSONPath=`.status.otherSchedulerPods`,priority=1
// +kubebuilder:printcolumn:name="Rebalance",type=string,JSONPath=`.spec.rebalance.mode`,priority=1
// +kubebuilder:printcolumn:name="To Move",type=integer,JSONPath=`.status.rebalance.candidates`,priority=1
type PlacementPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the policy.
	// +required
	Spec PlacementPolicySpec `json:"spec"`

	// status is observed by the controller.
	// +optional
	Status PlacementPolicyStatus `json:"status,omitempty"`
}

// PlacementPolicyList is a list of PlacementPolicies.
// +kubebuilder:object:root=true
type PlacementPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PlacementPolicy `json:"items"`
}
