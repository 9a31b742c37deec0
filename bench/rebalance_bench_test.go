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

package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/rebalance"
	"github.com/proxima-sched/proxima/pkg/simulate"
)

// maxDeclaredRTTs is how many RTTs a TrafficSource may declare (the CRD's
// limit).
const maxDeclaredRTTs = 2000

// fleetObjects are a world's objects: sites sites of nodesPerSite 32-CPU
// nodes, sources sources with an RTT to every site (to a random 1,000 of
// them, and a location, beyond maxDeclaredRTTs sites), one latency-led policy
// over all sources (namespace bench, name p), and pods of it bound at
// random nodes.
type fleetObjects struct {
	sites   []*placementv1alpha1.Site
	sources []*placementv1alpha1.TrafficSource
	policy  *placementv1alpha1.PlacementPolicy
	nodes   []*v1.Node
	pods    []*v1.Pod
}

func makeFleet(sites, nodesPerSite, sources, pods int) fleetObjects {
	rng := rand.New(rand.NewPCG(1, 2))
	var f fleetObjects
	for s := range sites {
		name := fmt.Sprintf("site-%d", s)
		f.sites = append(f.sites, &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
			Tier: placementv1alpha1.TierEdge, Country: "FR",
			Location: placementv1alpha1.GeoLocation{Latitude: fmt.Sprintf("%.3f", 43+rng.Float64()*7), Longitude: fmt.Sprintf("%.3f", -4+rng.Float64()*12)},
			Pricing:  &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse("0.05"))}}})
		for n := range nodesPerSite {
			f.nodes = append(f.nodes, st.MakeNode().Name(fmt.Sprintf("%s-%d", name, n)).Label(placementv1alpha1.SiteLabel, name).
				Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "32", v1.ResourceMemory: "128Gi", v1.ResourcePods: "110"}).Obj())
		}
	}
	f.policy = &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "bench"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Latency: &placementv1alpha1.LatencyPolicy{}, Weights: &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
		Rebalance: &placementv1alpha1.RebalancePolicy{Mode: placementv1alpha1.RebalanceOn}}}
	for j := range sources {
		src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("src-%d", j)}}
		if sites <= maxDeclaredRTTs {
			for s := range sites {
				src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: fmt.Sprintf("site-%d", s), Milliseconds: 1 + rng.Int32N(150)})
			}
		} else {
			// More sites than a TrafficSource may declare: RTTs to a
			// random 1,000, the rest estimated from the locations.
			src.Spec.Location = &placementv1alpha1.GeoLocation{Latitude: fmt.Sprintf("%.3f", 43+rng.Float64()*7), Longitude: fmt.Sprintf("%.3f", -4+rng.Float64()*12)}
			for _, s := range rng.Perm(sites)[:1000] {
				src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: fmt.Sprintf("site-%d", s), Milliseconds: 1 + rng.Int32N(150)})
			}
		}
		f.sources = append(f.sources, src)
		f.policy.Spec.Latency.Sources = append(f.policy.Spec.Latency.Sources, placementv1alpha1.SourceWeight{Name: src.Name})
	}
	for i := range pods {
		p := st.MakePod().Namespace("bench").Name(fmt.Sprintf("pod-%d", i)).UID(fmt.Sprintf("pod-%d", i)).
			Label(placementv1alpha1.PolicyLabel, "p").Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).
			Node(f.nodes[rng.IntN(len(f.nodes))].Name).Obj()
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: types.UID("rs"), Controller: ptr.To(true)}}
		f.pods = append(f.pods, p)
	}
	return f
}

// rebalanceWorld is makeFleet's world, and its pods.
func rebalanceWorld(sites, nodesPerSite, sources, pods int) (*simulate.World, []*v1.Pod) {
	f := makeFleet(sites, nodesPerSite, sources, pods)
	w := simulate.NewWorld(f.sites, f.sources, []*placementv1alpha1.PlacementPolicy{f.policy}, f.nodes, f.pods, simulate.Settings{})
	return w, f.pods
}

// BenchmarkRebalanceJudge is the rebalancer's work per round: build the
// world from the model's snapshot and the listed nodes and pods (NodeInfo
// for every node, every bound pod accounted),
// then judge every pod of an opted-in policy (plan, current site, where the
// scheduler would place it now). Reported per pod judged.
func BenchmarkRebalanceJudge(b *testing.B) {
	sizes := []struct{ sites, nodesPerSite, sources, pods int }{
		{50, 10, 8, 1000},
		{500, 10, 16, 5000},
	}
	if *fleet {
		sizes = append(sizes, struct{ sites, nodesPerSite, sources, pods int }{10000, 5, 16, 50000})
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%d nodes, %d sites, %d sources, %d pods", size.sites*size.nodesPerSite, size.sites, size.sources, size.pods), func(b *testing.B) {
			built, pods := rebalanceWorld(size.sites, size.nodesPerSite, size.sources, size.pods)
			nodes := nodesOf(built)
			th := rebalance.SettingsOf(&placementv1alpha1.RebalancePolicy{Mode: placementv1alpha1.RebalanceOn}).Thresholds
			b.ReportAllocs()
			b.ResetTimer()
			moves := 0
			for range b.N {
				// The snapshot is the world model's, kept current outside
				// the round.
				w := simulate.New(built.Snap, nodes, pods, built.Settings)
				for _, p := range pods {
					if _, ok := rebalance.Judge(w, p, th, rebalance.Guards{}); ok {
						moves++
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pods)), "ns/pod")
			if moves == 0 {
				b.Fatal("no pod found a better site: the world judges nothing")
			}
		})
	}
}

func nodesOf(w *simulate.World) []*v1.Node {
	out := make([]*v1.Node, 0, len(w.Nodes))
	for _, ni := range w.Nodes {
		out = append(out, ni.Node())
	}
	return out
}
