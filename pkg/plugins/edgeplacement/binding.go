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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/proxima-sched/proxima/pkg/state"
)

var _ fwk.ReservePlugin = &EdgePlacement{}

// Reserve notes, from the scheduling cycle's node snapshot, the chosen
// node's load and the runner-up site's best node, for the placement record
// Bind writes (the binding cycle must not read that snapshot: the next
// scheduling cycle updates it concurrently).
func (pl *EdgePlacement) Reserve(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeName string) *fwk.Status {
	s, err := getPreFilterState(cs)
	if err != nil {
		return nil // no policy
	}
	cs.Write(reserveStateKey, reserveFor(s, pl.handle.SnapshotSharedLister().NodeInfos(), nodeName))
	return nil
}

// Unreserve has nothing to undo.
func (pl *EdgePlacement) Unreserve(context.Context, fwk.CycleState, *v1.Pod, string) {}

// Bind binds a pod with a policy as the DefaultBinder does, with the
// placement annotations (where and why: a sentence and a PlacementRecord)
// on the Binding, which the apiserver copies onto the pod in the same
// write. Pods without a policy are left to the next binder. To run before
// the DefaultBinder, EdgePlacement must be enabled at the bind extension
// point as well as in multiPoint.
func (pl *EdgePlacement) Bind(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeName string) *fwk.Status {
	s, err := getPreFilterState(cs)
	if err != nil {
		// No policy governed the pod at PreFilter. One created (or a
		// label added) since must not be bypassed: schedule it again.
		if policy, err := pl.model.Load().PolicyFor(pod); err != nil || policy != nil {
			return fwk.NewStatus(fwk.Unschedulable, "a PlacementPolicy governs the pod since it was scheduled; scheduling it again")
		}
		return fwk.NewStatus(fwk.Skip)
	}
	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	// The binding cycle runs after the scheduling cycle, which may be long
	// ago (Permit, volume binding). The pod's rules are judged again on
	// the node as the informer has it now — a node relabelled into another
	// site, or out of the hardware rule, must not take the pod — and, when
	// Sites, TrafficSources, telemetry or PlacementPolicies changed since
	// PreFilter, on the world as it is now (a residency rule tightened, a
	// site gone unhealthy). A refusal sends the pod back to be scheduled
	// again; a node the informer no longer has is refused too (the
	// apiserver would bind to a node that does not exist). A node
	// relabelled into another feasible site takes the pod, and the record
	// names that site.
	node, err := pl.nodes.Get(nodeName)
	if err != nil {
		return fwk.NewStatus(fwk.Unschedulable, "node "+nodeName+" is gone from the scheduler's cache; not binding to it")
	}
	judge := s
	if cur := pl.model.Load(); cur != s.snap {
		if c := cur.ChangedSince(s.snap); c.Sites || c.Policies {
			fresh, status := pl.evaluate(cur, pod)
			switch {
			case status.Code() == fwk.Skip:
				// Its policy is gone: no rule of Proxima's binds it now.
				judge = nil
			case !status.IsSuccess():
				return fwk.NewStatus(fwk.Unschedulable, "the world changed before binding: "+status.Message())
			default:
				judge = fresh
			}
		}
	}
	if judge != nil {
		if status := judge.nodeAllowed(node); !status.IsSuccess() {
			return fwk.NewStatus(fwk.Unschedulable, "node "+nodeName+" changed before binding: "+status.Message())
		}
	}
	r := getReserveState(cs)
	rec := explainBinding(s, r, nodeName, node, pl.model.Load())
	binding.Annotations = state.Annotations(&rec)
	if r != nil {
		r.record = &rec
	}
	if c := pl.handle.APICacher(); c != nil {
		onFinish, err := c.BindPod(binding)
		if err != nil {
			return fwk.AsStatus(err)
		}
		return fwk.AsStatus(c.WaitOnFinish(ctx, onFinish))
	}
	return fwk.AsStatus(pl.handle.ClientSet().CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}))
}

// PostBind forgets the pod and, with placedEvents, records a Placed event
// saying what the placement annotation says.
func (pl *EdgePlacement) PostBind(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeName string) {
	pl.waiting.remove(pod)
	if !pl.placedEvents {
		return
	}
	s, err := getPreFilterState(cs)
	if err != nil {
		return
	}
	var msg string
	if r := getReserveState(cs); r != nil && r.record != nil {
		msg = state.Sentence(r.record)
	} else {
		// Bound by another binder: explain against the node as it is now.
		node, err := pl.nodes.Get(nodeName)
		if err != nil {
			node = nil
		}
		rec := explainBinding(s, r, nodeName, node, pl.model.Load())
		msg = state.Sentence(&rec)
	}
	pl.handle.EventRecorder().Eventf(pod, nil, v1.EventTypeNormal, "Placed", "Binding", "%s", msg)
}
