package v1

import "k8s.io/utils/ptr"

// Defaults of EdgePlacementArgs.
const (
	DefaultMinCandidateNodes       int32 = 100
	DefaultCacheSyncTimeoutSeconds int32 = 60
)

// SetDefaults_EdgePlacementArgs fills unset EdgePlacementArgs fields.
func SetDefaults_EdgePlacementArgs(obj *EdgePlacementArgs) {
	if obj.MinCandidateNodes == nil {
		obj.MinCandidateNodes = ptr.To(DefaultMinCandidateNodes)
	}
	if obj.CacheSyncTimeoutSeconds == nil {
		obj.CacheSyncTimeoutSeconds = ptr.To(DefaultCacheSyncTimeoutSeconds)
	}
}
