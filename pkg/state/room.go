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
	"math"

	v1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"
)

// NodeAdmission is what a pod asks of a node regardless of its policy, as
// kube-scheduler's NodeUnschedulable, TaintToleration and NodeAffinity
// filters judge it (with upstream's own helpers): not cordoned unless the
// pod tolerates it, no NoSchedule or NoExecute taint the pod does not
// tolerate (NotReady and unreachable nodes carry such taints), and the
// pod's nodeSelector and required node affinity.
type NodeAdmission struct {
	affinity        nodeaffinity.RequiredNodeAffinity
	tolerations     []v1.Toleration
	toleratesCordon bool
}

// AdmissionOf is the pod's NodeAdmission.
func AdmissionOf(pod *v1.Pod) NodeAdmission {
	return NodeAdmission{
		affinity:    nodeaffinity.GetRequiredNodeAffinity(pod),
		tolerations: pod.Spec.Tolerations,
		toleratesCordon: v1helper.TolerationsTolerateTaint(pod.Spec.Tolerations,
			&v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}),
	}
}

// Admits reports whether the node passes the pod's NodeUnschedulable,
// TaintToleration and NodeAffinity filters.
func (a *NodeAdmission) Admits(node *v1.Node) bool {
	if node.Spec.Unschedulable && !a.toleratesCordon {
		return false
	}
	if _, untolerated := v1helper.FindMatchingUntoleratedTaint(node.Spec.Taints, a.tolerations, helper.DoNotScheduleTaintsFilterFunc()); untolerated {
		return false
	}
	ok, err := a.affinity.Match(node)
	return err == nil && ok
}

// NodeHasRoom says whether the pod can use a node, as far as narrowing
// tells: the node meets the plan's hardware rule and the pod's
// NodeAdmission, and has the CPU, memory and a pod slot for the pod's
// requests as the scheduler's node snapshot (ni) accounts them. What it
// does not model (host ports, volumes, inter-pod affinity, extended
// resources, DRA) is left to the scheduler's filters. PreFilter's
// narrowing and `kubectl proxima` both ask it.
func (p *PodPlan) NodeHasRoom(ni fwk.NodeInfo) bool {
	node := ni.Node()
	if hw := p.Policy.Hardware; hw != nil && !hw.Match(node) || !p.Admission.Admits(node) {
		return false
	}
	alloc, used := ni.GetAllocatable(), ni.GetRequested()
	return alloc.GetMilliCPU()-used.GetMilliCPU() >= p.CPUMilli() && alloc.GetMemory()-used.GetMemory() >= p.Requests.Memory().Value() &&
		len(ni.GetPods()) < alloc.GetAllowedPodNumber()
}

// ScoreLoad is the node utilization (0..1; NaN when unknown) the load term
// of a node's score uses: its live CPU utilization when fresh, else the
// share of its allocatable CPU that would be requested with the pod on it.
func (s *Snapshot) ScoreLoad(ni fwk.NodeInfo, podMilliCPU int64) float64 {
	if live := s.NodeLoad(ni.Node().Name); live.Fresh() {
		return live.Value
	}
	if alloc := ni.GetAllocatable().GetMilliCPU(); alloc > 0 {
		return float64(ni.GetRequested().GetMilliCPU()+podMilliCPU) / float64(alloc)
	}
	return math.NaN()
}
