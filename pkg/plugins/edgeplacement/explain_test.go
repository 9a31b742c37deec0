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
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

// TestExplanationCornerCases covers the explanations that used to say
// something false (issue 15, item 6). The world: sites ber (DE) and par
// (FR) with locations; users declare an RTT to ber only, so par's RTT is
// estimated from distance; "ghost" has no location, so nothing is known
// of its RTT to nomad, a source without a location either.
func TestExplanationCornerCases(t *testing.T) {
	site := func(name, country, lat, lon string) *placementv1alpha1.Site {
		s := mkSite(name, country, []string{"EU"}, "0.05")
		s.Spec.Location = placementv1alpha1.GeoLocation{Latitude: lat, Longitude: lon}
		return s
	}
	sites := []*placementv1alpha1.Site{site("ber", "DE", "52.52", "13.40"), site("par", "FR", "48.86", "2.35")}
	sources := []*placementv1alpha1.TrafficSource{
		{ObjectMeta: metav1.ObjectMeta{Name: "users"}, Spec: placementv1alpha1.TrafficSourceSpec{
			Location: &placementv1alpha1.GeoLocation{Latitude: "50.11", Longitude: "8.68"},
			RTTs:     []placementv1alpha1.SiteRTT{{Site: "ber", Milliseconds: 10}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "nomad"}},
	}
	latency := func(srcs ...string) placementv1alpha1.PlacementPolicySpec {
		spec := placementv1alpha1.PlacementPolicySpec{Latency: &placementv1alpha1.LatencyPolicy{}}
		for _, s := range srcs {
			spec.Latency.Sources = append(spec.Latency.Sources, placementv1alpha1.SourceWeight{Name: s})
		}
		return spec
	}
	node := func(name, site string) *v1.Node { return nodeInfo(name, site, "4", nil).Node() }
	staleRTT := &state.Live{RTT: state.Signal[state.SourceSite, float64]{Enabled: true, Fresh: false,
		Values: map[state.SourceSite]float64{{Source: "users", Site: "par"}: 7, {Source: "users", Site: "ber"}: 9}}}

	for _, tc := range []struct {
		name   string
		policy placementv1alpha1.PlacementPolicySpec
		live   *state.Live
		// scoredOn is the node as PreFilter/Reserve saw it; boundTo as Bind
		// sees it (nil: gone from the cache).
		scoredOn, boundTo *v1.Node
		deleted           bool // the node's site is deleted after scoring
		want, wantNot     []string
	}{{
		name: "estimated RTT whose live value went stale", policy: latency("users"), live: staleRTT,
		scoredOn: node("par-1", "par"), boundTo: node("par-1", "par"),
		want:    []string{"RTT users ", " ms (estimated (distance prior, upper bound ", " ms); live value stale)"},
		wantNot: []string{"declared"},
	}, {
		name: "declared RTT whose live value went stale", policy: latency("users"), live: staleRTT,
		scoredOn: node("ber-1", "ber"), boundTo: node("ber-1", "ber"),
		want: []string{"RTT users 10.0 ms (declared; live value stale)"},
	}, {
		name: "unknown RTT", policy: latency("nomad"),
		scoredOn: node("par-1", "par"), boundTo: node("par-1", "par"),
		want:    []string{"RTT nomad unknown (no measurement, no location to estimate from)"},
		wantNot: []string{"estimated"},
	}, {
		name: "relabelled into another site between scoring and binding", policy: latency("users"),
		scoredOn: node("n-1", "par"), boundTo: node("n-1", "ber"),
		want: []string{"on n-1 in site ber (Edge, DE)", "RTT users 10.0 ms;", "the node moved from site par to site ber between scoring and binding"},
	}, {
		name: "site deleted after scoring", policy: latency("users"),
		scoredOn: node("ber-1", "ber"), boundTo: node("ber-1", "ber"), deleted: true,
		want: []string{"in site ber (Edge, DE)", "Site ber has been deleted since world generation 0"},
	}, {
		name: "node gone from the cache at binding", policy: latency("users"),
		scoredOn: node("ber-1", "ber"),
		want:     []string{"placed the pod on ber-1, whose site is unknown; the scheduler's node cache no longer has the node at binding"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			policy := mkPolicy("p", 0, nil, tc.policy)
			snap := state.Build(state.Objects{Sites: sites, Sources: sources, Policies: []*placementv1alpha1.PlacementPolicy{policy},
				Nodes: []*v1.Node{tc.scoredOn}, Live: tc.live})
			pod := st.MakePod().Namespace(ns).Name("pod").Label(placementv1alpha1.PolicyLabel, "p").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj()
			pp, err := snap.PlanPod(pod, state.GPUResources{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := newPreFilterState(snap, pp)
			scored, _ := snap.SiteOfNode(tc.scoredOn)
			r := &reserveState{site: scored, load: 0.5, alts: map[int]altNodes{}}
			current := snap
			if tc.deleted {
				current = state.Build(state.Objects{Sites: sites[1:], Sources: sources, Policies: []*placementv1alpha1.PlacementPolicy{policy}})
			}
			rec := explainBinding(s, r, tc.scoredOn.Name, tc.boundTo, current)
			got := state.Annotations(&rec)
			sentence := got[placementv1alpha1.PlacementAnnotation]
			for _, w := range tc.want {
				if !strings.Contains(sentence, w) {
					t.Errorf("explanation lacks %q:\n%s", w, sentence)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(sentence, w) {
					t.Errorf("explanation says %q:\n%s", w, sentence)
				}
			}
			if got[placementv1alpha1.PlacementRecordAnnotation] == "" {
				t.Errorf("no %s", placementv1alpha1.PlacementRecordAnnotation)
			}
		})
	}
}

// BenchmarkPlacementRecord is the binding-time cost the record adds per
// pod: Reserve's pass over the runner-up site's nodes, the record and its
// two annotations (JSON included), on 500 sites of 10 nodes and 8 or 64
// sources; bytes/pod is what the two annotations add to the pod.
func BenchmarkPlacementRecord(b *testing.B) {
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("sources=%d", n), func(b *testing.B) { benchmarkPlacementRecord(b, n) })
	}
}

func benchmarkPlacementRecord(b *testing.B, numSources int) {
	var (
		sites   []*placementv1alpha1.Site
		sources []*placementv1alpha1.TrafficSource
		nodes   []*v1.Node
	)
	for i := range 500 {
		s := mkSite(fmt.Sprintf("s%03d", i), "DE", []string{"EU"}, "0.05")
		s.Spec.Location = placementv1alpha1.GeoLocation{Latitude: fmt.Sprint(40 + i%20), Longitude: fmt.Sprint(i % 30)}
		sites = append(sites, s)
		for j := range 10 {
			nodes = append(nodes, nodeInfo(fmt.Sprintf("s%03d-%d", i, j), s.Name, "8", nil).Node())
		}
	}
	spec := placementv1alpha1.PlacementPolicySpec{Latency: &placementv1alpha1.LatencyPolicy{}}
	for j := range numSources {
		name := fmt.Sprintf("src%d", j)
		sources = append(sources, &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: placementv1alpha1.TrafficSourceSpec{Location: &placementv1alpha1.GeoLocation{Latitude: fmt.Sprint(45 + j%30), Longitude: fmt.Sprint(j % 40)}}})
		spec.Latency.Sources = append(spec.Latency.Sources, placementv1alpha1.SourceWeight{Name: name})
	}
	policy := mkPolicy("p", 0, nil, spec)
	snap := state.Build(state.Objects{Sites: sites, Sources: sources, Policies: []*placementv1alpha1.PlacementPolicy{policy}, Nodes: nodes})
	pod := st.MakePod().Namespace(ns).Name("pod").Label(placementv1alpha1.PolicyLabel, "p").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj()
	pp, err := snap.PlanPod(pod, state.GPUResources{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := newPreFilterState(snap, pp)
	infos := cache.NewSnapshot(nil, nodes).NodeInfos()
	best := snap.NodesIn(int(pp.Plan.Ranked()[0]))[0]
	node, _ := infos.Get(best)
	b.ReportAllocs()
	for b.Loop() {
		r := reserveFor(s, infos, best)
		rec := explainBinding(s, r, best, node.Node(), snap)
		a := state.Annotations(&rec)
		b.ReportMetric(float64(len(a[placementv1alpha1.PlacementAnnotation])+len(a[placementv1alpha1.PlacementRecordAnnotation])), "bytes/pod")
	}
}
