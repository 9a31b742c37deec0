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
	"context"
	"encoding/json"
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// sign is the pod's signature as the framework would build it from
// EdgePlacement's fragments alone (nil when refused).
func sign(t *testing.T, pl *EdgePlacement, pod *v1.Pod) []byte {
	t.Helper()
	frags, status := pl.SignPod(context.Background(), pod)
	if !status.IsSuccess() {
		if status.Code() != fwk.Unschedulable {
			t.Fatalf("SignPod: %v, want success or a refusal", status)
		}
		return nil
	}
	m := map[string]any{}
	for _, f := range frags {
		m[f.Key] = f.Value
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignPod(t *testing.T) {
	pl := testPlugin(t, nil, nil,
		mkPolicy("eu", 1, map[string]string{"app": "web"}, euOnly),
		mkPolicy("cheap", 0, nil, cheapest),
	)
	base := func(name string) *st.PodWrapper {
		return st.MakePod().Namespace(ns).Name(name).Label("app", "web").
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "500m", v1.ResourceMemory: "1Gi"})
	}
	ref := base("ref-0").Obj()
	tests := []struct {
		name    string
		pod     *v1.Pod
		same    bool // same signature as ref
		refused bool
	}{
		{"another replica", base("ref-1").Obj(), true, false},
		{"same requests written another way", st.MakePod().Namespace(ns).Name("ref-2").Label("app", "web").
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "0.5", v1.ResourceMemory: "1024Mi"}).Obj(), true, false},
		{"other policy by label", base("x").Label(placementv1alpha1.PolicyLabel, "cheap").Obj(), false, false},
		{"other namespace", base("x").Namespace("other").Obj(), false, false},
		{"other labels, same policy", base("x").Label("version", "2").Obj(), false, false},
		{"more CPU", base("x").Req(map[v1.ResourceName]string{v1.ResourceCPU: "600m", v1.ResourceMemory: "1Gi"}).Obj(), false, false},
		{"a GPU", base("x").Req(map[v1.ResourceName]string{v1.ResourceCPU: "500m", v1.ResourceMemory: "1Gi", "nvidia.com/gpu": "1"}).Obj(), false, false},
		{"node selector", base("x").NodeSelector(map[string]string{"disk": "ssd"}).Obj(), false, false},
		{"toleration", base("x").Toleration("edge").Obj(), false, false},
		{"required node affinity", base("x").NodeAffinityIn("zone", []string{"a"}, st.NodeSelectorTypeMatchExpressions).Obj(), false, false},
		{"names a policy that does not exist", base("x").Label(placementv1alpha1.PolicyLabel, "gone").Obj(), false, true},
	}
	want := sign(t, pl, ref)
	if want == nil {
		t.Fatal("a pod under an existing policy was refused a signature")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sign(t, pl, tc.pod)
			if tc.refused {
				if got != nil {
					t.Fatalf("signed %s, want a refusal", got)
				}
				return
			}
			if got == nil {
				t.Fatal("refused, want a signature")
			}
			if same := string(got) == string(want); same != tc.same {
				t.Errorf("same signature = %v, want %v:\n got %s\nref %s", same, tc.same, got, want)
			}
		})
	}

	t.Run("a pod without a policy is signed", func(t *testing.T) {
		if sign(t, pl, st.MakePod().Namespace(ns).Name("free").Label("app", "db").Obj()) == nil {
			t.Error("refused a pod that EdgePlacement skips")
		}
	})
}

// A policy changed between two pods' signing gives them different
// signatures: the batch of the first is never offered to the second.
func TestSignPodPolicyGeneration(t *testing.T) {
	pod := st.MakePod().Namespace(ns).Name("a").Label("app", "web").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj()
	var sigs [][]byte
	for gen := int64(1); gen <= 2; gen++ {
		eu := mkPolicy("eu", 1, map[string]string{"app": "web"}, euOnly)
		eu.UID, eu.Generation = "eu-uid", gen
		sigs = append(sigs, sign(t, testPlugin(t, nil, nil, eu), pod))
	}
	if string(sigs[0]) == string(sigs[1]) {
		t.Errorf("generations 1 and 2 of the policy give one signature: %s", sigs[0])
	}
}
