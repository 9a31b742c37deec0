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

package policygate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

func TestResolve(t *testing.T) {
	snap := state.Build(state.Objects{Policies: []*placementv1alpha1.PlacementPolicy{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eu-api"}, Spec: placementv1alpha1.PlacementPolicySpec{
			PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "api"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "by-label"}},
	}})
	gate := []string{placementv1alpha1.PolicyGate}
	for _, tc := range []struct {
		name   string
		ns     string
		labels map[string]string
		gates  []string
		want   string // the policy that lifts the gate; "" keeps it
	}{
		{"selected by a policy", "shop", map[string]string{"app": "api"}, gate, "eu-api"},
		{"label names a policy", "shop", map[string]string{placementv1alpha1.PolicyLabel: "by-label"}, gate, "by-label"},
		{"label names a missing policy", "shop", map[string]string{placementv1alpha1.PolicyLabel: "ghost", "app": "api"}, gate, ""},
		{"no policy selects it yet", "shop", map[string]string{"app": "db"}, gate, ""},
		{"a policy of another namespace", "other", map[string]string{"app": "api"}, gate, ""},
		{"no gate to lift", "shop", map[string]string{"app": "api"}, nil, ""},
		{"only another gate", "shop", map[string]string{"app": "api"}, []string{"example.com/other"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := st.MakePod().Namespace(tc.ns).Name("p").Labels(tc.labels).SchedulingGates(tc.gates).Obj()
			policy, why := Resolve(snap, pod)
			got := ""
			if policy != nil {
				got = policy.Name
			}
			if got != tc.want || (got == "" && why == "") {
				t.Errorf("Resolve = %q (%q), want %q", got, why, tc.want)
			}
		})
	}
}
