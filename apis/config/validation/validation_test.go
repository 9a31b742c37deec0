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

package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/proxima-sched/proxima/apis/config"
)

func TestValidateEdgePlacementArgs(t *testing.T) {
	gpus := []string{"nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe", "nvidia.com/mig-*"}
	withGPUs := func(g ...string) config.EdgePlacementArgs {
		return config.EdgePlacementArgs{MinCandidateNodes: 100, CacheSyncTimeoutSeconds: 60, GPUResources: g}
	}
	withTelemetry := func(maxAge int32) config.EdgePlacementArgs {
		a := withGPUs(gpus...)
		a.Telemetry = &config.TelemetryArgs{Address: "http://prometheus:9090", RefreshSeconds: 15, QueryTimeoutSeconds: 5,
			Health: &config.SignalArgs{Query: "proxima_site_up", MaxAgeSeconds: maxAge, SiteLabel: "site"}}
		return a
	}
	tests := []struct {
		name string
		args config.EdgePlacementArgs
		want string // "" for valid
	}{
		{"valid", withGPUs(gpus...), ""},
		{"zero candidates", config.EdgePlacementArgs{MinCandidateNodes: 0, CacheSyncTimeoutSeconds: 60, GPUResources: gpus}, "args.minCandidateNodes"},
		{"huge timeout", config.EdgePlacementArgs{MinCandidateNodes: 1, CacheSyncTimeoutSeconds: 7200, GPUResources: gpus}, "args.cacheSyncTimeoutSeconds"},
		{"one GPU resource", withGPUs("example.com/npu"), ""},
		{"every resource of a vendor", withGPUs("nvidia.com/*"), ""},
		{"no GPU resources", withGPUs(), "args.gpuResources: Required value"},
		{"empty GPU resource", withGPUs(""), "args.gpuResources[0]: Invalid value"},
		{"native resource", withGPUs("nvidia.com/gpu", "cpu"), "args.gpuResources[1]: Invalid value"},
		{"kubernetes.io resource", withGPUs("kubernetes.io/gpu"), "args.gpuResources[0]: Invalid value"},
		{"quota form", withGPUs("requests.nvidia.com/gpu"), "args.gpuResources[0]: Invalid value"},
		{"not a resource name", withGPUs("nvidia.com/a gpu"), "args.gpuResources[0]: Invalid value"},
		{"prefix without a domain", withGPUs("nvidia*"), "args.gpuResources[0]: Invalid value"},
		{"bare star", withGPUs("*"), "args.gpuResources[0]: Invalid value"},
		{"star inside", withGPUs("nvidia.com/mig-*.5gb"), "args.gpuResources[0]: Invalid value"},
		{"two stars", withGPUs("nvidia.com/mig-**"), "args.gpuResources[0]: Invalid value"},
		{"duplicate", withGPUs("amd.com/gpu", "amd.com/gpu"), "args.gpuResources[1]: Duplicate value"},
		// A read every 15 s that may take 5 s is up to 20 s old when the
		// next one lands.
		{"max age covers a refresh and a query", withTelemetry(20), ""},
		{"max age of one refresh", withTelemetry(15), "args.telemetry.health.maxAgeSeconds: Invalid value: 15: must be at least refreshSeconds + queryTimeoutSeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateEdgePlacementArgs(field.NewPath("args"), &tc.args)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
