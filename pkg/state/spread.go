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

package state

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Spread judges the policy's spread rule (PlacementPolicy spec.spread) for
// pod, nil when the policy has none: it counts the pod's workload (the
// policy's pods with the pod's controller, or without one if it has none)
// on the nodes of each feasible site, as node gives them (the scheduler's
// node snapshot, which holds the pods assumed on a node before they are
// bound, or a simulated world's), and asks a site's nodes for room
// (NodeFit) as scoring.JudgeSpread needs. Pods that are terminating or
// finished, of another namespace, policy or controller, and pod itself,
// do not count.
//
// Its cost is a pass over the pods of the feasible sites' nodes, paid
// only by pods whose policy spreads (kube-scheduler's PodTopologySpread
// makes the same pass over every node).
func (p *PodPlan) Spread(snap *Snapshot, pod *v1.Pod, node func(name string) fwk.NodeInfo) *scoring.SpreadVerdict {
	rule := p.Rules.Spread
	if !rule.Set() || pod == nil || p.Policy == nil {
		return nil
	}
	owner := controllerUID(pod)
	ranked := p.Plan.Ranked()
	var counts []scoring.SpreadCount
	for _, site := range ranked {
		var n int32
		for _, name := range snap.NodesIn(int(site)) {
			ni := node(name)
			if ni == nil || ni.Node() == nil {
				continue
			}
			for _, pi := range ni.GetPods() {
				if p.sameWorkload(snap, pod, owner, pi.GetPod()) {
					n++
				}
			}
		}
		if n > 0 {
			counts = append(counts, scoring.SpreadCount{Site: site, Pods: n})
		}
	}
	room := func(site int32) bool {
		for _, name := range snap.NodesIn(int(site)) {
			if ni := node(name); ni != nil && ni.Node() != nil && p.NodeFit(snap, ni) == NodeUsable {
				return true
			}
		}
		return false
	}
	v := scoring.JudgeSpread(rule, counts, ranked, room)
	return &v
}

// sameWorkload reports whether other is a running pod of pod's workload:
// same namespace, same controller (owner), governed by the same policy.
func (p *PodPlan) sameWorkload(snap *Snapshot, pod *v1.Pod, owner types.UID, other *v1.Pod) bool {
	if other.Namespace != pod.Namespace || other.DeletionTimestamp != nil || samePod(other, pod) ||
		other.Status.Phase == v1.PodSucceeded || other.Status.Phase == v1.PodFailed || controllerUID(other) != owner {
		return false
	}
	rp, err := snap.PolicyFor(other)
	return err == nil && rp != nil && rp.Name == p.Policy.Name
}

// SameController reports whether a and b are in one namespace with one
// controller (or both without one): one workload, if one policy governs
// them.
func SameController(a, b *v1.Pod) bool {
	return a.Namespace == b.Namespace && controllerUID(a) == controllerUID(b)
}

// controllerUID is the UID of the pod's controller, empty for none.
func controllerUID(pod *v1.Pod) types.UID {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return ref.UID
	}
	return ""
}
