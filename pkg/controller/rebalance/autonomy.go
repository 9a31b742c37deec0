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

package rebalance

import (
	"strings"

	v1 "k8s.io/api/core/v1"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// The markers edge fleets put on nodes that keep running their pods while
// cut off from the control plane.
const (
	// KubeEdgeEdgeNodeLabel is on every node keadm joins as an edge node;
	// KubeEdge's edge core keeps its pods running from its local metadata
	// store while the cloud link is down.
	KubeEdgeEdgeNodeLabel = "node-role.kubernetes.io/edge"
	// OpenYurtAutonomyAnnotation "true" turns on OpenYurt's node autonomy:
	// YurtHub serves the node's components from its cache and the pods
	// are not evicted while the node is cut off.
	OpenYurtAutonomyAnnotation = "node.beta.openyurt.io/autonomy"
	// OpenYurtAutonomyDurationAnnotation turns it on in OpenYurt 1.5 and
	// later, for the duration it gives ("0": for as long as it takes).
	OpenYurtAutonomyDurationAnnotation = "node.openyurt.io/autonomy-duration"
)

// AutonomyMarker names the marker that says node runs its pods on its own
// while cut off, or "" when it has none.
func AutonomyMarker(node *v1.Node) string {
	if _, ok := node.Labels[KubeEdgeEdgeNodeLabel]; ok {
		return "KubeEdge edge node, label " + KubeEdgeEdgeNodeLabel
	}
	if strings.EqualFold(node.Annotations[OpenYurtAutonomyAnnotation], "true") {
		return "OpenYurt autonomy, annotation " + OpenYurtAutonomyAnnotation
	}
	if _, ok := node.Annotations[OpenYurtAutonomyDurationAnnotation]; ok {
		return "OpenYurt autonomy, annotation " + OpenYurtAutonomyDurationAnnotation
	}
	return ""
}

// KeepOnUnhealthySite reports whether a pod on node stays although its
// site is unhealthy, under the policy's onUnhealthySite.
func KeepOnUnhealthySite(a placementv1alpha1.UnhealthySiteAction, node *v1.Node) bool {
	switch onUnhealthy(a) {
	case placementv1alpha1.UnhealthySiteKeep:
		return true
	case placementv1alpha1.UnhealthySiteMove:
		return false
	}
	return AutonomyMarker(node) != ""
}

// onUnhealthy is the action with its default.
func onUnhealthy(a placementv1alpha1.UnhealthySiteAction) placementv1alpha1.UnhealthySiteAction {
	if a == "" {
		return placementv1alpha1.UnhealthySiteKeepAutonomous
	}
	return a
}
