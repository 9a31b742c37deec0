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
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/proxima-sched/proxima/pkg/state"
)

// Retry backoff: the scheduler's default podInitialBackoffSeconds and
// podMaxBackoffSeconds. A pod the world model re-activates waits this long
// per activation, doubling each time until it binds.
const (
	retryInitialBackoff = time.Second
	retryMaxBackoff     = 10 * time.Second
)

// waitingPods are the pods EdgePlacement turned away, or whose candidates
// all failed, and that are not bound yet, each with the verdict PreFilter
// reached and the snapshot it reached it on.
//
// After every snapshot the world model publishes, each waiting pod is
// judged again (worthRetrying) and re-activated only when the change can
// let it pass: a pod PreFilter refused when it would pass PreFilter now; a
// pod whose candidates failed when a node joined, left or changed site, a
// site became feasible for it, or node load changed and its policy bounds
// node load. Activations go through a per-pod exponential backoff
// (retryInitialBackoff doubling to retryMaxBackoff), so no change, however
// frequent, moves a pod to the active queue more often than that. This
// covers what the scheduler's own events cannot: the world model may see
// a change after the scheduler's event for it (the event's requeue then
// came too early), and telemetry has no event at all.
type waitingPods struct {
	model    *state.Model
	activate func(klog.Logger, map[string]*v1.Pod)
	// judge reports whether a pod judged as p is worth retrying on snap,
	// and its verdict on snap.
	judge func(p waitingPod, snap *state.Snapshot) (bool, *preFilterState)
	queue workqueue.TypedRateLimitingInterface[types.UID]

	mu   sync.Mutex
	pods map[types.UID]*waitingPod
	// wide are the pods whose narrowed attempt failed: their candidates
	// are every feasible site's nodes until they bind.
	wide sets.Set[types.UID]
}

// waitingPod is a pod and its latest verdict on snap (PreFilter's, then
// each judgement's): state is nil when the pod is refused before any node
// is looked at.
type waitingPod struct {
	pod   *v1.Pod
	snap  *state.Snapshot
	state *preFilterState
	// queued: an activation is waiting out its backoff.
	queued bool
}

func newWaitingPods(model *state.Model, activate func(klog.Logger, map[string]*v1.Pod), judge func(waitingPod, *state.Snapshot) (bool, *preFilterState)) *waitingPods {
	w := &waitingPods{model: model, activate: activate, judge: judge, pods: map[types.UID]*waitingPod{}, wide: sets.New[types.UID](),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](retryInitialBackoff, retryMaxBackoff),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "proxima-retry"})}
	model.OnPublish(w.judgeAll)
	return w
}

// run activates pods as their backoff ends, until ctx is done.
func (w *waitingPods) run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
	logger := klog.FromContext(ctx)
	for {
		uid, quit := w.queue.Get()
		if quit {
			return
		}
		w.mu.Lock()
		var pod *v1.Pod
		if p := w.pods[uid]; p != nil && p.queued {
			pod = p.pod
			delete(w.pods, uid)
		}
		w.mu.Unlock()
		if pod != nil && w.activate != nil {
			logger.V(4).Info("Retrying a pod after a world change", "pod", klog.KObj(pod))
			w.activate(logger, map[string]*v1.Pod{pod.Namespace + "/" + pod.Name: pod})
		}
		w.queue.Done(uid)
	}
}

// add remembers a pod judged against snap (state nil: refused before
// nodes). If a newer snapshot was published since, the pod missed that
// publish's judgement, so it is judged against the newest now.
func (w *waitingPods) add(ctx context.Context, pod *v1.Pod, snap *state.Snapshot, s *preFilterState) {
	p := &waitingPod{pod: pod, snap: snap, state: s}
	w.mu.Lock()
	w.pods[pod.UID] = p
	w.mu.Unlock()
	if cur := w.model.Load(); cur != snap {
		w.judgeOne(klog.FromContext(ctx), p, cur)
	}
}

// remove forgets a pod that bound or is gone, and its backoff.
func (w *waitingPods) remove(pod *v1.Pod) {
	w.mu.Lock()
	delete(w.pods, pod.UID)
	w.wide.Delete(pod.UID)
	w.mu.Unlock()
	w.queue.Forget(pod.UID)
}

// widen makes every feasible site's nodes the pod's candidates until it
// binds, and activates it: its narrowed attempt failed, and this one retry
// is what stands between it and preemption. The pod is still in flight, so
// the queue takes the activation as a requeue after its backoff.
func (w *waitingPods) widen(ctx context.Context, pod *v1.Pod) {
	w.mu.Lock()
	w.wide.Insert(pod.UID)
	w.mu.Unlock()
	if w.activate != nil {
		w.activate(klog.FromContext(ctx), map[string]*v1.Pod{pod.Namespace + "/" + pod.Name: pod})
	}
}

// isWide reports whether the pod's candidates are every feasible site's.
func (w *waitingPods) isWide(pod *v1.Pod) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wide.Has(pod.UID)
}

// judgeAll judges every waiting pod against a newly published snapshot.
func (w *waitingPods) judgeAll(logger klog.Logger, snap *state.Snapshot) {
	w.mu.Lock()
	pods := make([]*waitingPod, 0, len(w.pods))
	for _, p := range w.pods {
		if !p.queued {
			pods = append(pods, p)
		}
	}
	w.mu.Unlock()
	for _, p := range pods {
		w.judgeOne(logger, p, snap)
	}
}

// judgeOne queues the pod's activation (after its backoff) when the judge
// says snap can let it pass; otherwise the pod is judged against snap from
// now on, so that the next change is compared with this one.
func (w *waitingPods) judgeOne(logger klog.Logger, p *waitingPod, snap *state.Snapshot) {
	w.mu.Lock()
	judged := *p
	current := w.pods[p.pod.UID] == p && !p.queued
	w.mu.Unlock()
	if !current {
		return
	}
	retry, verdict := w.judge(judged, snap)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pods[p.pod.UID] != p || p.queued || p.snap != judged.snap {
		return // scheduled again, bound, queued or judged meanwhile
	}
	if !retry {
		p.snap, p.state = snap, verdict
		return
	}
	p.queued = true
	logger.V(5).Info("World change may let a waiting pod pass; retrying it after its backoff", "pod", klog.KObj(p.pod),
		"retries", w.queue.NumRequeues(p.pod.UID))
	w.queue.AddRateLimited(p.pod.UID)
}

// worthRetrying judges a waiting pod again on snap: whether the change
// since the snapshot it was judged on can let it pass, and its verdict on
// snap (nil when PreFilter would refuse it before looking at nodes).
func (pl *EdgePlacement) worthRetrying(p waitingPod, snap *state.Snapshot) (bool, *preFilterState) {
	c := snap.ChangedSince(p.snap)
	switch c {
	case state.Change{}:
		return false, p.state
	case state.Change{NodeLoad: true}:
		// Node load alone (every telemetry refresh) decides nothing before
		// the nodes: it can help only a pod that passed PreFilter and
		// whose policy bounds node load. No need to plan the pod again.
		return p.state != nil && p.state.plan.MaxLoad() > 0, p.state
	}
	s, status := pl.evaluate(snap, p.pod)
	switch {
	case status.Code() == fwk.Skip:
		return true, nil // no policy governs it any more
	case !status.IsSuccess():
		return false, nil // still refused before any node is looked at
	case p.state == nil:
		return true, s // refused then, passes PreFilter now
	case c.Nodes || (c.NodeLoad && s.plan.MaxLoad() > 0):
		return true, s
	case c.Policies && (s.policy.UID != p.state.policy.UID || s.policy.Generation != p.state.policy.Generation):
		// Its policy changed (or it now has another): a rule Filter
		// applies (hardware, node load, stale load) may have relaxed.
		return true, s
	}
	// A site that is feasible now and was not.
	for _, i := range s.plan.Ranked() {
		j, ok := p.snap.SiteIndex(snap.World.Sites.Names[i])
		if !ok || !p.state.plan.SiteFeasible(j) {
			return true, s
		}
	}
	return false, s
}
