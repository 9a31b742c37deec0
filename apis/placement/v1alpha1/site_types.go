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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SiteTier is where a site stands on the cloud-to-edge continuum.
// +kubebuilder:validation:Enum=Cloud;Regional;Edge;Device
type SiteTier string

// Site tiers.
const (
	TierCloud    SiteTier = "Cloud"
	TierRegional SiteTier = "Regional"
	TierEdge     SiteTier = "Edge"
	TierDevice   SiteTier = "Device"
)

// SiteSpec declares where a site is, which law applies there and what it costs.
type SiteSpec struct {
	// tier of the site: Cloud, Regional, Edge or Device.
	// +required
	Tier SiteTier `json:"tier"`

	// country where the site's machines are, as an officially assigned ISO
	// 3166-1 alpha-2 code in upper case, e.g. "DE". Data-residency rules are
	// evaluated against it.
	// +required
	Country CountryCode `json:"country"`

	// jurisdictions are tags for the legal areas the site is in besides its
	// country, e.g. ["EU", "EEA"]. Residency rules can allow or deny them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`
	Jurisdictions []string `json:"jurisdictions,omitempty"`

	// location of the site, used to estimate round-trip times that no
	// TrafficSource has measured.
	// +required
	Location GeoLocation `json:"location"`

	// rtts are measured round-trip times from this site to other sites,
	// which dependencies (PlacementPolicy spec.dependencies) are judged
	// by. A pair may be declared on either of its sites; declared on both,
	// the larger counts. Pairs nobody declared are estimated from the
	// sites' locations (docs/rtt.md).
	// +optional
	// +listType=map
	// +listMapKey=site
	// +kubebuilder:validation:MaxItems=2000
	RTTs []SiteRTT `json:"rtts,omitempty"`
	// pricing of capacity at the site. A site without pricing costs nothing
	// to the cost objective, and a policy with cost.maxHourly accepts it.
	// +optional
	Pricing *SitePricing `json:"pricing,omitempty"`
}

// SitePricing is the hourly price of capacity at a site, in the cluster's
// accounting currency. A pod's hourly cost at a site is its CPU request in
// cores × cpuCoreHour + its memory request in GiB × memoryGiBHour + its GPUs
// × gpuHour, where its GPUs are the units it requests of the resources the
// scheduler prices as GPUs (nvidia.com/gpu, amd.com/gpu, gpu.intel.com/i915,
// gpu.intel.com/xe and each NVIDIA MIG slice, nvidia.com/mig-*, by default),
// plus the egress of the traffic its policy declares (egressGiB).
// +kubebuilder:validation:MinProperties=1
type SitePricing struct {
	// cpuCoreHour is the price of one CPU core for one hour, e.g. "0.031".
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) >= 0",message="cpuCoreHour must not be negative"
	CPUCoreHour *resource.Quantity `json:"cpuCoreHour,omitempty"`

	// memoryGiBHour is the price of one GiB of memory for one hour.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) >= 0",message="memoryGiBHour must not be negative"
	MemoryGiBHour *resource.Quantity `json:"memoryGiBHour,omitempty"`

	// gpuHour is the price of one GPU for one hour; a MIG slice is priced as
	// one GPU.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) >= 0",message="gpuHour must not be negative"
	GPUHour *resource.Quantity `json:"gpuHour,omitempty"`

	// egressGiB is the price of one GiB of traffic leaving the site. It
	// prices the traffic that policies declare with their sources and
	// dependencies (PlacementPolicy Traffic), which joins their pods'
	// hourly cost; live price multipliers do not scale it.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) >= 0",message="egressGiB must not be negative"
	EgressGiB *resource.Quantity `json:"egressGiB,omitempty"`
}

// SiteStatus is what the controller observed of a site.
type SiteStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// nodes is how many nodes carry this site's label.
	// +optional
	Nodes int32 `json:"nodes,omitempty"`

	// readyNodes is how many of them are Ready.
	// +optional
	ReadyNodes int32 `json:"readyNodes,omitempty"`

	// capacity is the sum of the allocatable resources of the ready nodes.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`

	// conditions of the site; Ready is True when at least one node is ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Site is one place where nodes live: a cloud region, a regional point of
// presence, an edge location or a device. Nodes join it with the label
// node-restriction.kubernetes.io/placement.proxima.dev-site: <site name>,
// which a kubelet cannot set on its own Node: an administrator labels them.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=st,categories=proxima
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.spec.tier`
// +kubebuilder:printcolumn:name="Country",type=string,JSONPath=`.spec.country`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyNodes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Jurisdictions",type=string,JSONPath=`.spec.jurisdictions`,priority=1
// +kubebuilder:printcolumn:name="Latitude",type=string,JSONPath=`.spec.location.latitude`,priority=1
// +kubebuilder:printcolumn:name="Longitude",type=string,JSONPath=`.spec.location.longitude`,priority=1
// +kubebuilder:printcolumn:name="CPU/h",type=string,JSONPath=`.spec.pricing.cpuCoreHour`,priority=1
type Site struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the site.
	// +required
	Spec SiteSpec `json:"spec"`

	// status is observed by the controller.
	// +optional
	Status SiteStatus `json:"status,omitempty"`
}

// SiteList is a list of Sites.
// +kubebuilder:object:root=true
type SiteList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Site `json:"items"`
}
