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
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/test/harness"
)

const (
	proximaScheduler = "proxima-scheduler"
	// waitTimeout bounds every wait for something that must happen (a
	// binding, a process starting, a lease changing hands); a passing test
	// never waits this long, a starved CI machine may need most of it.
	waitTimeout = time.Minute
)

// TestSecondaryScheduler checks that proxima-scheduler, built from the shipped
// configuration, binds the pods that select it, leaves the others alone and
// reports why a pod that fits nowhere stays pending.
func TestSecondaryScheduler(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	ctx := context.Background()
	ns := createNamespace(t, cp.Client, "secondary")
	createNode(t, cp.Client, st.MakeNode().Name("node-a").Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "8Gi"}).Obj())
	harness.StartScheduler(t, cp, schedulerConfig)

	other := createPod(t, cp.Client, st.MakePod().Namespace(ns).Name("default-pod").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).Obj())
	ours := createPod(t, cp.Client, st.MakePod().Namespace(ns).Name("proxima-pod").SchedulerName(proximaScheduler).
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).Obj())
	huge := createPod(t, cp.Client, st.MakePod().Namespace(ns).Name("huge-pod").SchedulerName(proximaScheduler).
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "64"}).Obj())

	if node := waitForBinding(t, cp.Client, ours); node != "node-a" {
		t.Errorf("pod %s bound to %q, want node-a", ours.Name, node)
	}
	msg := waitForEvent(t, cp.Client, huge, "FailedScheduling")
	if !strings.Contains(msg, "Insufficient cpu") {
		t.Errorf("FailedScheduling event for %s says %q, want it to name Insufficient cpu", huge.Name, msg)
	}
	// Both pods above went through the scheduler after default-pod was
	// created, so a scheduler that wrongly took default-pod has had its turn.
	got, err := cp.Client.CoreV1().Pods(ns).Get(ctx, other.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "" {
		t.Errorf("pod %s with schedulerName %q was bound by proxima-scheduler to %s", other.Name, got.Spec.SchedulerName, got.Spec.NodeName)
	}
	events := podEvents(t, cp.Client, other)
	if len(events) != 0 {
		t.Errorf("pod %s has events %v, want none from proxima-scheduler", other.Name, events)
	}
}

func createNamespace(t *testing.T, c kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := c.CoreV1().Namespaces().Create(context.Background(),
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func createNode(t *testing.T, c kubernetes.Interface, node *v1.Node) *v1.Node {
	t.Helper()
	n, err := c.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node %s: %v", node.Name, err)
	}
	return n
}

func createPod(t *testing.T, c kubernetes.Interface, pod *v1.Pod) *v1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	return p
}

// waitForBinding waits until the pod is bound and returns its node.
func waitForBinding(t *testing.T, c kubernetes.Interface, pod *v1.Pod) string {
	t.Helper()
	var node string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s was not bound: %v (events: %v)", pod.Namespace, pod.Name, err, podEvents(t, c, pod))
	}
	return node
}

// waitForEvent waits for an event with the reason on the pod and returns its message.
func waitForEvent(t *testing.T, c kubernetes.Interface, pod *v1.Pod, reason string) string {
	t.Helper()
	var msg string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		for _, e := range podEvents(t, c, pod) {
			if e.Reason == reason {
				msg = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s event on pod %s/%s: %v (events: %v)", reason, pod.Namespace, pod.Name, err, podEvents(t, c, pod))
	}
	return msg
}

// placementOf waits for the pod's binding and returns the placement
// annotation the scheduler wrote with it ("" when there is none).
func placementOf(t *testing.T, c kubernetes.Interface, pod *v1.Pod) string {
	t.Helper()
	waitForBinding(t, c, pod)
	p, err := c.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Annotations[placementv1alpha1.PlacementAnnotation]
}

type eventSummary struct{ Reason, Message string }

func (e eventSummary) String() string { return fmt.Sprintf("%s: %s", e.Reason, e.Message) }

func podEvents(t *testing.T, c kubernetes.Interface, pod *v1.Pod) []eventSummary {
	t.Helper()
	sel := fields.Set{"regarding.name": pod.Name, "regarding.namespace": pod.Namespace}.AsSelector().String()
	list, err := c.EventsV1().Events(pod.Namespace).List(context.Background(), metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]eventSummary, 0, len(list.Items))
	for _, e := range list.Items {
		out = append(out, eventSummary{Reason: e.Reason, Message: e.Note})
	}
	return out
}
