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
	"net/netip"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func simPod(name, node string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{
			NodeName:       node,
			InitContainers: []v1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []v1.Container{{Name: "a", Image: "pause"}, {Name: "b", Image: "pause"}},
		},
		Status: v1.PodStatus{Phase: v1.PodPending, Conditions: []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionTrue}}},
	}
}

// TestPodLifecycleSync: one sync per pod does what a kubelet would, and
// leaves alone the pods a kubelet would not touch.
func TestPodLifecycleSync(t *testing.T) {
	ctx := context.Background()
	bound := simPod("bound", "node-a")
	unbound := simPod("unbound", "")
	unready := simPod("unready", "node-a")
	unready.Status.Phase = v1.PodRunning
	unready.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionFalse}}
	deleting := simPod("deleting", "node-a")
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	deleting.Finalizers = nil

	client := fake.NewClientset(bound, unbound, unready, deleting)
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, p := range []*v1.Pod{bound, unbound, unready, deleting} {
		if err := indexer.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	s := &podLifecycle{client: client, lister: corelisters.NewPodLister(indexer)}
	for _, key := range []string{"ns/bound", "ns/unbound", "ns/unready", "ns/deleting", "ns/gone"} {
		if err := s.sync(ctx, key); err != nil {
			t.Errorf("sync %s: %v", key, err)
		}
	}

	got, err := client.CoreV1().Pods("ns").Get(ctx, "bound", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.Phase != v1.PodRunning || st.StartTime == nil {
		t.Errorf("bound pod: phase %q, startTime %v; want Running with a start time", st.Phase, st.StartTime)
	}
	if ip, err := netip.ParseAddr(st.PodIP); err != nil || !ip.IsLoopback() || len(st.PodIPs) != 1 || st.PodIPs[0].IP != st.PodIP {
		t.Errorf("bound pod: podIP %q, podIPs %v; want one loopback address", st.PodIP, st.PodIPs)
	}
	for _, want := range []v1.PodConditionType{v1.PodScheduled, v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady} {
		n := 0
		for _, c := range st.Conditions {
			if c.Type == want {
				n++
				if c.Status != v1.ConditionTrue {
					t.Errorf("bound pod: condition %s is %s, want True", want, c.Status)
				}
			}
		}
		if n != 1 {
			t.Errorf("bound pod: %d conditions %s, want 1", n, want)
		}
	}
	if len(st.ContainerStatuses) != 2 {
		t.Errorf("bound pod: %d container statuses, want 2", len(st.ContainerStatuses))
	}
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready || cs.Started == nil || !*cs.Started || cs.State.Running == nil {
			t.Errorf("bound pod: container %s status %+v, want running, started and ready", cs.Name, cs)
		}
	}
	if len(st.InitContainerStatuses) != 1 || st.InitContainerStatuses[0].State.Terminated == nil || st.InitContainerStatuses[0].State.Terminated.ExitCode != 0 {
		t.Errorf("bound pod: init container statuses %+v, want one completed", st.InitContainerStatuses)
	}

	for _, p := range []*v1.Pod{unbound, unready} {
		got, err := client.CoreV1().Pods("ns").Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != p.Status.Phase || got.Status.PodIP != "" || len(got.Status.Conditions) != len(p.Status.Conditions) {
			t.Errorf("pod %s: status changed to %+v, want it left alone", p.Name, got.Status)
		}
	}
	if _, err := client.CoreV1().Pods("ns").Get(ctx, "deleting", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod marked for deletion: get returned %v, want it deleted for good", err)
	}

	// A second pass writes nothing: the running pod is skipped.
	if err := indexer.Update(got); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := s.sync(ctx, "ns/bound"); err != nil {
		t.Fatal(err)
	}
	if actions := client.Actions(); len(actions) != 0 {
		t.Errorf("a second sync of the running pod called the API: %v", actions)
	}
}

// TestPodLifecycleIPs: pod IPs are distinct loopback addresses.
func TestPodLifecycleIPs(t *testing.T) {
	s := &podLifecycle{}
	seen := map[string]bool{}
	for range 300 {
		ip := s.allocateIP()
		addr, err := netip.ParseAddr(ip)
		if err != nil || !addr.IsLoopback() || ip == "127.0.0.1" {
			t.Fatalf("allocated %q, want a loopback address other than 127.0.0.1", ip)
		}
		if seen[ip] {
			t.Fatalf("allocated %s twice", ip)
		}
		seen[ip] = true
	}
}

// TestRunPodLifecycle: the running loop starts a pod bound after it began,
// and returns nil when its context ends.
func TestRunPodLifecycle(t *testing.T) {
	client := fake.NewClientset()
	// The fake's watch ignores resource versions: a pod created between the
	// informer's list and its watch would be lost. Create it once the watch
	// is open (as client-go's fake-client example does).
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("pods", func(action k8stesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watching) })
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunPodLifecycle(ctx, client) }()
	<-watching
	if _, err := client.CoreV1().Pods("ns").Create(ctx, simPod("late", "node-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("ns").Get(ctx, "late", metav1.GetOptions{})
		return err == nil && p.Status.Phase == v1.PodRunning, err
	}); err != nil {
		t.Errorf("the pod did not start running: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunPodLifecycle returned %v after its context ended, want nil", err)
	}
}
