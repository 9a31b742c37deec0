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
	"slices"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// TestPlanCache: replicas (one policy, one set of requests) on one snapshot
// share one evaluation and each has its own node admission; other requests,
// another snapshot or another policy are planned afresh; a plan on an older
// snapshot is made but does not evict the newer snapshot's; every plan
// equals PlanPod's.
func TestPlanCache(t *testing.T) {
	sites := []*placementv1alpha1.Site{
		site("paris", placementv1alpha1.TierRegional, "FR", "48.8566", "2.3522", "0.05", "EU"),
		site("frankfurt", placementv1alpha1.TierCloud, "DE", "50.1109", "8.6821", "0.03", "EU"),
	}
	policies := []*placementv1alpha1.PlacementPolicy{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, Spec: placementv1alpha1.PlacementPolicySpec{}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}, Spec: placementv1alpha1.PlacementPolicySpec{
			Tiers: []placementv1alpha1.SiteTier{placementv1alpha1.TierCloud}}},
	}
	build := func(gen uint64) *Snapshot {
		s := Build(Objects{Sites: sites, Policies: policies})
		s.Generation = gen
		return s
	}
	pod := func(policy, cpu string, tolerate bool) *v1.Pod {
		p := st.MakePod().Namespace("ns").Name("x").Label(placementv1alpha1.PolicyLabel, policy).Req(map[v1.ResourceName]string{v1.ResourceCPU: cpu}).Obj()
		if tolerate {
			p.Spec.Tolerations = []v1.Toleration{{Key: "edge", Operator: v1.TolerationOpExists}}
		}
		return p
	}
	gpus := NewGPUResources(nil)
	same := func(a, b *PodPlan) bool { return &a.Plan.Ranked()[0] == &b.Plan.Ranked()[0] }
	check := func(snap *Snapshot, got *PodPlan, p *v1.Pod) {
		t.Helper()
		want, err := snap.PlanPod(p, gpus, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Plan.Ranked(), want.Plan.Ranked()) || got.Plan.SiteCost(0) != want.Plan.SiteCost(0) ||
			got.CPUMilli() != want.CPUMilli() || got.Policy.Name != want.Policy.Name ||
			len(got.Admission.tolerations) != len(want.Admission.tolerations) {
			t.Errorf("cached plan differs from PlanPod's")
		}
	}
	c := NewPlanCache(gpus, nil)
	plan := func(snap *Snapshot, p *v1.Pod) *PodPlan {
		t.Helper()
		pp, err := c.PlanPod(snap, p)
		if err != nil || pp == nil {
			t.Fatalf("PlanPod: %v, %v", pp, err)
		}
		check(snap, pp, p)
		return pp
	}

	s1 := build(1)
	first, replica, tolerant := plan(s1, pod("a", "1", false)), plan(s1, pod("a", "1", false)), plan(s1, pod("a", "1", true))
	if !same(first, replica) || !same(first, tolerant) {
		t.Error("replicas on one snapshot were evaluated again")
	}
	if len(first.Admission.tolerations) != 0 || len(tolerant.Admission.tolerations) != 1 {
		t.Error("a replica's node admission leaked into another's")
	}
	if other := plan(s1, pod("a", "2", false)); same(first, other) {
		t.Error("other requests shared a plan")
	}
	if other := plan(s1, pod("b", "1", false)); same(first, other) {
		t.Error("another policy shared a plan")
	}
	s2 := build(2)
	newer := plan(s2, pod("a", "1", false))
	if same(first, newer) {
		t.Error("a newer snapshot reused the older one's plan")
	}
	if older := plan(s1, pod("a", "1", false)); same(first, older) || same(newer, older) {
		t.Error("a plan on an older snapshot came from a cache")
	}
	if again := plan(s2, pod("a", "1", false)); !same(newer, again) {
		t.Error("planning on an older snapshot evicted the newer one's plans")
	}
	if pp, err := c.PlanPod(s2, st.MakePod().Namespace("ns").Name("none").Obj()); pp != nil || err != nil {
		t.Errorf("a pod without a policy: %v, %v", pp, err)
	}
	if _, err := c.PlanPod(s2, pod("missing", "1", false)); err == nil {
		t.Error("a pod naming a missing policy was planned")
	}

	// Concurrent use (go test -race).
	s3 := build(3)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				snap := s3
				if i%2 == 0 {
					snap = s2
				}
				if _, err := c.PlanPod(snap, pod("a", "1", i%3 == 0)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
