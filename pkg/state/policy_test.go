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
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
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

// TestInvalidRulesFailClosed: rules admission refuses but that reach the
// world model anyway (stored before a stricter CRD, or written around it)
// make the pod unschedulable with a reason, never pass as met.
func TestInvalidRulesFailClosed(t *testing.T) {
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"},
		Spec: placementv1alpha1.TrafficSourceSpec{RTTs: []placementv1alpha1.SiteRTT{{Site: "s", Milliseconds: 5}}}}
	site := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: placementv1alpha1.SiteSpec{
		Tier: placementv1alpha1.TierEdge, Country: "FR"}}
	for _, tc := range []struct {
		name string
		spec placementv1alpha1.PlacementPolicySpec
		want string
	}{
		{"max RTT without sources", placementv1alpha1.PlacementPolicySpec{
			Latency: &placementv1alpha1.LatencyPolicy{MaxRTTMilliseconds: ptr.To[int32](10)}}, "latency.maxRTTMilliseconds"},
		{"denied country not a code", placementv1alpha1.PlacementPolicySpec{
			Residency: &placementv1alpha1.Residency{Denied: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"Mars"}}}},
			"residency.denied.countries"},
		{"negative traffic to a source", placementv1alpha1.PlacementPolicySpec{
			Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users",
				Traffic: &placementv1alpha1.Traffic{SentGiBPerHour: ptr.To(resource.MustParse("-1"))}}}}},
			"latency.sources[users].traffic.sentGiBPerHour"},
		{"negative traffic from a dependency not placed yet", placementv1alpha1.PlacementPolicySpec{
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "db",
				Traffic: &placementv1alpha1.Traffic{ReceivedGiBPerHour: ptr.To(resource.MustParse("-20Mi"))}}}},
			"dependencies[db].traffic.receivedGiBPerHour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: tc.spec}
			snap := Build(Objects{Sites: []*placementv1alpha1.Site{site}, Sources: []*placementv1alpha1.TrafficSource{src},
				Policies: []*placementv1alpha1.PlacementPolicy{policy}})
			pod := st.MakePod().Namespace("ns").Name("x").Label(placementv1alpha1.PolicyLabel, "p").Obj()
			pp, err := snap.PlanPod(pod, GPUResources{}, listCluster{})
			if err == nil || pp != nil {
				t.Fatalf("planned %v, want a failure", pp)
			}
			if !Unresolvable(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v: want an unresolvable verdict naming %s", err, tc.want)
			}
		})
	}
}

// TestBestNodeIn: the runner-up's best node is one the pod can use, the
// node load rule included; a site whose only node is over the policy's
// bound has no room for it, and one whose nodes lack the hardware label
// says so.
func TestBestNodeIn(t *testing.T) {
	site := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: placementv1alpha1.SiteSpec{
		Tier: placementv1alpha1.TierEdge, Country: "FR"}}
	node := st.MakeNode().Name("n").Label(placementv1alpha1.SiteLabel, "s").
		Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "8Gi", v1.ResourcePods: "10"}).Obj()
	ni := framework.NewNodeInfo()
	ni.SetNode(node)
	lookup := func(string) fwk.NodeInfo { return ni }
	for _, tc := range []struct {
		name     string
		spec     placementv1alpha1.PlacementPolicySpec
		load     float64
		wantLost string
	}{
		{"usable", placementv1alpha1.PlacementPolicySpec{}, 0.1, ""},
		{"over the load bound", placementv1alpha1.PlacementPolicySpec{
			Telemetry: &placementv1alpha1.TelemetryPolicy{MaxNodeUtilizationPercent: ptr.To[int32](50)}}, 0.9, LostNoRoom},
		{"no hardware", placementv1alpha1.PlacementPolicySpec{Hardware: &placementv1alpha1.HardwareRequirements{
			NodeSelector: []placementv1alpha1.NodeRequirement{{Key: "gpu", Operator: "Exists"}}}}, 0.1, LostNoHardware},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: tc.spec}
			live := &Live{NodeLoad: Signal[string, float64]{Enabled: true, Fresh: true, Values: map[string]float64{"n": tc.load}}}
			snap := Build(Objects{Sites: []*placementv1alpha1.Site{site}, Policies: []*placementv1alpha1.PlacementPolicy{policy},
				Nodes: []*v1.Node{node}, Live: live})
			pp, err := snap.PlanPod(st.MakePod().Namespace("ns").Name("x").Label(placementv1alpha1.PolicyLabel, "p").Obj(), GPUResources{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			load, lost := pp.BestNodeIn(snap, 0, lookup)
			if lost != tc.wantLost || (lost == "" && load != tc.load) {
				t.Errorf("BestNodeIn = %v, %q; want lost %q (load %v when usable)", load, lost, tc.wantLost, tc.load)
			}
		})
	}
}
