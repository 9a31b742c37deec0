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

	v1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
)

// TestRequestsOf reads pods as PreFilter does (resourcehelper.PodRequests,
// then RequestsOf) with the default GPU resources and with a custom list.
func TestRequestsOf(t *testing.T) {
	defaults := NewGPUResources(configv1.DefaultGPUResources)
	npuOnly := NewGPUResources([]string{"example.com/npu"})
	type res = map[v1.ResourceName]string
	tests := []struct {
		name string
		pod  *v1.Pod
		gpus GPUResources
		want Requests
	}{
		{"nvidia", st.MakePod().Req(res{v1.ResourceCPU: "500m", "nvidia.com/gpu": "2"}).Obj(), defaults, Requests{Cores: 0.5, GPUs: 2}},
		{"amd", st.MakePod().Req(res{"amd.com/gpu": "1"}).Obj(), defaults, Requests{GPUs: 1}},
		{"intel i915", st.MakePod().Req(res{"gpu.intel.com/i915": "1"}).Obj(), defaults, Requests{GPUs: 1}},
		{"intel xe", st.MakePod().Req(res{"gpu.intel.com/xe": "3"}).Obj(), defaults, Requests{GPUs: 3}},
		{"MIG slices count as one GPU each", st.MakePod().Req(res{"nvidia.com/mig-1g.5gb": "2", "nvidia.com/mig-3g.40gb": "1"}).Obj(), defaults, Requests{GPUs: 3}},
		{"GPUs of several containers add up", st.MakePod().Req(res{"amd.com/gpu": "1"}).Req(res{"nvidia.com/gpu": "1", v1.ResourceMemory: "2Gi"}).Obj(), defaults, Requests{MemGiB: 2, GPUs: 2}},
		{"an init container's GPU is not added to the app's", st.MakePod().InitReq(res{"nvidia.com/gpu": "1"}).Req(res{"nvidia.com/gpu": "1"}).Obj(), defaults, Requests{GPUs: 1}},
		{"shares of an Intel GPU are not GPUs", st.MakePod().Req(res{"gpu.intel.com/millicores": "500", "gpu.intel.com/i915_monitoring": "1"}).Obj(), defaults, Requests{}},
		{"custom list replaces the defaults", st.MakePod().Req(res{"example.com/npu": "4", "nvidia.com/gpu": "1"}).Obj(), npuOnly, Requests{GPUs: 4}},
		{"no GPU resources configured", st.MakePod().Req(res{"nvidia.com/gpu": "1"}).Obj(), GPUResources{}, Requests{}},
		{"no requests", st.MakePod().Obj(), defaults, Requests{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RequestsOf(resourcehelper.PodRequests(tc.pod, resourcehelper.PodResourcesOptions{}), tc.gpus)
			if got != tc.want {
				t.Errorf("RequestsOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}
