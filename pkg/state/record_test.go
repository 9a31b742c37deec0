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
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// TestRecordKeepsTheHeaviestSources: whatever the number of sources, the
// record keeps the RTTs of the MaxRecordedRTTs sources that weigh most in
// the latency objective at the site (an unknown RTT first, then weight ×
// RTT, or RTT under WorstCase; ties in the policy's order), counts the
// others, and stays within a size budget that does not grow with them; the
// sentence names the heaviest and counts the rest.
func TestRecordKeepsTheHeaviestSources(t *testing.T) {
	// 63-character names, the longest DNS label, so that the budget holds
	// for any names a user can give.
	long := func(s string) string { return s + strings.Repeat("x", 63-len(s)) }
	sites := []*placementv1alpha1.Site{
		site(long("a"), placementv1alpha1.TierEdge, "FR", "48.85", "2.35", "0.05", "EU"),
		site(long("b"), placementv1alpha1.TierEdge, "DE", "52.52", "13.40", "0.04", "EU"),
	}
	// Source k declares RTT rtt(k) to both sites; "nomad" has neither a
	// location nor an RTT, so its RTT is unknown.
	rtt := func(k int) int32 { return int32(10 + (k*37)%50) }
	var sources []*placementv1alpha1.TrafficSource
	for k := range 64 {
		sources = append(sources, &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: long(fmt.Sprintf("s%d-", k))},
			Spec: placementv1alpha1.TrafficSourceSpec{RTTs: []placementv1alpha1.SiteRTT{
				{Site: sites[0].Name, Milliseconds: rtt(k)}, {Site: sites[1].Name, Milliseconds: rtt(k)}}}})
	}
	sources = append(sources, &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "nomad"}})
	weight := func(k int) int32 { return int32(1 + k%7) }
	spec := func(objective placementv1alpha1.LatencyObjective, n int, withNomad bool) placementv1alpha1.PlacementPolicySpec {
		l := &placementv1alpha1.LatencyPolicy{Objective: objective}
		for k := range n {
			l.Sources = append(l.Sources, placementv1alpha1.SourceWeight{Name: sources[k].Name, Weight: ptr.To(weight(k))})
		}
		if withNomad {
			l.Sources = append(l.Sources, placementv1alpha1.SourceWeight{Name: "nomad"})
		}
		return placementv1alpha1.PlacementPolicySpec{Latency: l}
	}
	// want: the names of the heaviest sources, by brute force.
	want := func(objective placementv1alpha1.LatencyObjective, n int, withNomad bool) []string {
		type src struct {
			name string
			key  float64
			pos  int
		}
		var all []src
		if withNomad {
			all = append(all, src{"nomad", 1e18, -1})
		}
		for k := range n {
			key := float64(rtt(k))
			if objective != placementv1alpha1.WorstCase {
				key *= float64(weight(k))
			}
			all = append(all, src{sources[k].Name, key, k})
		}
		slices.SortStableFunc(all, func(a, b src) int {
			if a.key != b.key {
				if a.key > b.key {
					return -1
				}
				return 1
			}
			return a.pos - b.pos
		})
		var out []string
		for _, s := range all[:min(len(all), placementv1alpha1.MaxRecordedRTTs)] {
			out = append(out, s.name)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		objective placementv1alpha1.LatencyObjective
		n         int
		nomad     bool
	}{
		{"one source", placementv1alpha1.WeightedMean, 1, false},
		{"three sources", placementv1alpha1.WeightedMean, 3, false},
		{"64 sources, weighted mean", placementv1alpha1.WeightedMean, 64, false},
		{"64 sources, worst case", placementv1alpha1.WorstCase, 64, false},
		{"an unknown RTT comes first", placementv1alpha1.WeightedMean, 64, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: long("p"), Namespace: "ns"},
				Spec: spec(tc.objective, tc.n, tc.nomad)}
			snap := Build(Objects{Sites: sites, Sources: sources, Policies: []*placementv1alpha1.PlacementPolicy{policy}})
			pp, err := snap.PlanPod(st.MakePod().Namespace("ns").Name("x").Label(placementv1alpha1.PolicyLabel, policy.Name).Obj(), GPUResources{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := pp.Record(snap, long("node"), 0, 0.5, nil)
			var got []string
			for _, r := range rec.RTTs {
				got = append(got, r.Source)
			}
			if w := want(tc.objective, tc.n, tc.nomad); !slices.Equal(got, w) {
				t.Errorf("recorded RTTs of %v, want %v", got, w)
			}
			total := tc.n
			if tc.nomad {
				total++
			}
			if rec.SourceCount != total || len(pp.SourceRTTs(0)) != total {
				t.Errorf("sourceCount %d and %d RTTs on demand, want %d", rec.SourceCount, len(pp.SourceRTTs(0)), total)
			}
			sentence := Sentence(&rec)
			if more := total - 1; more > 0 && (!strings.Contains(sentence, "; RTT "+got[0]+" ") ||
				!strings.Contains(sentence, fmt.Sprintf(" and %d more source(s);", more))) {
				t.Errorf("the sentence does not count the %d sources left out: %s", more, sentence)
			}
			doc, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			// The budget: both annotations within 1.5 KiB for names of
			// up to 63 characters, however many sources the policy has.
			if size := len(doc) + len(sentence); size > 1536 {
				t.Errorf("the record and its sentence take %d bytes, over the 1.5 KiB budget:\n%s\n%s", size, doc, sentence)
			}
		})
	}
}
