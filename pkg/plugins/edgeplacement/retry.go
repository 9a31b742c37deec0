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
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/proxima-sched/proxima/pkg/state"
)

// waitingPods are the pods EdgePlacement turned away or narrowed to a set of
// nodes and that are not bound yet. After every snapshot the world model
// publishes they go back to the active queue: the world they were judged
// against changed, and the scheduler may have seen the event that changed
// it before the world model did (so the event's own requeue came too early).
type waitingPods struct {
	model    *state.Model
	activate func(klog.Logger, map[string]*v1.Pod)

	mu   sync.Mutex
	pods map[types.UID]*v1.Pod
}

func newWaitingPods(model *state.Model, activate func(klog.Logger, map[string]*v1.Pod)) *waitingPods {
	w := &waitingPods{model: model, activate: activate, pods: map[types.UID]*v1.Pod{}}
	model.OnPublish(func(logger klog.Logger, _ *state.Snapshot) { w.retryAll(logger) })
	return w
}

// add remembers a pod judged against the snapshot of generation gen. If a
// newer snapshot was published since, the pod's retry already ran without
// it, so it is activated now (the queue requeues a pod still in flight when
// its attempt ends).
func (w *waitingPods) add(ctx context.Context, pod *v1.Pod, gen uint64) {
	w.mu.Lock()
	w.pods[pod.UID] = pod
	missed := w.model.Load().Generation != gen
	w.mu.Unlock()
	if missed && w.activate != nil {
		w.activate(klog.FromContext(ctx), map[string]*v1.Pod{pod.Namespace + "/" + pod.Name: pod})
	}
}

// remove forgets a pod that no longer needs a retry.
func (w *waitingPods) remove(pod *v1.Pod) {
	w.mu.Lock()
	delete(w.pods, pod.UID)
	w.mu.Unlock()
}

// retryAll moves every waiting pod back to the active queue.
func (w *waitingPods) retryAll(logger klog.Logger) {
	w.mu.Lock()
	pods := make(map[string]*v1.Pod, len(w.pods))
	for _, p := range w.pods {
		pods[p.Namespace+"/"+p.Name] = p
	}
	clear(w.pods)
	w.mu.Unlock()
	if len(pods) > 0 && w.activate != nil {
		logger.V(4).Info("Retrying pods after a world change", "pods", len(pods))
		w.activate(logger, pods)
	}
}
