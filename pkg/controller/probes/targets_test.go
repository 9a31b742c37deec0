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

package probes

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/state"
)

func exporter(name, node, ip string, ready bool) *v1.Pod {
	status := v1.ConditionFalse
	if ready {
		status = v1.ConditionTrue
	}
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "monitoring"}, Spec: v1.PodSpec{NodeName: node},
		Status: v1.PodStatus{PodIP: ip, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: status}}}}
}

func TestTargets(t *testing.T) {
	site := func(name string) *placementv1alpha1.Site {
		return &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{Country: "DE"}}
	}
	source := func(name string, probe *placementv1alpha1.SourceProbe) *placementv1alpha1.TrafficSource {
		return &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.TrafficSourceSpec{Probe: probe}}
	}
	snap := state.Build(state.Objects{
		Sites: []*placementv1alpha1.Site{site("a"), site("b"), site("c")},
		Sources: []*placementv1alpha1.TrafficSource{
			source("icmp-users", &placementv1alpha1.SourceProbe{Targets: []string{"192.0.2.1", "192.0.2.2"}, Module: placementv1alpha1.ProbeICMP}),
			source("silent", nil),
			source("tcp-users", &placementv1alpha1.SourceProbe{Targets: []string{"192.0.2.9:443"}}),
		},
	})
	idx := func(name string) int { i, _ := snap.SiteIndex(name); return i }
	src := func(name string) int { j, _ := snap.SourceIndex(name); return j }
	plan := &probeplan.Plan{Pairs: []probeplan.Pair{
		{Site: idx("a"), Source: src("icmp-users"), Tier: probeplan.TierBound},
		{Site: idx("a"), Source: src("silent"), Tier: probeplan.TierBound},
		{Site: idx("b"), Source: src("tcp-users"), Tier: probeplan.TierRanking},
		{Site: idx("c"), Source: src("tcp-users"), Tier: probeplan.TierRefresh},
	}, Links: []probeplan.Link{
		// Probed from a's exporter to b's.
		{Site: idx("a"), Peer: idx("b"), Tier: probeplan.TierBound},
		// Either end without an exporter: not probed.
		{Site: idx("c"), Peer: idx("a"), Tier: probeplan.TierBound},
		{Site: idx("b"), Peer: idx("c"), Tier: probeplan.TierRefresh},
	}}
	nodeSite := map[string]int{"a-0": idx("a"), "b-0": idx("b"), "c-0": idx("c")}
	exporters := []*v1.Pod{
		exporter("x-a", "a-0", "10.0.0.1", true),
		exporter("x-b", "b-0", "10.0.1.1", true),
		exporter("x-c", "c-0", "10.0.2.1", false), // not ready: site c has no exporter
		exporter("x-gone", "nowhere", "10.0.9.1", true),
	}
	groups, un := Targets(snap, plan, exporters, func(n string) (int, bool) { s, ok := nodeSite[n]; return s, ok }, 9115, DefaultModules)
	want := []Group{
		{Targets: []string{"10.0.0.1:9115"}, Labels: map[string]string{"__param_target": "192.0.2.1", "__param_module": "icmp_rtt",
			"source": "icmp-users", "site": "a", "proxima_probe_tier": "bound", "instance": "icmp-users/a/192.0.2.1"}},
		{Targets: []string{"10.0.0.1:9115"}, Labels: map[string]string{"__param_target": "192.0.2.2", "__param_module": "icmp_rtt",
			"source": "icmp-users", "site": "a", "proxima_probe_tier": "bound", "instance": "icmp-users/a/192.0.2.2"}},
		{Targets: []string{"10.0.1.1:9115"}, Labels: map[string]string{"__param_target": "192.0.2.9:443", "__param_module": "tcp_connect_rtt",
			"source": "tcp-users", "site": "b", "proxima_probe_tier": "ranking", "instance": "tcp-users/b/192.0.2.9:443"}},
		{Targets: []string{"10.0.0.1:9115"}, Labels: map[string]string{"__param_target": "10.0.1.1:9115", "__param_module": "tcp_connect_rtt",
			"from_site": "a", "to_site": "b", "proxima_probe_tier": "bound", "instance": "a->b"}},
	}
	if diff := cmp.Diff(want, groups); diff != "" {
		t.Errorf("groups (-want,+got):\n%s", diff)
	}
	if un != (Unprobed{NoTargets: 1, NoExporter: 3, Links: 2}) {
		t.Errorf("unprobed %+v, want 1 without targets and 3 without an exporter, 2 of them pairs of sites", un)
	}

	// A site with several exporters: each source sticks to one of them,
	// and sources spread over them.
	var many []*v1.Pod
	for _, n := range []string{"a-0", "a-1", "a-2", "a-3"} {
		nodeSite[n] = idx("a")
		many = append(many, exporter("x-"+n, n, "10.0.0."+n[2:]+"0", true))
	}
	used := map[string]bool{}
	var sources []*placementv1alpha1.TrafficSource
	for _, name := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"} {
		sources = append(sources, source(name, &placementv1alpha1.SourceProbe{Targets: []string{"192.0.2.1:80"}}))
	}
	snap = state.Build(state.Objects{Sites: []*placementv1alpha1.Site{site("a")}, Sources: sources})
	plan = &probeplan.Plan{}
	for j := range sources {
		plan.Pairs = append(plan.Pairs, probeplan.Pair{Site: 0, Source: j})
	}
	first, _ := Targets(snap, plan, many, func(n string) (int, bool) { s, ok := nodeSite[n]; return s, ok }, 9115, DefaultModules)
	again, _ := Targets(snap, plan, []*v1.Pod{many[3], many[1], many[0], many[2]}, func(n string) (int, bool) { s, ok := nodeSite[n]; return s, ok }, 9115, DefaultModules)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("the exporter of a pair depends on the pods' order:\n%s", diff)
	}
	for _, g := range first {
		used[g.Targets[0]] = true
	}
	if len(used) < 2 {
		t.Errorf("8 sources all probed from %v: want them spread over the site's exporters", used)
	}
}
