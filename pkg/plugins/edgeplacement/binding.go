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

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// Bind binds a pod with a policy as the DefaultBinder does, with the
// placement annotation (where and why) on the Binding, which the apiserver
// copies onto the pod in the same write. Pods without a policy are left to
// the next binder. To run before the DefaultBinder, EdgePlacement must be
// enabled at the bind extension point as well as in multiPoint.
func (pl *EdgePlacement) Bind(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeName string) *fwk.Status {
	s, err := getPreFilterState(cs)
	if err != nil {
		return fwk.NewStatus(fwk.Skip)
	}
	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	// The binding cycle runs after the scheduling cycle's node snapshot;
	// a node relabelled in between (into another site, or losing its
	// hardware labels) must not take the pod: refuse, and the scheduler
	// retries the pod against the node as it is now.
	if node, err := pl.nodes.Get(nodeName); err == nil {
		if status := s.nodeAllowed(node); !status.IsSuccess() {
			return fwk.NewStatus(fwk.Unschedulable, "node "+nodeName+" changed before binding: "+status.Message())
		}
		if msg, ok := explainOn(s, node); ok {
			binding.Annotations = map[string]string{placementv1alpha1.PlacementAnnotation: msg}
		}
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

// PostBind forgets the pod and, with placedEvents, records a Placed event.
func (pl *EdgePlacement) PostBind(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeName string) {
	pl.waiting.remove(pod)
	if !pl.placedEvents {
		return
	}
	s, err := getPreFilterState(cs)
	if err != nil {
		return
	}
	if msg, ok := pl.explainBinding(s, nodeName); ok {
		pl.handle.EventRecorder().Eventf(pod, nil, v1.EventTypeNormal, "Placed", "Binding", "%s", msg)
	}
}
