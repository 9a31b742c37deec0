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

// Package policygate lifts the placement.proxima.dev/policy scheduling gate
// from a pod once its PlacementPolicy resolves.
//
// A pod whose policy label names a missing PlacementPolicy is unschedulable
// (fail closed), but a pod meant to be governed by a policy's podSelector
// cannot be told from a pod with no policy until that policy exists: created
// first (a Deployment applied before its PlacementPolicy, as Helm orders
// unknown kinds last), it would be placed with no rules, and nothing moves
// it afterwards. A pod that carries the gate
//
//	spec:
//	  schedulingGates:
//	    - name: placement.proxima.dev/policy
//
// is not scheduled at all until this controller removes the gate, which it
// does once the world model resolves a policy for the pod exactly as the
// scheduler will (state.Snapshot.PolicyFor): its label names an existing
// policy, or a policy of its namespace selects it. In the same write it
// sets placement.proxima.dev/policy-required, so a scheduler that has not
// yet seen the policy fails the pod closed and retries it, instead of
// placing it with no rules. It does not name the policy: which one governs
// the pod is resolved anew whenever the scheduler places it or the
// rebalancer judges it, so a policy of higher priority applied a moment
// later, or a policy deleted and created again under another name, governs
// it as if the order had been the other way round. It never adds the
// gate.
//
// It watches only unbound pods, reconciles a pod when it is added or
// updated and every gated pod when the world model publishes a snapshot
// (a policy created, changed or deleted), and runs inside proxima-controller
// under its Lease, so one replica writes.
package policygate

import (
	"context"
	"fmt"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;update

// UnboundPods is an informer over the pods no node is assigned to: the only
// pods that can carry a scheduling gate.
func UnboundPods(client kubernetes.Interface) cache.SharedIndexInformer {
	return coreinformers.NewFilteredPodInformer(client, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "").String()
		})
}

// Controller lifts the policy gate.
type Controller struct {
	client kubernetes.Interface
	model  *state.Model
	pods   corelisters.PodLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New wires the controller to the world model and an informer over unbound
// pods (UnboundPods); start the informer after New.
func New(client kubernetes.Interface, model *state.Model, pods cache.SharedIndexInformer) (*Controller, error) {
	c := &Controller{
		client: client,
		model:  model,
		pods:   corelisters.NewPodLister(pods.GetIndexer()),
		synced: []cache.InformerSynced{pods.HasSynced, model.HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "proxima-policygate"}),
	}
	enqueue := func(obj any) {
		if pod, ok := obj.(*v1.Pod); ok && gated(pod) {
			c.queue.Add(cache.MetaObjectToName(pod).String())
		}
	}
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, newObj any) { enqueue(newObj) },
	}); err != nil {
		return nil, err
	}
	model.OnPublish(func(logger klog.Logger, _ *state.Snapshot) {
		pods, err := c.pods.List(labels.Everything())
		if err != nil {
			logger.Error(err, "Listing gated pods")
			return
		}
		for _, p := range pods {
			enqueue(p)
		}
	})
	return c, nil
}

// Run lifts gates until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return fmt.Errorf("caches did not sync")
	}
	klog.FromContext(ctx).Info("Policy gate controller started", "gate", placementv1alpha1.PolicyGate)
	go wait.UntilWithContext(ctx, c.work, time.Second)
	<-ctx.Done()
	return nil
}

func (c *Controller) work(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.reconcile(ctx, key); err != nil {
			klog.FromContext(ctx).Error(err, "Lifting the policy gate; will retry", "pod", key)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	name, err := cache.ParseObjectName(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(name.Namespace).Get(name.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := klog.FromContext(ctx)
	policy, why := Resolve(c.model.Load(), pod)
	if policy == nil {
		logger.V(4).Info("Keeping the policy gate", "pod", klog.KObj(pod), "reason", why)
		return nil
	}
	updated := pod.DeepCopy()
	updated.Spec.SchedulingGates = slices.DeleteFunc(updated.Spec.SchedulingGates, isPolicyGate)
	// Require a policy in the same write: the scheduler watches policies
	// on its own and may see the ungated pod before the policy. It then
	// fails the pod closed until it sees one, rather than placing it with
	// no rules.
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	updated.Annotations[placementv1alpha1.PolicyRequiredAnnotation] = "true"
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	logger.V(2).Info("Lifted the policy gate", "pod", klog.KObj(pod), "placementPolicy", klog.KObj(policy))
	return nil
}

// Resolve returns the policy that lifts a gated pod's gate, or nil and why
// the pod keeps it: the world model has not resolved a policy for it.
func Resolve(snap *state.Snapshot, pod *v1.Pod) (*state.ResolvedPolicy, string) {
	if !gated(pod) {
		return nil, "the pod has no policy gate"
	}
	policy, err := snap.PolicyFor(pod)
	switch {
	case err != nil:
		return nil, err.Error()
	case policy == nil:
		return nil, fmt.Sprintf("no PlacementPolicy in namespace %s selects the pod", pod.Namespace)
	}
	return policy, ""
}

func gated(pod *v1.Pod) bool { return slices.ContainsFunc(pod.Spec.SchedulingGates, isPolicyGate) }

func isPolicyGate(g v1.PodSchedulingGate) bool { return g.Name == placementv1alpha1.PolicyGate }
