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

package v1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/proxima-sched/proxima/apis/config"
)

func TestDefaultsAndConversion(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := config.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   *EdgePlacementArgs
		want config.EdgePlacementArgs
	}{
		{"empty gets defaults", &EdgePlacementArgs{}, config.EdgePlacementArgs{MinCandidateNodes: 100, CacheSyncTimeoutSeconds: 60,
			GPUResources: []string{"nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe", "nvidia.com/mig-*"}}},
		{"set values are kept", &EdgePlacementArgs{MinCandidateNodes: ptr.To[int32](7), CacheSyncTimeoutSeconds: ptr.To[int32](5),
			GPUResources: []string{"example.com/npu"}, AcceptLegacySiteLabel: ptr.To(true)},
			config.EdgePlacementArgs{MinCandidateNodes: 7, CacheSyncTimeoutSeconds: 5, GPUResources: []string{"example.com/npu"},
				AcceptLegacySiteLabel: true}},
		// Empty is not absent: validation refuses it rather than pricing no GPUs.
		{"empty GPU list is kept", &EdgePlacementArgs{GPUResources: []string{}},
			config.EdgePlacementArgs{MinCandidateNodes: 100, CacheSyncTimeoutSeconds: 60, GPUResources: []string{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scheme.Default(tc.in)
			var got config.EdgePlacementArgs
			if err := scheme.Convert(tc.in, &got, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want,+got):\n%s", diff)
			}
		})
	}
	// Defaulting copies the list: changing one args' list changes no other.
	a, b := &EdgePlacementArgs{}, &EdgePlacementArgs{}
	scheme.Default(a)
	a.GPUResources[0] = "example.com/changed"
	scheme.Default(b)
	if b.GPUResources[0] != "nvidia.com/gpu" || DefaultGPUResources[0] != "nvidia.com/gpu" {
		t.Errorf("defaults share the list: %v, %v", b.GPUResources, DefaultGPUResources)
	}
}
