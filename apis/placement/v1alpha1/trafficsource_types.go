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

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// MaxRTTMilliseconds bounds every round-trip time in the API: ten seconds is
// far beyond any terrestrial or satellite path, so a larger value is a typo.
const MaxRTTMilliseconds = 10000

// TrafficSourceSpec declares where requests come from and how far each site is.
// +kubebuilder:validation:XValidation:rule="has(self.location) || (has(self.rtts) && size(self.rtts) > 0)",message="a TrafficSource needs a location (to estimate round-trip times) or at least one measured rtt"
type TrafficSourceSpec struct {
	// location of the clients, used to estimate the round-trip time to sites
	// that rtts does not list.
	// +optional
	Location *GeoLocation `json:"location,omitempty"`

	// demand is the relative weight of this source's traffic, used when a
	// policy weighs several sources and by reports. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Demand *int32 `json:"demand,omitempty"`

	// rtts are measured round-trip times from this source to sites. Live
	// telemetry overrides them while it is fresh.
	// +optional
	// +listType=map
	// +listMapKey=site
	// +kubebuilder:validation:MaxItems=2000
	RTTs []SiteRTT `json:"rtts,omitempty"`

	// probe names the endpoints that stand for this source's clients, which
	// the fleet's blackbox exporters probe from the sites proxima-controller
	// plans (docs/rtt.md). Without it no pair of this source is probed.
	// +optional
	Probe *SourceProbe `json:"probe,omitempty"`
}

// ProbeModule is how an endpoint is probed.
// +kubebuilder:validation:Enum=TCP;ICMP
type ProbeModule string

// Probe modules.
const (
	// ProbeTCP times one TCP handshake to host:port (one round trip).
	ProbeTCP ProbeModule = "TCP"
	// ProbeICMP times an ICMP echo to the host (the exporter needs
	// NET_RAW).
	ProbeICMP ProbeModule = "ICMP"
)

// SourceProbe is how to measure round-trip times to a source's clients.
// +kubebuilder:validation:XValidation:rule="self.module != 'TCP' || self.targets.all(t, t.matches(':[0-9]{1,5}$'))",message="TCP probe targets need a port: host:port"
// +kubebuilder:validation:XValidation:rule="self.module != 'ICMP' || self.targets.all(t, !t.matches(':[0-9]{1,5}$'))",message="ICMP probe targets are hosts without a port"
type SourceProbe struct {
	// targets are hosts (ICMP) or host:port (TCP) in or near the source's
	// clients: an anycast front door, a store's router, a regional
	// resolver. An IP address avoids timing a DNS lookup. Each planned
	// (source, site) pair probes every target; the pair's RTT is the
	// largest.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=261
	// +kubebuilder:validation:items:Pattern=`^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:[0-9]{1,5})?$`
	Targets []string `json:"targets"`

	// module is how each target is probed: TCP (one handshake; the
	// default) or ICMP (echo).
	// +optional
	// +kubebuilder:default=TCP
	Module ProbeModule `json:"module,omitempty"`
}

// SiteRTT is a measured round-trip time to one site.
type SiteRTT struct {
	// site is the name of a Site.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Site string `json:"site"`

	// milliseconds is the round-trip time, from 0 to 10000.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Milliseconds int32 `json:"milliseconds"`
}

// TrafficSourceStatus is what the controller observed of a source.
type TrafficSourceStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions of the source; Ready is False while rtts name a Site that
	// does not exist.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TrafficSource is where a workload's requests come from: a city, a store
// fleet, a radio region, or the site of a dependency, with measured
// round-trip times to sites.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ts,categories=proxima
// +kubebuilder:printcolumn:name="Demand",type=integer,JSONPath=`.spec.demand`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Latitude",type=string,JSONPath=`.spec.location.latitude`,priority=1
// +kubebuilder:printcolumn:name="Longitude",type=string,JSONPath=`.spec.location.longitude`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
type TrafficSource struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the source.
	// +required
	Spec TrafficSourceSpec `json:"spec"`

	// status is observed by the controller.
	// +optional
	Status TrafficSourceStatus `json:"status,omitempty"`
}

// TrafficSourceList is a list of TrafficSources.
// +kubebuilder:object:root=true
type TrafficSourceList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TrafficSource `json:"items"`
}
