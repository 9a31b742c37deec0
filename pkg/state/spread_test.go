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
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// BenchmarkSpread is the spread rule's cost for one pod: a pass over the
// pods of the feasible sites' nodes (2,000 sites of 10 nodes, 10 pods on
// each node, 60 of them the workload's), with the policy allowing every
// site and a tenth of them.
func BenchmarkSpread(b *testing.B) {
	const nSites, perSite, perNode = 2000, 10, 10
	var sites []*placementv1alpha1.Site
	infos := map[string]fwk.NodeInfo{}
	var nodes []*v1.Node
	web := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "web", Controller: ptr.To(true)}
	placed := 0
	for s := range nSites {
		name := fmt.Sprintf("site-%04d", s)
		country := "FR"
		if s%10 != 0 {
			country = "DE"
		}
		sites = append(sites, site(name, placementv1alpha1.TierEdge, country, "48", "2", ""))
		for n := range perSite {
			node := st.MakeNode().Name(fmt.Sprintf("%s-%d", name, n)).Label(placementv1alpha1.SiteLabel, name).Obj()
			nodes = append(nodes, node)
			ni := framework.NewNodeInfo()
			ni.SetNode(node)
			for k := range perNode {
				p := st.MakePod().Namespace("shop").Name(fmt.Sprintf("%s-%d", node.Name, k)).UID(fmt.Sprintf("%s-%d", node.Name, k)).
					Label(placementv1alpha1.PolicyLabel, "web").Obj()
				if k == 0 && n == 0 && placed < 60 && s%7 == 0 {
					p.OwnerReferences = []metav1.OwnerReference{web}
					placed++
				}
				ni.AddPod(p)
			}
			infos[node.Name] = ni
		}
	}
	node := func(name string) fwk.NodeInfo { return infos[name] }
	for _, tc := range []struct {
		name      string
		residency *placementv1alpha1.Residency
	}{
		{"AllSites", nil},
		{"TenthOfSites", &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"FR"}}}},
	} {
		policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec: placementv1alpha1.PlacementPolicySpec{Residency: tc.residency, Spread: &placementv1alpha1.SpreadPolicy{MinSites: ptr.To[int32](3)}}}
		snap := Build(Objects{Sites: sites, Nodes: nodes, Policies: []*placementv1alpha1.PlacementPolicy{policy}})
		pod := st.MakePod().Namespace("shop").Name("new").UID("new").Label(placementv1alpha1.PolicyLabel, "web").Obj()
		pod.OwnerReferences = []metav1.OwnerReference{web}
		pp, err := snap.PlanPod(pod, GPUResources{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			var v *scoring.SpreadVerdict
			b.ReportAllocs()
			for b.Loop() {
				v = pp.Spread(snap, pod, node)
			}
			if v == nil || v.UsedSites() == 0 {
				b.Fatalf("the workload was not counted: %+v", v)
			}
			b.ReportMetric(float64(pp.Plan.NumFeasible()), "sites")
		})
	}
}
