package config

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EdgePlacementArgs configures the EdgePlacement plugin.
type EdgePlacementArgs struct {
	metav1.TypeMeta

	// MinCandidateNodes is how many nodes with room for the pod PreFilter
	// keeps, taking feasible sites best first. At most 100 means the
	// framework examines every candidate whatever percentageOfNodesToScore
	// says (it never stops before 100 feasible nodes).
	MinCandidateNodes int32

	// CacheSyncTimeoutSeconds bounds how long the plugin waits at start-up
	// for its Site, TrafficSource and PlacementPolicy caches.
	CacheSyncTimeoutSeconds int32
}
