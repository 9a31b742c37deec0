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

package edgeplacement

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/proxima-sched/proxima/pkg/state"
)

// Signature fragment keys for what EdgePlacement reads of a pod beyond the
// fields kube-scheduler's own signers name (fwk.*SignerName).
const (
	// PolicySignerName holds the PlacementPolicy that governs the pod when
	// it is signed: namespace, name, UID and generation, empty for none.
	PolicySignerName = "placement.proxima.dev/v1alpha1.PlacementPolicy.ForPod()"
	// RequestsSignerName holds the pod's effective requests as a policy
	// reads them (state.PodRequests): narrowing, node fit and cost. A key
	// of Proxima's own: upstream's fwk.ResourcesSignerName holds
	// NodeResourcesFit's value, of another shape, and a key must hold one
	// value for one pod whichever plugin gives it.
	RequestsSignerName = "placement.proxima.dev/v1.Pod.Spec.EffectiveRequests()"
)

// ErrReasonUnsignable is SignPod's refusal for a pod whose policy cannot be
// resolved: such a pod is scheduled alone, and PreFilter says why.
const ErrReasonUnsignable = "the pod's PlacementPolicy cannot be resolved; not batched"

var _ fwk.SignPlugin = &EdgePlacement{}

// policySignature is what PolicySignerName holds.
type policySignature struct {
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name,omitempty"`
	UID        types.UID `json:"uid,omitempty"`
	Generation int64     `json:"generation,omitempty"`
}

// SignPod gives the framework everything of the pod that EdgePlacement's
// PreFilter, Filter and Score results depend on, so that opportunistic
// batching (KEP-5598) reuses one pod's ranked nodes only for a pod that
// would have been ranked the same way:
//
//   - its namespace and labels, from which its policy is resolved (a
//     selector or the placement.proxima.dev/policy label);
//   - the policy resolved now, with its UID and generation, so that pods
//     signed before and after a policy change are never batched together;
//   - its effective requests (state.PodRequests), which narrowing, node fit
//     and the cost objective read;
//   - its node selector, required node affinity and tolerations, which
//     narrowing's node admission reads (with kube-scheduler's own signers
//     and keys, shared with NodeAffinity and TaintToleration).
//
// The world (Sites, telemetry, nodes, where the policy's dependencies
// run) is not in the signature: a pod is
// signed when it is queued, long before it is scheduled. What keeps a batch
// from carrying a decision across a world change is that the framework
// runs the second pod's own PreFilter and then Filter on the hinted node,
// and Filter judges the node's site against that pod's plan of the world as
// it is now (nodeAllowed: a Site gone unhealthy, a policy narrowed, a node
// relabelled into another site are each refused); Bind judges it again.
//
// A pod whose policy cannot be resolved (it names a PlacementPolicy that
// does not exist) is refused a signature: PreFilter rejects it anyway, and
// such a pod must not share a signature with a pod the policy, once
// created, would govern differently. A pod without a policy is signed:
// EdgePlacement skips it, and the other plugins' signatures decide.
func (pl *EdgePlacement) SignPod(ctx context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	policy, err := pl.model.Load().PolicyFor(pod)
	if err != nil {
		return nil, fwk.NewStatus(fwk.Unschedulable, ErrReasonUnsignable)
	}
	ps := policySignature{Namespace: pod.Namespace}
	if policy != nil {
		ps.Name, ps.UID, ps.Generation = policy.Name, policy.UID, policy.Generation
	}
	affinity, err := fwk.NodeAffinitySigner(pod)
	if err != nil {
		return nil, fwk.AsStatus(err)
	}
	return []fwk.SignFragment{
		{Key: fwk.LabelsSignerName, Value: pod.Labels},
		{Key: PolicySignerName, Value: ps},
		{Key: RequestsSignerName, Value: state.PodRequests(pod)},
		{Key: fwk.NodeAffinitySignerName, Value: affinity},
		{Key: fwk.NodeSelectorSignerName, Value: pod.Spec.NodeSelector},
		{Key: fwk.TolerationsSignerName, Value: fwk.TolerationsSigner(pod)},
	}, nil
}
