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

package state

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned/fake"
	placementinformers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
)

// The Model publishes one snapshot per changed part, keeps the parts a
// change does not touch, and indexes nodes only from a complete list.
func TestModel(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := fake.NewSimpleClientset(
		site("paris", placementv1alpha1.TierEdge, "FR", "48.85", "2.35", ""),
		&placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eu"}},
	)
	core := k8sfake.NewSimpleClientset(st.MakeNode().Name("n1").Label(placementv1alpha1.SiteLabel, "paris").Obj())
	pf := placementinformers.NewSharedInformerFactory(client, 0)
	cf := informers.NewSharedInformerFactory(core, 0)
	p := pf.Placement().V1alpha1()
	m, err := NewModel(Informers{Sites: p.Sites().Informer(), Sources: p.TrafficSources().Informer(),
		Policies: p.PlacementPolicies().Informer(), Nodes: cf.Core().V1().Nodes().Informer()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan *Snapshot, 16)
	m.OnPublish(func(_ klog.Logger, s *Snapshot) { published <- s })
	pf.Start(ctx.Done())
	if err := m.WaitForCacheSync(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The node informer was not started: the first snapshot has sites and
	// policies but no node index.
	first := m.Load()
	if first.World.Sites.Len() != 1 || first.NumPolicies() != 1 || first.NodesIndexed() {
		t.Fatalf("first snapshot: %d sites, %d policies, nodes indexed %v; want 1, 1, false",
			first.World.Sites.Len(), first.NumPolicies(), first.NodesIndexed())
	}
	drain(published)
	go m.Run(ctx)
	cf.Start(ctx.Done())
	withNodes, before := waitFor(t, published, func(s *Snapshot) bool { return s.NodesIndexed() })
	if diff := cmp.Diff([]string{"n1"}, withNodes.NodesIn(0)); diff != "" {
		t.Errorf("nodes in paris (-want,+got):\n%s", diff)
	}
	if before == nil {
		before = first
	}
	if withNodes.World != before.World || withNodes.Generation <= before.Generation {
		t.Errorf("a node change rebuilt the site table or kept the generation (%d, %d)", before.Generation, withNodes.Generation)
	}

	// A new Site rebuilds the site table; the node index, keyed by label,
	// already places n2 (labelled before its Site existed) once it exists.
	if _, err := core.CoreV1().Nodes().Create(ctx, st.MakeNode().Name("n2").Label(placementv1alpha1.SiteLabel, "lyon").Obj(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _ = waitFor(t, published, func(s *Snapshot) bool { return s.NumNodesIndexed() == 2 })
	if _, err := client.PlacementV1alpha1().Sites().Create(ctx, site("lyon", placementv1alpha1.TierEdge, "FR", "45.76", "4.83", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withLyon, _ := waitFor(t, published, func(s *Snapshot) bool { return s.World.Sites.Len() == 2 })
	lyon, _ := withLyon.SiteIndex("lyon")
	if diff := cmp.Diff([]string{"n2"}, withLyon.NodesIn(lyon)); diff != "" {
		t.Errorf("nodes in lyon (-want,+got):\n%s", diff)
	}
	if first.World.Sites.Len() != 1 {
		t.Errorf("a published snapshot changed: %d sites", first.World.Sites.Len())
	}

	// A policy change leaves the site table alone.
	if err := client.PlacementV1alpha1().PlacementPolicies("shop").Delete(ctx, "eu", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	noPolicy, prev := waitFor(t, published, func(s *Snapshot) bool { return s.NumPolicies() == 0 })
	if prev == nil {
		prev = withLyon
	}
	if noPolicy.World != prev.World {
		t.Error("a policy change rebuilt the site table")
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p", Labels: map[string]string{placementv1alpha1.PolicyLabel: "eu"}}}
	if _, err := noPolicy.PolicyFor(pod); err == nil {
		t.Error("a pod naming a deleted policy resolved without error")
	}
	// A pod whose policy gate was lifted must have a policy; one that no
	// policy selects now fails closed, one with no such mark has none.
	required := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "q",
		Annotations: map[string]string{placementv1alpha1.PolicyRequiredAnnotation: "true"}}}
	var rq *PolicyRequiredError
	if _, err := noPolicy.PolicyFor(required); !errors.As(err, &rq) || !Unresolvable(err) {
		t.Errorf("a pod held for a policy that no policy selects: %v, want an unresolvable PolicyRequiredError", err)
	}
	if p, err := noPolicy.PolicyFor(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "r"}}); p != nil || err != nil {
		t.Errorf("a pod no policy selects: %v, %v; want none", p, err)
	}
}

func drain(ch chan *Snapshot) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// waitFor returns the first published snapshot that satisfies ok, and the
// one published just before it (nil if none was read).
func waitFor(t *testing.T, ch chan *Snapshot, ok func(*Snapshot) bool) (got, prev *Snapshot) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		for {
			select {
			case s := <-ch:
				if ok(s) {
					got = s
					return true, nil
				}
				prev = s
			default:
				return false, nil
			}
		}
	})
	if err != nil {
		t.Fatalf("no snapshot as expected was published: %v", err)
	}
	return got, prev
}

// With the legacy label accepted, a node that changes it moves site: the
// node handler requeues the index for it, and the Model indexes by it.
func TestModelLegacySiteLabel(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := fake.NewSimpleClientset(
		site("paris", placementv1alpha1.TierEdge, "FR", "48.85", "2.35", ""),
		site("lyon", placementv1alpha1.TierEdge, "FR", "45.76", "4.83", ""),
	)
	node := st.MakeNode().Name("n1").Label(placementv1alpha1.LegacySiteLabel, "paris").Obj()
	core := k8sfake.NewSimpleClientset(node)
	pf := placementinformers.NewSharedInformerFactory(client, 0)
	cf := informers.NewSharedInformerFactory(core, 0)
	p := pf.Placement().V1alpha1()
	m, err := NewModel(Informers{Sites: p.Sites().Informer(), Sources: p.TrafficSources().Informer(),
		Policies: p.PlacementPolicies().Informer(), Nodes: cf.Core().V1().Nodes().Informer()}, Options{AcceptLegacySiteLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan *Snapshot, 16)
	m.OnPublish(func(_ klog.Logger, s *Snapshot) { published <- s })
	pf.Start(ctx.Done())
	cf.Start(ctx.Done())
	cf.WaitForCacheSync(ctx.Done())
	if err := m.WaitForCacheSync(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	inSite := func(s *Snapshot, name string) []string {
		i, _ := s.SiteIndex(name)
		return s.NodesIn(i)
	}
	if diff := cmp.Diff([]string{"n1"}, inSite(m.Load(), "paris")); diff != "" {
		t.Fatalf("nodes in paris (-want,+got):\n%s", diff)
	}
	drain(published)
	node = node.DeepCopy()
	node.Labels[placementv1alpha1.LegacySiteLabel] = "lyon"
	if _, err := core.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	moved, _ := waitFor(t, published, func(s *Snapshot) bool { return len(inSite(s, "lyon")) == 1 })
	if got := inSite(moved, "paris"); len(got) != 0 {
		t.Errorf("nodes still in paris: %v", got)
	}
}
