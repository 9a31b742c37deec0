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
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"

	"github.com/proxima-sched/proxima/pkg/scoring"
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
	// comparisonOperators is the TaintTolerationComparisonOperators gate,
	// as kube-scheduler's TaintToleration plugin reads it.
	comparisonOperators bool
}

// AdmissionOf is the pod's NodeAdmission.
func AdmissionOf(pod *v1.Pod) NodeAdmission {
	ops := utilfeature.DefaultFeatureGate.Enabled(features.TaintTolerationComparisonOperators)
	return NodeAdmission{
		affinity:    nodeaffinity.GetRequiredNodeAffinity(pod),
		tolerations: pod.Spec.Tolerations,
		toleratesCordon: v1helper.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations,
			&v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}, ops),
		comparisonOperators: ops,
	}
}

// Admits reports whether the node passes the pod's NodeUnschedulable,
// TaintToleration and NodeAffinity filters.
func (a *NodeAdmission) Admits(node *v1.Node) bool {
	if node.Spec.Unschedulable && !a.toleratesCordon {
		return false
	}
	if _, untolerated := v1helper.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, a.tolerations,
		helper.DoNotScheduleTaintsFilterFunc(), a.comparisonOperators); untolerated {
		return false
	}
	ok, err := a.affinity.Match(node)
	return err == nil && ok
}

// NodeHasRoom says whether the pod can use a node, as far as narrowing
// tells: the node meets the plan's hardware rule and the pod's
// NodeAdmission, and has the CPU, memory, extended resources (GPUs) and a
// pod slot for the pod's requests as the scheduler's node snapshot (ni)
// accounts them. What it does not model (host ports, volumes, inter-pod
// affinity, DRA) is left to the scheduler's filters. Narrowing asks
// NodeFit, which adds the node load rule and tells excluded from full.
func (p *PodPlan) NodeHasRoom(ni fwk.NodeInfo) bool {
	return p.admits(ni.Node()) && p.hasResources(ni)
}

func (p *PodPlan) admits(node *v1.Node) bool {
	hw := p.Policy.Hardware
	return (hw == nil || hw.Match(node)) && p.Admission.Admits(node)
}

func (p *PodPlan) hasResources(ni fwk.NodeInfo) bool {
	alloc, used := ni.GetAllocatable(), ni.GetRequested()
	if alloc.GetMilliCPU()-used.GetMilliCPU() < p.need.milliCPU || alloc.GetMemory()-used.GetMemory() < p.need.memory ||
		len(ni.GetPods()) >= alloc.GetAllowedPodNumber() {
		return false
	}
	for _, s := range p.need.scalar {
		if alloc.GetScalarResources()[s.name]-used.GetScalarResources()[s.name] < s.value {
			return false
		}
	}
	return true
}

// NodeFit is what narrowing knows of a node for a pod.
type NodeFit uint8

// Node fits.
const (
	// NodeUnknown: the caller does not know the node (not in its node
	// snapshot yet).
	NodeUnknown NodeFit = iota
	// NodeExcluded: the pod cannot use the node whatever other pods do: the
	// hardware rule, its NodeAdmission or the node load rule.
	NodeExcluded
	// NodeFull: the node lacks CPU, memory, extended resources or a pod
	// slot for the pod; preemption might make room.
	NodeFull
	// NodeUsable: the pod can use the node as far as narrowing tells.
	NodeUsable
)

// NodeFit judges a node for PreFilter's narrowing (and kubectl
// proxima's): NodeHasRoom and the policy's node load rule.
func (p *PodPlan) NodeFit(snap *Snapshot, ni fwk.NodeInfo) NodeFit {
	switch {
	case !p.admits(ni.Node()) || p.Plan.LoadRule(snap.NodeLoad(ni.Node().Name)) != scoring.LoadAllowed:
		return NodeExcluded
	case !p.hasResources(ni):
		return NodeFull
	}
	return NodeUsable
}

// BestNodeIn is the lowest ScoreLoad among the nodes of site i that the
// pod can use (NodeFit says NodeUsable), with lost empty; or, when none
// can take it, why (LostNoHardware when no node of the site meets the
// policy's hardware rule, else LostNoRoom). node returns a node's
// NodeInfo, nil when unknown. The placement record's runner-up, as the
// scheduler and kubectl proxima both compute it.
func (p *PodPlan) BestNodeIn(snap *Snapshot, i int, node func(name string) fwk.NodeInfo) (load float64, lost string) {
	load, lost = math.Inf(1), LostNoRoom
	if p.Policy.Hardware != nil {
		lost = LostNoHardware
	}
	for _, name := range snap.NodesIn(i) {
		ni := node(name)
		if ni == nil || ni.Node() == nil {
			continue
		}
		if hw := p.Policy.Hardware; hw != nil && !hw.Match(ni.Node()) {
			continue
		}
		if lost == LostNoHardware {
			lost = LostNoRoom
		}
		if p.NodeFit(snap, ni) == NodeUsable {
			load, lost = min(load, snap.ScoreLoad(ni, p.need.milliCPU)), ""
		}
	}
	return load, lost
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
