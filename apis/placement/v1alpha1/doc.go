// Package v1alpha1 is the placement.proxima.dev/v1alpha1 API: Site,
// TrafficSource and PlacementPolicy.
//
// +kubebuilder:object:generate=true
// +groupName=placement.proxima.dev
package v1alpha1
