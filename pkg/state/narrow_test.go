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
	"fmt"
	"reflect"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// mapMemo is a RoomMemo that knows what it is told.
type mapMemo struct {
	noRoom sets.Set[int]
	found  []int
}

func (m *mapMemo) NoRoom(site int) bool { return m.noRoom.Has(site) }
func (m *mapMemo) FoundNoRoom(site int) { m.found = append(m.found, site) }

// rankedSites is a world of edge sites named by names, each with perSite
// nodes ("a-0", "a-1", ...) and ranked in that order by a latency-led
// policy, and the plan of a pod of that policy.
func rankedSites(t *testing.T, names []string, perSite int) (*Snapshot, *PodPlan) {
	t.Helper()
	var (
		sites []*placementv1alpha1.Site
		rtts  []placementv1alpha1.SiteRTT
		nodes []*v1.Node
	)
	for k, s := range names {
		sites = append(sites, site(s, placementv1alpha1.TierEdge, "FR", "", "", ""))
		rtts = append(rtts, placementv1alpha1.SiteRTT{Site: s, Milliseconds: int32(5 * (k + 1))})
		for i := range perSite {
			nodes = append(nodes, st.MakeNode().Name(fmt.Sprintf("%s-%d", s, i)).Label(placementv1alpha1.SiteLabel, s).Obj())
		}
	}
	sources := []*placementv1alpha1.TrafficSource{{ObjectMeta: metav1.ObjectMeta{Name: "users"},
		Spec: placementv1alpha1.TrafficSourceSpec{RTTs: rtts}}}
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: placementv1alpha1.PlacementPolicySpec{Latency: &placementv1alpha1.LatencyPolicy{
			Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}}}}
	snap := Build(Objects{Sites: sites, Sources: sources, Policies: []*placementv1alpha1.PlacementPolicy{policy}, Nodes: nodes})
	pp, err := snap.PlanPod(st.MakePod().Namespace("ns").Name("x").Label(placementv1alpha1.PolicyLabel, "p").Obj(), GPUResources{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap, pp
}

// TestNarrowPassesOverFullSites: sites a, b and c rank in that order, two
// nodes each. Narrowing tells the memo of every site whose nodes were all
// full (not of one with an excluded node), passes over the sites the memo
// names without asking about their nodes, and gives the same candidates as
// without the memo; when the memo's sites leave nothing usable it walks
// again without it, so that the pod gets every feasible site's nodes; a
// wide narrowing does not read the memo.
func TestNarrowPassesOverFullSites(t *testing.T) {
	snap, pp := rankedSites(t, []string{"a", "b", "c"}, 2)
	idx := func(name string) int { i, _ := snap.SiteIndex(name); return i }
	if got := pp.Plan.Ranked(); len(got) != 3 || int(got[0]) != idx("a") || int(got[2]) != idx("c") {
		t.Fatalf("sites rank %v, want a, b, c", got)
	}

	for _, tc := range []struct {
		name string
		// fits of the nodes; absent: usable.
		fits     map[string]NodeFit
		memo     []string // sites the memo says have no room
		wide     bool
		want     []string // candidates
		asked    []string // nodes fit was asked about (nil: every node)
		found    []string // sites told to the memo
		narrowed bool
	}{{
		name: "full sites are told", fits: map[string]NodeFit{"a-0": NodeFull, "a-1": NodeFull, "b-0": NodeFull, "b-1": NodeExcluded},
		want: []string{"c-0", "c-1"}, found: []string{"a"}, narrowed: true,
	}, {
		name: "known full sites are passed over", fits: map[string]NodeFit{"a-0": NodeFull, "a-1": NodeFull, "b-0": NodeFull, "b-1": NodeFull},
		memo: []string{"a", "b"}, want: []string{"c-0", "c-1"}, asked: []string{"c-0", "c-1"}, narrowed: true,
	}, {
		name: "nothing usable past the memo's sites: every feasible site's nodes",
		fits: map[string]NodeFit{"a-0": NodeFull, "a-1": NodeFull, "b-0": NodeFull, "b-1": NodeFull, "c-0": NodeFull, "c-1": NodeExcluded},
		memo: []string{"a", "b"}, want: []string{"a-0", "a-1", "b-0", "b-1", "c-0", "c-1"},
	}, {
		name: "wide: the memo is not read", fits: map[string]NodeFit{"a-0": NodeFull, "a-1": NodeFull},
		memo: []string{"a"}, wide: true, want: []string{"a-0", "a-1", "b-0", "b-1", "c-0", "c-1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			fit := func(name string) NodeFit {
				asked = append(asked, name)
				if f, ok := tc.fits[name]; ok {
					return f
				}
				return NodeUsable
			}
			memo := &mapMemo{noRoom: sets.New[int]()}
			for _, s := range tc.memo {
				memo.noRoom.Insert(idx(s))
			}
			names, narrowed := pp.Narrow(snap, 100, tc.wide, fit, memo)
			if got := sets.List(names); !slices.Equal(got, tc.want) {
				t.Errorf("candidates %v, want %v", got, tc.want)
			}
			if narrowed != tc.narrowed {
				t.Errorf("narrowed %v, want %v", narrowed, tc.narrowed)
			}
			if tc.asked != nil {
				slices.Sort(asked)
				if !slices.Equal(asked, tc.asked) {
					t.Errorf("asked about %v, want only %v", asked, tc.asked)
				}
			}
			var found []string
			for _, i := range memo.found {
				found = append(found, snap.World.Sites.Names[i])
			}
			if !slices.Equal(found, tc.found) {
				t.Errorf("told the memo %v, want %v", found, tc.found)
			}
			// Without a memo: the same candidates.
			plain, _ := pp.Narrow(snap, 100, tc.wide, fit, nil)
			if !plain.Equal(names) {
				t.Errorf("without the memo: %v, with it: %v", sets.List(plain), sets.List(names))
			}
		})
	}
}

// TestNarrowSharesTheBestSite: when the candidates are exactly the nodes
// of the best site (it holds minCandidates usable nodes and fit knows every
// one), Narrow answers with the snapshot's shared set of that site's nodes
// instead of a new set; otherwise with a set of its own, and the shared
// sets stay what they were.
func TestNarrowSharesTheBestSite(t *testing.T) {
	snap, pp := rankedSites(t, []string{"a", "b"}, 3)
	shared := func(s string) sets.Set[string] { return snap.nodes.set(s) }
	same := func(a, b sets.Set[string]) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	for _, tc := range []struct {
		name   string
		fits   map[string]NodeFit // absent: usable
		min    int
		wide   bool
		want   []string
		shared bool
	}{{
		name: "the best site is the answer", min: 3, want: []string{"a-0", "a-1", "a-2"}, shared: true,
	}, {
		name: "its unusable nodes are kept", fits: map[string]NodeFit{"a-0": NodeFull, "a-2": NodeExcluded}, min: 1,
		want: []string{"a-0", "a-1", "a-2"}, shared: true,
	}, {
		name: "a node fit does not know is left out", fits: map[string]NodeFit{"a-1": NodeUnknown}, min: 2,
		want: []string{"a-0", "a-2"},
	}, {
		name: "a second site completes the count", fits: map[string]NodeFit{"a-1": NodeFull}, min: 3,
		want: []string{"a-0", "a-1", "a-2", "b-0"},
	}, {
		name: "the best site full: the next", fits: map[string]NodeFit{"a-0": NodeFull, "a-1": NodeFull, "a-2": NodeFull}, min: 3,
		want: []string{"b-0", "b-1", "b-2"}, shared: true,
	}, {
		name: "wide", min: 3, wide: true, want: []string{"a-0", "a-1", "a-2", "b-0", "b-1", "b-2"},
	}, {
		name: "nothing usable", fits: map[string]NodeFit{"a-0": NodeFull, "a-1": NodeFull, "a-2": NodeFull, "b-0": NodeExcluded, "b-1": NodeExcluded, "b-2": NodeFull},
		min: 3, want: []string{"a-0", "a-1", "a-2", "b-0", "b-1", "b-2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fit := func(name string) NodeFit {
				if f, ok := tc.fits[name]; ok {
					return f
				}
				return NodeUsable
			}
			names, _ := pp.Narrow(snap, tc.min, tc.wide, fit, nil)
			if got := sets.List(names); !slices.Equal(got, tc.want) {
				t.Errorf("candidates %v, want %v", got, tc.want)
			}
			if got := same(names, shared("a")) || same(names, shared("b")); got != tc.shared {
				t.Errorf("answered with a site's shared set: %v, want %v", got, tc.shared)
			}
			for _, s := range []string{"a", "b"} {
				i, _ := snap.SiteIndex(s)
				if got := sets.List(shared(s)); !slices.Equal(got, snap.NodesIn(i)) {
					t.Errorf("site %s's shared set is %v, want its nodes %v", s, got, snap.NodesIn(i))
				}
			}
		})
	}
}
