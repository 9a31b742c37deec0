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

package simulate

import (
	"fmt"
	"maps"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// TestChooseAgainAndReserve: a pod bound in the slower site would be
// placed in the faster one, whose room its own requests do not take; once
// that room is reserved for another pod, it would stay; and asking leaves
// the world as it was.
func TestChooseAgainAndReserve(t *testing.T) {
	var sites []*placementv1alpha1.Site
	var nodes []*v1.Node
	for _, name := range []string{"near", "far"} {
		sites = append(sites, &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierEdge, Country: "FR"}})
		nodes = append(nodes, st.MakeNode().Name(name+"-0").Label(placementv1alpha1.SiteLabel, name).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "1", v1.ResourceMemory: "1Gi", v1.ResourcePods: "10"}).Obj())
	}
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}, Spec: placementv1alpha1.TrafficSourceSpec{
		RTTs: []placementv1alpha1.SiteRTT{{Site: "near", Milliseconds: 5}, {Site: "far", Milliseconds: 30}}}}
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}},
		Weights: &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)}}}
	pod := func(name, node string) *v1.Pod {
		return st.MakePod().Namespace("ns").Name(name).UID(name).Label(placementv1alpha1.PolicyLabel, "p").
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Node(node).Obj()
	}
	inFar, other := pod("a", "far-0"), pod("b", "")
	w := NewWorld(sites, []*placementv1alpha1.TrafficSource{src}, []*placementv1alpha1.PlacementPolicy{policy}, nodes,
		[]*v1.Pod{inFar}, Settings{})
	pp, err := w.Snap.PlanPod(inFar, w.Settings.GPUs, w)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := w.ChooseAgain(pp, inFar); !ok || c.Node != "near-0" {
		t.Fatalf("ChooseAgain = %+v, %v; want near-0", c, ok)
	}
	if n := len(w.Nodes["far-0"].GetPods()); n != 1 {
		t.Fatalf("ChooseAgain left %d pods on far-0, want the pod back", n)
	}
	w.Reserve(other, "near-0")
	if c, ok := w.ChooseAgain(pp, inFar); !ok || c.Node != "far-0" {
		t.Errorf("with near-0 reserved, ChooseAgain = %+v, %v; want far-0 (its own node)", c, ok)
	}
}

// TestChooseHonoursHostPorts: a pod asking for a host port that the best
// site's only node already serves goes to the next site, as the
// scheduler's NodePorts filter would send it.
func TestChooseHonoursHostPorts(t *testing.T) {
	withPort := func(p *v1.Pod) *v1.Pod {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 8080, HostPort: 8080, Protocol: v1.ProtocolTCP}}
		return p
	}
	var sites []*placementv1alpha1.Site
	var nodes []*v1.Node
	for _, name := range []string{"near", "far"} {
		sites = append(sites, &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierEdge, Country: "FR"}})
		nodes = append(nodes, st.MakeNode().Name(name+"-0").Label(placementv1alpha1.SiteLabel, name).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "4Gi", v1.ResourcePods: "10"}).Obj())
	}
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}, Spec: placementv1alpha1.TrafficSourceSpec{
		RTTs: []placementv1alpha1.SiteRTT{{Site: "near", Milliseconds: 5}, {Site: "far", Milliseconds: 30}}}}
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}},
		Weights: &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)}}}
	pod := func(name, node string) *v1.Pod {
		return withPort(st.MakePod().Namespace("ns").Name(name).UID(name).Label(placementv1alpha1.PolicyLabel, "p").
			Container("registry.k8s.io/pause:3.10").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Node(node).Obj())
	}
	taken, next := pod("a", "near-0"), pod("b", "")
	w := NewWorld(sites, []*placementv1alpha1.TrafficSource{src}, []*placementv1alpha1.PlacementPolicy{policy}, nodes,
		[]*v1.Pod{taken}, Settings{})
	pp, err := w.Snap.PlanPod(next, w.Settings.GPUs, w)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := w.Choose(pp, next); !ok || c.Node != "far-0" {
		t.Errorf("Choose = %+v, %v; want far-0 (port 8080 is taken on near-0)", c, ok)
	}
}

// TestPlaceSpread: six replicas of one ReplicaSet under spread.minSites 2
// fill the two best feasible sites 3/3 while the third, best-scoring but
// excluded by residency, takes none; another workload of the policy is
// counted on its own; and a replica in the second site would not be moved
// to the first, which would break the spread.
func TestPlaceSpread(t *testing.T) {
	var sites []*placementv1alpha1.Site
	var nodes []*v1.Node
	rtts := []placementv1alpha1.SiteRTT{{Site: "de", Milliseconds: 1}, {Site: "near", Milliseconds: 5}, {Site: "mid", Milliseconds: 10}, {Site: "far", Milliseconds: 30}}
	for _, s := range []struct{ name, country string }{{"de", "DE"}, {"near", "FR"}, {"mid", "FR"}, {"far", "FR"}} {
		sites = append(sites, &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: s.name},
			Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierEdge, Country: s.country}})
		nodes = append(nodes, st.MakeNode().Name(s.name+"-0").Label(placementv1alpha1.SiteLabel, s.name).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "8", v1.ResourceMemory: "8Gi", v1.ResourcePods: "20"}).Obj())
	}
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}, Spec: placementv1alpha1.TrafficSourceSpec{RTTs: rtts}}
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"FR"}}},
		Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}},
		Spread:    &placementv1alpha1.SpreadPolicy{MinSites: ptr.To[int32](2)},
		Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)}}}
	pod := func(name, owner string) *v1.Pod {
		return st.MakePod().Namespace("ns").Name(name).UID(name).Label(placementv1alpha1.PolicyLabel, "p").
			OwnerReference(owner, metav1.SchemeGroupVersion.WithKind("ReplicaSet")).
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).Obj()
	}
	w := NewWorld(sites, []*placementv1alpha1.TrafficSource{src}, []*placementv1alpha1.PlacementPolicy{policy}, nodes, nil, Settings{})
	perSite := map[string]int{}
	var placed []*v1.Pod
	for i := range 6 {
		p := pod(fmt.Sprintf("web-%d", i), "web")
		pp, err := w.PlanPod(p)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := w.Place(pp, p)
		if !ok {
			t.Fatalf("replica %d not placed", i)
		}
		perSite[w.Snap.World.Sites.Names[c.Site]]++
		p.Spec.NodeName = c.Node
		placed = append(placed, p)
	}
	if want := map[string]int{"near": 3, "mid": 3}; !maps.Equal(perSite, want) {
		t.Errorf("replicas per site %v, want %v", perSite, want)
	}
	other := pod("api-0", "api")
	pp, err := w.PlanPod(other)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := w.Choose(pp, other); !ok || c.Node != "near-0" {
		t.Errorf("another workload's first pod goes to %+v, %v; want near-0 (the web replicas are not its own)", c, ok)
	}
	for _, p := range placed {
		if p.Spec.NodeName != "mid-0" {
			continue
		}
		pp, err := w.PlanPod(p)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := w.ChooseAgain(pp, p); !ok || c.Node != "mid-0" {
			t.Errorf("a replica in mid would be placed on %+v, %v now; want mid-0 (near has one more)", c, ok)
		}
		break
	}
}
