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

package controlplane

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"
)

// podLifecycleWorkers is how many pods RunPodLifecycle handles at once.
const podLifecycleWorkers = 4

// RunPodLifecycle stands in for the kubelets of a control plane that has
// none, as KWOK does, until ctx ends: it writes through the apiserver what a
// kubelet would report, so that controllers which count running and ready
// pods (ReplicaSets, Deployments, PodDisruptionBudgets, the Eviction API)
// see them as on a real cluster.
//
//   - A pod bound to a node (spec.nodeName set) whose phase is still Pending
//     gets, in one status write, phase Running, a pod IP (unique among the
//     pods this call starts, from 127.1.0.1 up, unless it has one), a
//     startTime, every init container terminated with exit code 0, every
//     container running, started and ready, and the conditions
//     PodReadyToStartContainers, Initialized, ContainersReady, Ready and
//     PodScheduled True.
//   - A pod bound to a node and marked for deletion (deletionTimestamp set)
//     is deleted for good, with grace period 0 and a precondition on its
//     UID, as a kubelet does once its containers have stopped; a pod with
//     finalizers stays until they are removed, in the phase it had.
//   - Pods not bound to a node are left alone (the apiserver deletes those
//     at once), and so are pods already Running, Succeeded or Failed: a test
//     may mark a running pod unready or failed and it stays so.
//
// It runs no containers, so nothing ever exits, restarts or fails on its
// own; it runs no probes (ready is true from the start, whatever the pod's
// readiness probe says); it does no resource accounting or admission (a pod
// is started whether or not its node exists, is ready, or has room); it sets
// no hostIP and writes no Node status, events or terminal phase.
//
// Every change is idempotent: a pod already handled is skipped, an update
// that conflicts is retried on a fresh copy, and a pod that is gone is
// ignored, so it tolerates other writers and can run next to another
// instance (whose pod IPs may then repeat).
func RunPodLifecycle(ctx context.Context, client kubernetes.Interface) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "proxima-pod-lifecycle"})
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	s := &podLifecycle{client: client, lister: pods.Lister()}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer queue.ShutDown()
	// WaitForCacheSync returns false only once ctx is done.
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		return nil
	}
	var wg sync.WaitGroup
	for range podLifecycleWorkers {
		wg.Go(func() {
			for s.next(ctx, queue) {
			}
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
	return nil
}

type podLifecycle struct {
	client kubernetes.Interface
	lister corelisters.PodLister

	mu     sync.Mutex
	nextIP netip.Addr
}

func (s *podLifecycle) next(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string]) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := s.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Simulating the pod's kubelet", "pod", key)
			queue.AddRateLimited(key)
		}
		return true
	}
	queue.Forget(key)
	return true
}

func (s *podLifecycle) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := s.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case pod.Spec.NodeName == "":
		return nil
	case pod.DeletionTimestamp != nil:
		err := s.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0),
			Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
		})
		// Conflict: the UID differs, so that pod is gone and another of
		// the same name will come as an event of its own.
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Status.Phase != v1.PodPending && pod.Status.Phase != "":
		return nil
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if pod == nil {
			fresh, err := s.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			pod = fresh
		}
		if pod.DeletionTimestamp != nil || (pod.Status.Phase != v1.PodPending && pod.Status.Phase != "") {
			return nil
		}
		running := pod.DeepCopy()
		s.run(running)
		_, err := s.client.CoreV1().Pods(ns).UpdateStatus(ctx, running, metav1.UpdateOptions{})
		pod = nil
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		klog.FromContext(ctx).V(4).Info("Simulated pod running", "pod", klog.KRef(ns, name))
	}
	return err
}

// run sets pod's status to what a kubelet reports once its containers run.
func (s *podLifecycle) run(pod *v1.Pod) {
	now := metav1.NewTime(time.Now())
	st := &pod.Status
	st.Phase = v1.PodRunning
	if st.PodIP == "" {
		st.PodIP = s.allocateIP()
		st.PodIPs = []v1.PodIP{{IP: st.PodIP}}
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, v1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true,
			ContainerID: fmt.Sprintf("proxima-sim://%s/%s", pod.UID, c.Name),
			State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now,
			}},
		})
	}
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, v1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr.To(true),
			ContainerID: fmt.Sprintf("proxima-sim://%s/%s", pod.UID, c.Name),
			State:       v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}},
		})
	}
	for _, t := range []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady, v1.PodScheduled} {
		podutil.UpdatePodCondition(st, &v1.PodCondition{Type: t, Status: v1.ConditionTrue, LastTransitionTime: now})
	}
}

// allocateIP returns the next pod IP, from 127.1.0.1 up.
func (s *podLifecycle) allocateIP() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.nextIP.IsValid() {
		s.nextIP = netip.AddrFrom4([4]byte{127, 1, 0, 1})
	}
	ip := s.nextIP
	s.nextIP = ip.Next()
	return ip.String()
}
