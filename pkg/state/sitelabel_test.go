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
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

func TestNodeSite(t *testing.T) {
	const (
		restricted = placementv1alpha1.SiteLabel
		legacy     = placementv1alpha1.LegacySiteLabel
	)
	tests := []struct {
		name         string
		labels       map[string]string
		acceptLegacy bool
		want         string
		wantOK       bool
	}{
		{"no label", nil, false, "", false},
		{"no label, legacy accepted", map[string]string{"other": "x"}, true, "", false},
		{"restricted only", map[string]string{restricted: "lyon"}, false, "lyon", true},
		{"restricted only, legacy accepted", map[string]string{restricted: "lyon"}, true, "lyon", true},
		{"restricted empty is a site name", map[string]string{restricted: ""}, false, "", true},
		// A node can set the legacy label itself: by default it means nothing.
		{"legacy only", map[string]string{legacy: "frankfurt"}, false, "", false},
		{"legacy only, accepted", map[string]string{legacy: "frankfurt"}, true, "frankfurt", true},
		// The administrator's label wins over the node's own claim.
		{"both disagree", map[string]string{restricted: "lyon", legacy: "frankfurt"}, false, "lyon", true},
		{"both disagree, legacy accepted", map[string]string{restricted: "lyon", legacy: "frankfurt"}, true, "lyon", true},
		{"both agree, legacy accepted", map[string]string{restricted: "lyon", legacy: "lyon"}, true, "lyon", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NodeSite(tc.labels, tc.acceptLegacy)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("NodeSite(%v, %t) = %q, %t; want %q, %t", tc.labels, tc.acceptLegacy, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// The node index and SiteOfNode read a node's site with NodeSite, with the
// snapshot's acceptance of the legacy label.
func TestSnapshotLegacySiteLabel(t *testing.T) {
	sites := []*placementv1alpha1.Site{
		site("frankfurt", placementv1alpha1.TierRegional, "DE", "50.11", "8.68", ""),
		site("lyon", placementv1alpha1.TierRegional, "FR", "45.76", "4.84", ""),
	}
	admin := st.MakeNode().Name("admin").Label(placementv1alpha1.SiteLabel, "frankfurt").Obj()
	self := st.MakeNode().Name("self").Label(placementv1alpha1.LegacySiteLabel, "frankfurt").Obj()
	both := st.MakeNode().Name("both").Label(placementv1alpha1.SiteLabel, "lyon").
		Label(placementv1alpha1.LegacySiteLabel, "frankfurt").Obj()
	nodes := []*v1.Node{admin, self, both}
	for _, tc := range []struct {
		acceptLegacy       bool
		frankfurt, lyon    []string
		selfSite, bothSite string
		labelled           int
	}{
		{false, []string{"admin"}, []string{"both"}, "", "lyon", 2},
		{true, []string{"admin", "self"}, []string{"both"}, "frankfurt", "lyon", 3},
	} {
		s := Build(Objects{Sites: sites, Nodes: nodes, AcceptLegacySiteLabel: tc.acceptLegacy})
		fra, _ := s.SiteIndex("frankfurt")
		lyo, _ := s.SiteIndex("lyon")
		if diff := cmp.Diff(tc.frankfurt, s.NodesIn(fra)); diff != "" {
			t.Errorf("acceptLegacy=%t: frankfurt nodes (-want,+got):\n%s", tc.acceptLegacy, diff)
		}
		if diff := cmp.Diff(tc.lyon, s.NodesIn(lyo)); diff != "" {
			t.Errorf("acceptLegacy=%t: lyon nodes (-want,+got):\n%s", tc.acceptLegacy, diff)
		}
		if got := s.NumNodesIndexed(); got != tc.labelled {
			t.Errorf("acceptLegacy=%t: %d nodes indexed, want %d", tc.acceptLegacy, got, tc.labelled)
		}
		for node, want := range map[*v1.Node]string{self: tc.selfSite, both: tc.bothSite} {
			got := ""
			if i, ok := s.SiteOfNode(node); ok {
				got = s.Sites()[i].Name
			}
			if got != want {
				t.Errorf("acceptLegacy=%t: SiteOfNode(%s) = %q, want %q", tc.acceptLegacy, node.Name, got, want)
			}
		}
	}
}

// The node handler requeues the index when a node's site changes, through
// the legacy label too when it is accepted, and not for other updates.
func TestSameSite(t *testing.T) {
	lyon := map[string]string{placementv1alpha1.SiteLabel: "lyon"}
	legacy := map[string]string{placementv1alpha1.LegacySiteLabel: "frankfurt"}
	shadowed := map[string]string{placementv1alpha1.SiteLabel: "lyon", placementv1alpha1.LegacySiteLabel: "frankfurt"}
	for _, tc := range []struct {
		name         string
		a, b         map[string]string
		acceptLegacy bool
		want         bool
	}{
		{"unlabelled", nil, map[string]string{"other": "x"}, false, true},
		{"joins", nil, lyon, false, false},
		{"legacy ignored", nil, legacy, false, true},
		{"legacy accepted", nil, legacy, true, false},
		{"legacy under restricted", lyon, shadowed, true, true},
	} {
		if got := sameSite(tc.a, tc.b, tc.acceptLegacy); got != tc.want {
			t.Errorf("%s: sameSite = %t, want %t", tc.name, got, tc.want)
		}
	}
}
