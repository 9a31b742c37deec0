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
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

// TestRoomMemo: a site the walk found full stays known full until one of
// its nodes changes in the scheduler's node snapshot (a pod added or
// removed gives the NodeInfo a new generation), until the pods of another
// plan are narrowed, and for at most roomMemoTTL; a plan no cache shares
// gets no memo.
func TestRoomMemo(t *testing.T) {
	sites := []*placementv1alpha1.Site{mkSite("a", "DE", []string{"EU"}, "0.05"), mkSite("b", "FR", []string{"EU"}, "0.05")}
	var nodes []*v1.Node
	for _, n := range []struct{ name, site string }{{"a-0", "a"}, {"a-1", "a"}, {"b-0", "b"}} {
		nodes = append(nodes, nodeInfo(n.name, n.site, "4", nil).Node())
	}
	policy := mkPolicy("p", 0, nil, cheapest)
	snap := state.Build(state.Objects{Sites: sites, Policies: []*placementv1alpha1.PlacementPolicy{policy}, Nodes: nodes})
	snap.Generation = 1
	infos := cache.NewSnapshot(nil, nodes).NodeInfos()
	plans := state.NewPlanCache(state.GPUResources{}, nil)
	plan := func(cpu string) *state.PodPlan {
		pp, err := plans.PlanPod(snap, st.MakePod().Namespace(ns).Name("x").Label(placementv1alpha1.PolicyLabel, "p").
			Req(map[v1.ResourceName]string{v1.ResourceCPU: cpu}).Obj())
		if err != nil {
			t.Fatal(err)
		}
		return pp
	}
	replica, other := plan("3"), plan("1")
	a, _ := snap.SiteIndex("a")
	b, _ := snap.SiteIndex("b")
	clock := time.Unix(0, 0)
	m := newRoomMemo()
	m.now = func() time.Time { return clock }

	v := m.forPlan(snap, replica, infos)
	v.FoundNoRoom(a)
	v.FoundNoRoom(b)
	if v := m.forPlan(snap, plan("3"), infos); !v.NoRoom(a) || !v.NoRoom(b) {
		t.Fatal("another replica does not see the sites found full")
	}
	// A pod leaves a-1: its NodeInfo changes, a may have room.
	ni, _ := infos.Get("a-1")
	pod := st.MakePod().Namespace(ns).Name("gone").UID("gone").Node("a-1").Obj()
	ni.(*framework.NodeInfo).AddPod(pod)
	if err := ni.(*framework.NodeInfo).RemovePod(klog.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if v := m.forPlan(snap, replica, infos); v.NoRoom(a) || !v.NoRoom(b) {
		t.Error("a changed node's site is still known full, or the other site forgotten")
	}
	// Another workload's pods: the memo starts again.
	if v := m.forPlan(snap, other, infos); v.NoRoom(b) {
		t.Error("another plan's pods were told its sites are full")
	}
	if v := m.forPlan(snap, replica, infos); v.NoRoom(b) {
		t.Error("the memo kept a plan's sites across another's")
	}
	// At most roomMemoTTL.
	m.forPlan(snap, replica, infos).FoundNoRoom(b)
	clock = clock.Add(roomMemoTTL + time.Millisecond)
	if v := m.forPlan(snap, replica, infos); v.NoRoom(b) {
		t.Error("the memo outlived its TTL")
	}
	// A plan of its own (no cache): no memo.
	own, err := snap.PlanPod(st.MakePod().Namespace(ns).Name("y").Label(placementv1alpha1.PolicyLabel, "p").Obj(), state.GPUResources{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.forPlan(snap, own, infos) != nil {
		t.Error("a plan no cache shares got a memo")
	}
}

// BenchmarkNarrowFilled is narrowing for a replica when the replicas before
// it filled the 400 best of 500 sites (ten nodes each): walking every full
// node (nomemo) against passing over the sites found full (memo).
func BenchmarkNarrowFilled(b *testing.B) {
	var (
		sites []*placementv1alpha1.Site
		nodes []*v1.Node
		pods  []*v1.Pod
	)
	for i := range 500 {
		s := mkSite(fmt.Sprintf("s%03d", i), "DE", []string{"EU"}, fmt.Sprintf("0.%03d", i+1))
		sites = append(sites, s)
		for j := range 10 {
			n := nodeInfo(fmt.Sprintf("%s-%d", s.Name, j), s.Name, "4", nil).Node()
			nodes = append(nodes, n)
			if i < 400 {
				pods = append(pods, st.MakePod().Namespace(ns).Name("fill-"+n.Name).UID("fill-"+n.Name).Node(n.Name).
					Req(map[v1.ResourceName]string{v1.ResourceCPU: "4"}).Obj())
			}
		}
	}
	policy := mkPolicy("p", 0, nil, cheapest)
	snap := state.Build(state.Objects{Sites: sites, Policies: []*placementv1alpha1.PlacementPolicy{policy}, Nodes: nodes})
	snap.Generation = 1
	infos := cache.NewSnapshot(pods, nodes).NodeInfos()
	pp, err := state.NewPlanCache(state.GPUResources{}, nil).PlanPod(snap, st.MakePod().Namespace(ns).Name("r").
		Label(placementv1alpha1.PolicyLabel, "p").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj())
	if err != nil {
		b.Fatal(err)
	}
	fit := func(name string) state.NodeFit {
		ni, err := infos.Get(name)
		if err != nil {
			return state.NodeUnknown
		}
		return pp.NodeFit(snap, ni)
	}
	for _, memo := range []bool{false, true} {
		b.Run(fmt.Sprintf("memo=%v", memo), func(b *testing.B) {
			m := newRoomMemo()
			var names int
			b.ReportAllocs()
			for b.Loop() {
				var rm state.RoomMemo
				if memo {
					rm = m.forPlan(snap, pp, infos)
				}
				got, _ := pp.Narrow(snap, 100, false, fit, rm)
				names = got.Len()
			}
			if names != 100 {
				b.Fatalf("%d candidates, want the 100 nodes of the ten best sites with room", names)
			}
		})
	}
}
