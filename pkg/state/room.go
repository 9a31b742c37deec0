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

	fwk "k8s.io/kube-scheduler/framework"
)

// NodeHasRoom says whether a node meets the plan's hardware rule and has
// the CPU, memory and a pod slot for the pod's requests, as the
// scheduler's node snapshot (ni) accounts them. PreFilter's narrowing and
// `kubectl proxima` both ask it.
func (p *PodPlan) NodeHasRoom(ni fwk.NodeInfo) bool {
	if hw := p.Policy.Hardware; hw != nil && !hw.Match(ni.Node()) {
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
