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

// Labels and condition types shared by the placement API.
const (
	// SiteLabel on a Node names the Site the node belongs to. A node without
	// it belongs to no site, and no pod with a PlacementPolicy lands on it.
	SiteLabel = "placement.proxima.dev/site"
	// PolicyLabel on a Pod names the PlacementPolicy (in the pod's namespace)
	// that governs it, overriding any podSelector match.
	PolicyLabel = "placement.proxima.dev/policy"
	// PlacementAnnotation on a Pod says where its PlacementPolicy placed it
	// and why: site, tier, country, RTT per source and hourly cost. The
	// scheduler writes it with the binding.
	PlacementAnnotation = "placement.proxima.dev/placement"

	// PolicyGate is the scheduling gate that holds a pod until its
	// PlacementPolicy resolves: proxima-controller removes it once the pod's
	// policy label names an existing policy, or a policy's podSelector in
	// the pod's namespace selects it. Pods created before their policy
	// (a Deployment applied before its PlacementPolicy) then wait instead of
	// being placed with no rules.
	PolicyGate = "placement.proxima.dev/policy"

	// ConditionReady is True when an object's cross-object references
	// resolve and, for a PlacementPolicy, its hard rules leave some site.
	ConditionReady = "Ready"
)

// Reasons of the Ready condition.
const (
	ReasonResolved       = "Resolved"
	ReasonUnknownSite    = "UnknownSite"
	ReasonUnknownSource  = "UnknownSource"
	ReasonNoFeasibleSite = "NoFeasibleSite"
	// ReasonInvalidRule: a rule passed admission but cannot be evaluated
	// (for example a denied country that is not a country code).
	ReasonInvalidRule  = "InvalidRule"
	ReasonNodesReady   = "NodesReady"
	ReasonNoReadyNodes = "NoReadyNodes"
)

// GeoLocation is a point on Earth in decimal degrees (WGS 84), written as
// decimal strings so that no floating-point value is stored in the API.
type GeoLocation struct {
	// latitude in decimal degrees, from -90 (south) to 90 (north), e.g. "48.8566".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:Pattern=`^-?[0-9]{1,2}(\.[0-9]{1,8})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) >= -90.0 && double(self) <= 90.0",message="latitude must be between -90 and 90 degrees"
	Latitude string `json:"latitude"`

	// longitude in decimal degrees, from -180 (west) to 180 (east), e.g. "2.3522".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=13
	// +kubebuilder:validation:Pattern=`^-?[0-9]{1,3}(\.[0-9]{1,8})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) >= -180.0 && double(self) <= 180.0",message="longitude must be between -180 and 180 degrees"
	Longitude string `json:"longitude"`
}
