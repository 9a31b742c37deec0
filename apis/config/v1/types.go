package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EdgePlacementArgs configures the EdgePlacement plugin.
type EdgePlacementArgs struct {
	metav1.TypeMeta `json:",inline"`

	// minCandidateNodes is how many nodes with room for the pod PreFilter
	// keeps, taking feasible sites best first. Default 100: the framework
	// examines every candidate whatever percentageOfNodesToScore says.
	// +optional
	MinCandidateNodes *int32 `json:"minCandidateNodes,omitempty"`

	// cacheSyncTimeoutSeconds bounds how long the plugin waits at start-up
	// for its Site, TrafficSource and PlacementPolicy caches. Default 60.
	// +optional
	CacheSyncTimeoutSeconds *int32 `json:"cacheSyncTimeoutSeconds,omitempty"`
}
