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
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned/fake"
	placementinformers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
)

// apply gives the index a full build gives, whatever the moves, and leaves
// the index it started from as it was (snapshots share it).
func TestNodeIndexApply(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		where := map[string]string{} // node -> site, the truth
		idx := buildNodeIndex(nil, false)
		for step := range 200 {
			var moves []nodeMove
			siteOf := idx.siteOf()
			for range 1 + rng.IntN(5) {
				name := fmt.Sprintf("n%d", rng.IntN(60))
				if moved(moves, name) {
					continue // one move per node per update, as the Model makes them
				}
				from, had := siteOf[name]
				to, has := fmt.Sprintf("s%d", rng.IntN(6)), rng.IntN(4) > 0
				if !has {
					to = ""
				}
				if had == has && from == to {
					continue
				}
				moves = append(moves, nodeMove{name: name, from: from, to: to, had: had, has: has})
				if has {
					where[name] = to
				} else {
					delete(where, name)
				}
			}
			before := buildNodeIndex(nodesAt(where), false)
			beforeCopy := cloneIndex(idx)
			// Some sites' sets made before the moves: the next index
			// keeps those the moves did not touch.
			for site := range idx.bySite {
				if rng.IntN(2) == 0 {
					idx.set(site)
				}
			}
			next := idx.apply(moves)
			if !idx.equal(beforeCopy) {
				t.Fatalf("seed %d step %d: apply modified the index it started from", seed, step)
			}
			if !next.equal(before) {
				t.Fatalf("seed %d step %d: after %+v\napplied %v (%d labelled)\nbuilt   %v (%d labelled)", seed, step, moves,
					next.bySite, next.labelled, before.bySite, before.labelled)
			}
			for _, x := range []*nodeIndex{idx, next} {
				x.sets.Range(func(site, set any) bool {
					if got, want := sets.List(set.(sets.Set[string])), x.bySite[site.(string)]; !slices.Equal(got, want) {
						t.Fatalf("seed %d step %d: site %s's set is %v, its nodes %v", seed, step, site, got, want)
					}
					return true
				})
			}
			idx = next
		}
	}
}

// runModel runs a Model over informers of the two clientsets, both started
// and synced, and returns it with a channel of the snapshots it publishes
// from then on (buffer deep; the Model blocks when it is full).
func runModel(ctx context.Context, tb testing.TB, client *fake.Clientset, core *k8sfake.Clientset, opts Options, buffer int) (*Model, chan *Snapshot) {
	tb.Helper()
	pf := placementinformers.NewSharedInformerFactory(client, 0)
	cf := informers.NewSharedInformerFactory(core, 0)
	p := pf.Placement().V1alpha1()
	m, err := NewModel(Informers{Sites: p.Sites().Informer(), Sources: p.TrafficSources().Informer(),
		Policies: p.PlacementPolicies().Informer(), Nodes: cf.Core().V1().Nodes().Informer()}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	published := make(chan *Snapshot, buffer)
	m.OnPublish(func(_ klog.Logger, s *Snapshot) { published <- s })
	pf.Start(ctx.Done())
	cf.Start(ctx.Done())
	cf.WaitForCacheSync(ctx.Done())
	if err := m.WaitForCacheSync(ctx, time.Minute); err != nil {
		tb.Fatal(err)
	}
	go m.Run(ctx)
	return m, published
}

func moved(moves []nodeMove, name string) bool {
	for _, m := range moves {
		if m.name == name {
			return true
		}
	}
	return false
}

func nodesAt(where map[string]string) []*v1.Node {
	var nodes []*v1.Node
	for name, site := range where {
		nodes = append(nodes, st.MakeNode().Name(name).Label(placementv1alpha1.SiteLabel, site).Obj())
	}
	return nodes
}

func cloneIndex(idx *nodeIndex) *nodeIndex {
	c := &nodeIndex{bySite: map[string][]string{}, labelled: idx.labelled}
	for s, names := range idx.bySite {
		c.bySite[s] = append([]string(nil), names...)
	}
	return c
}

// Under node churn (nodes joining, leaving, relabelled, unlabelled, flapping
// Ready/NotReady) the Model's index, updated from the changed nodes alone,
// always converges on the index of the whole list; a readiness flap
// publishes nothing.
func TestModelNodeChurn(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			rng := rand.New(rand.NewPCG(seed, 7))
			var objs []*v1.Node
			for i := range 40 {
				objs = append(objs, st.MakeNode().Name(fmt.Sprintf("n%d", i)).Label(placementv1alpha1.SiteLabel, fmt.Sprintf("s%d", i%8)).Obj())
			}
			core := k8sfake.NewSimpleClientset()
			for _, n := range objs {
				if _, err := core.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			m, published := runModel(ctx, t, fake.NewSimpleClientset(), core, Options{}, 1024)
			converged := func() *Snapshot {
				t.Helper()
				list, err := core.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var nodes []*v1.Node
				for i := range list.Items {
					nodes = append(nodes, &list.Items[i])
				}
				want := buildNodeIndex(nodes, false)
				if m.Load().nodes.equal(want) {
					return m.Load()
				}
				got, _ := waitFor(t, published, func(s *Snapshot) bool { return s.nodes.equal(want) })
				return got
			}
			converged()
			next := 40
			for step := range 60 {
				switch op := rng.IntN(5); op {
				case 0: // join
					n := st.MakeNode().Name(fmt.Sprintf("n%d", next)).Label(placementv1alpha1.SiteLabel, fmt.Sprintf("s%d", rng.IntN(10))).Obj()
					next++
					if _, err := core.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
						t.Fatal(err)
					}
				default: // leave, relabel, unlabel or flap an existing node
					list, _ := core.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
					if len(list.Items) == 0 {
						continue
					}
					n := list.Items[rng.IntN(len(list.Items))].DeepCopy()
					var err error
					switch op {
					case 1:
						err = core.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{})
					case 2:
						n.Labels[placementv1alpha1.SiteLabel] = fmt.Sprintf("s%d", rng.IntN(10))
						_, err = core.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
					case 3:
						delete(n.Labels, placementv1alpha1.SiteLabel)
						_, err = core.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
					case 4:
						n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionFalse}}
						_, err = core.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if rng.IntN(3) == 0 { // sometimes let changes pile up
					continue
				}
				t.Logf("step %d", step)
				converged()
			}
			// Flap every node: nothing the index reads changed, so nothing
			// is published; the next join publishes once. Once the index
			// has converged, an update still queued finds nothing to move
			// and publishes nothing.
			converged()
			drain(published)
			gen := m.Load().Generation
			list, _ := core.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			for i := range list.Items {
				n := &list.Items[i]
				n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionUnknown}}
				if _, err := core.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := core.CoreV1().Nodes().Create(ctx, st.MakeNode().Name("last").Label(placementv1alpha1.SiteLabel, "s0").Obj(), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			got := converged()
			if diff := cmp.Diff(gen+1, got.Generation); diff != "" {
				t.Errorf("generations published for %d readiness flaps and one join (-want,+got):\n%s", len(list.Items), diff)
			}
		})
	}
}

// BenchmarkNodeIndexUpdate: the index's update after one node of a fleet
// changed, by a full build of the list and by applying the one move.
func BenchmarkNodeIndexUpdate(b *testing.B) {
	for _, size := range []struct{ nodes, perSite int }{{5000, 10}, {20000, 10}, {50000, 5}} {
		var nodes []*v1.Node
		for i := range size.nodes {
			nodes = append(nodes, st.MakeNode().Name(fmt.Sprintf("edge-node-%06d", i)).
				Label(placementv1alpha1.SiteLabel, fmt.Sprintf("site-%d", i/size.perSite)).
				Label("topology.kubernetes.io/zone", fmt.Sprintf("site-%d", i/size.perSite)).Obj())
		}
		idx := buildNodeIndex(nodes, false)
		name := fmt.Sprintf("%dNodes_%dSites", size.nodes, size.nodes/size.perSite)
		b.Run(name+"/full", func(b *testing.B) {
			for b.Loop() {
				buildNodeIndex(nodes, false)
			}
		})
		b.Run(name+"/changed", func(b *testing.B) {
			mv := []nodeMove{{name: nodes[7].Name, from: "site-0", to: "site-1", had: true, has: true}}
			for b.Loop() {
				idx.apply(mv)
			}
		})
	}
}

// BenchmarkNodeEventToSnapshot is the time from a node joining (its create
// reaching the informer) to the Model publishing a snapshot with it, in a
// fleet of 20,000 nodes over 2,000 sites: NodeSettle plus the update.
func BenchmarkNodeEventToSnapshot(b *testing.B) {
	_, ctx := ktesting.NewTestContext(b)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	core := k8sfake.NewSimpleClientset()
	for i := range 20000 {
		n := st.MakeNode().Name(fmt.Sprintf("edge-node-%06d", i)).Label(placementv1alpha1.SiteLabel, fmt.Sprintf("site-%d", i/10)).Obj()
		if err := core.Tracker().Add(n); err != nil {
			b.Fatal(err)
		}
	}
	_, published := runModel(ctx, b, fake.NewSimpleClientset(), core, Options{}, 16)
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("joined-%d", i)
		i++
		if _, err := core.CoreV1().Nodes().Create(ctx, st.MakeNode().Name(name).Label(placementv1alpha1.SiteLabel, "site-7").Obj(), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for s := range published {
			if s.NumNodesIndexed() == 20000+i {
				break
			}
		}
	}
}
