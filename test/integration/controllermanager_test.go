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

package integration

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"

	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/test/harness"
)

// TestControllerManagerEvictionAndRecreate checks what the rebalancer
// relies on, with the real kube-controller-manager and the pod lifecycle
// simulator standing in for kubelets: an eviction through the Eviction API
// that a PodDisruptionBudget allows succeeds, the evicted pod goes away and
// its ReplicaSet makes a replacement, and a second eviction is refused with
// 429 until that replacement is bound and ready. The test binds pods itself
// through the Binding API, as a scheduler would, and so decides when the
// replacement becomes ready.
func TestControllerManagerEvictionAndRecreate(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{NoCRDs: true})
	harness.StartControllerManager(t, cp, "deployment", "replicaset", "disruption")
	harness.SimulatePods(t, cp)
	c := cp.Client
	ctx := context.Background()
	ns := createNamespace(t, c, "evict")
	node := readyNode("node-a")
	createNode(t, c, node)

	labels := map[string]string{"app": "web"}
	dep := newDeployment(ns, "web", 3, nil, "100m", "")
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: labels},
		},
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pods := bindAllReady(t, c, ns, node.Name, 3)
	waitForPDB(t, c, ns, pdb.Name, "1 disruption allowed, 3 healthy", func(s policyv1.PodDisruptionBudgetStatus) bool {
		return s.DisruptionsAllowed == 1 && s.CurrentHealthy == 3 && s.ExpectedPods == 3
	})

	first, second := pods[0], pods[1]
	if err := evict(ctx, c, first); err != nil {
		t.Fatalf("evicting %s with one disruption allowed: %v", first.Name, err)
	}
	if err := evict(ctx, c, second); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("evicting %s right after %s: %v, want 429 TooManyRequests from the budget", second.Name, first.Name, err)
	}
	// The simulated kubelet finishes the evicted pod's deletion, and its
	// ReplicaSet makes a replacement, which no one has bound yet.
	var replacement *v1.Pod
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		if _, err := c.CoreV1().Pods(ns).Get(ctx, first.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false, nil
		}
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i, p := range list.Items {
			if p.Spec.NodeName == "" {
				replacement = &list.Items[i]
			}
		}
		return replacement != nil, nil
	}); err != nil {
		t.Fatalf("the evicted pod %s was not deleted and replaced: %v", first.Name, err)
	}
	if err := evict(ctx, c, second); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("evicting %s while the replacement %s is unbound: %v, want 429 TooManyRequests", second.Name, replacement.Name, err)
	}

	bindAllReady(t, c, ns, node.Name, 3)
	waitForPDB(t, c, ns, pdb.Name, "1 disruption allowed again once the replacement is ready", func(s policyv1.PodDisruptionBudgetStatus) bool {
		return s.DisruptionsAllowed == 1 && s.CurrentHealthy == 3
	})
	if err := evict(ctx, c, second); err != nil {
		t.Fatalf("evicting %s once the replacement is ready: %v", second.Name, err)
	}
	bindAllReady(t, c, ns, node.Name, 3)

	// A budget by maxUnavailable counts the pods expected from the
	// Deployment's scale subresource, which the disruption controller
	// reads through discovery.
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Patch(ctx, pdb.Name, "application/merge-patch+json",
		[]byte(`{"spec":{"minAvailable":null,"maxUnavailable":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForPDB(t, c, ns, pdb.Name, "maxUnavailable 1 of the Deployment's scale of 3", func(s policyv1.PodDisruptionBudgetStatus) bool {
		return s.ExpectedPods == 3 && s.DesiredHealthy == 2 && s.DisruptionsAllowed == 1
	})
}

// TestControllerManagerGarbageCollectorAndNamespace checks the controllers
// that work from the apiserver's discovery (with Proxima's CRDs installed):
// deleting a Deployment deletes its ReplicaSet and pods through the garbage
// collector, deleting a namespace deletes what is left in it, the
// simulated kubelets finishing the bound pods' deletion; and that a
// controller name kube-controller-manager does not know fails the start
// with its log.
func TestControllerManagerGarbageCollectorAndNamespace(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	_, err := cp.StartControllerManager(context.Background(), t.TempDir(), "no-such")
	if err == nil || !strings.Contains(err.Error(), "is not in the list of known controllers") ||
		!strings.Contains(err.Error(), "no-such-controller") || !strings.Contains(err.Error(), "kube-controller-manager.log") {
		t.Errorf("starting kube-controller-manager with an unknown controller: %v, want its log's complaint and path", err)
	}
	harness.StartControllerManager(t, cp, "deployment", "replicaset", "garbage-collector", "namespace")
	harness.SimulatePods(t, cp)
	c := cp.Client
	ctx := context.Background()
	ns := createNamespace(t, c, "gc")
	node := readyNode("node-a")
	createNode(t, c, node)

	dep := newDeployment(ns, "web", 2, nil, "", "")
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindAllReady(t, c, ns, node.Name, 2)
	if err := c.AppsV1().Deployments(ns).Delete(ctx, dep.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(rss.Items) == 0 && len(pods.Items) == 0, nil
	}); err != nil {
		t.Fatalf("the deleted Deployment's ReplicaSet and pods were not collected: %v", err)
	}

	// What the namespace controller must delete: a bound, running pod and
	// an object of a kind the garbage collector does not own.
	pod := createPod(t, c, &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lone"},
		Spec:       v1.PodSpec{NodeName: node.Name, Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	})
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && podutil.IsPodReady(p), err
	}); err != nil {
		t.Fatalf("pod %s did not become ready: %v", pod.Name, err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("namespace %s was not deleted: %v", ns, err)
	}
}

// readyNode is a schedulable Node with the Ready condition and room for
// pods.
func readyNode(name string) *v1.Node {
	room := v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourceMemory: resource.MustParse("32Gi"), v1.ResourcePods: resource.MustParse("110")}
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.NodeStatus{
		Capacity: room, Allocatable: room,
		Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
	}}
}

// bindAllReady binds every unbound pod in ns to node through the Binding
// API, as a scheduler would, until want pods not being deleted are bound
// and Ready (the pod lifecycle simulator makes them so), and returns them.
func bindAllReady(t *testing.T, c kubernetes.Interface, ns, node string, want int) []v1.Pod {
	t.Helper()
	var ready []v1.Pod
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready = ready[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Spec.NodeName == "" {
				err := c.CoreV1().Pods(ns).Bind(ctx, &v1.Binding{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Name, UID: p.UID},
					Target:     v1.ObjectReference{Kind: "Node", Name: node},
				}, metav1.CreateOptions{})
				if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
					return false, fmt.Errorf("binding %s: %w", p.Name, err)
				}
				continue
			}
			if podutil.IsPodReady(&p) {
				ready = append(ready, p)
			}
		}
		return len(ready) == want && len(list.Items) == want, nil
	}); err != nil {
		t.Fatalf("%d pods of %s did not all become bound and ready (%d are): %v", want, ns, len(ready), err)
	}
	return ready
}

func evict(ctx context.Context, c kubernetes.Interface, pod v1.Pod) error {
	return c.PolicyV1().Evictions(pod.Namespace).Evict(ctx, &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name},
	})
}

// waitForPDB waits until the budget's status, observed at its current
// generation, satisfies ok.
func waitForPDB(t *testing.T, c kubernetes.Interface, ns, name, what string, ok func(policyv1.PodDisruptionBudgetStatus) bool) {
	t.Helper()
	var last policyv1.PodDisruptionBudgetStatus
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = pdb.Status
		return pdb.Status.ObservedGeneration == pdb.Generation && ok(pdb.Status), nil
	}); err != nil {
		t.Fatalf("PodDisruptionBudget %s/%s: want %s; status %+v: %v", ns, name, what, last, err)
	}
}

// newDeployment is a Deployment of replicas pause pods named name, selected
// by app=name, with podLabels added to the template, each requesting cpu
// (none when empty), for scheduler (the default one when empty).
func newDeployment(ns, name string, replicas int32, podLabels map[string]string, cpu, scheduler string) *appsv1.Deployment {
	lbls := map[string]string{"app": name}
	maps.Copy(lbls, podLabels)
	container := v1.Container{Name: name, Image: "registry.k8s.io/pause:3.10"}
	if cpu != "" {
		container.Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       v1.PodSpec{SchedulerName: scheduler, Containers: []v1.Container{container}},
			},
		},
	}
}
