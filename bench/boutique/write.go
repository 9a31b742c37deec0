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

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// The labels NetworkOverhead and TopologicalSort read on a pod: its
// AppGroup and its workload's selector (appgroup-api's AppGroupLabel and
// AppGroupSelectorLabel).
const (
	appGroupLabel         = "appgroup.diktyo.x-k8s.io"
	appGroupSelectorLabel = "appgroup.diktyo.x-k8s.io.workload"
	// appLabel names a pod's service for Proxima's policies.
	appLabel = "app"
	// peerNamespace holds the AppGroups and the NetworkTopology: the
	// namespace bench/peers/e2e's NetworkOverhead profile reads.
	peerNamespace = "network"
)

// Profiles are the scheduler configurations a world runs under: the name
// of each test case and its KubeSchedulerConfiguration, relative to the
// repository root. NetworkOverhead's runs from bench/peers/e2e (Kubernetes
// 1.34), the others from bench/e2e.
var (
	proximaProfiles = [][2]string{
		{"Default", "bench/e2e/config/default-adaptive.yaml"},
		{"Proxima", "bench/e2e/config/proxima-adaptive.yaml"},
	}
	peerProfiles = [][2]string{
		{"NetworkOverhead", "bench/peers/e2e/config/networkoverhead-adaptive.yaml"},
	}
)

// WorkloadName is the scheduler_perf workload of the world.
func (w *World) WorkloadName() string {
	if w.replicas() > 1 {
		return fmt.Sprintf("OnlineBoutique_seed%d_replicas%d", w.Seed, w.replicas())
	}
	return fmt.Sprintf("OnlineBoutique_seed%d", w.Seed)
}

// replicas is how many pods each service runs (worlds written before
// Replicas existed run one).
func (w *World) replicas() int { return max(w.Replicas, 1) }

// ShopNamespace is shop k's namespace (and, for NetworkOverhead, its
// AppGroup's name).
func ShopNamespace(k int) string { return fmt.Sprintf("shop-%d", k) }

// Write lays the world out in dir for scheduler_perf: one template per
// object (nodes per site, Sites with their measured RTTs, a policy per
// service, a pod per service and shop, an AppGroup per shop and the
// NetworkTopology), world.json, and two scheduler_perf configurations,
// proxima.yaml (Default, Proxima) and peers.yaml (NetworkOverhead), whose
// paths are absolute. Each service's pods are created pace after the
// previous service's.
func (w *World) Write(dir, root string, pace time.Duration) error {
	for _, sub := range []string{"nodes", "sites", "policies", "pods", "appgroups"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{}
	for i, s := range w.Sites {
		files["nodes/"+s.Name+".yaml"] = nodeYAML(s)
		files["sites/"+s.Name+".yaml"] = w.siteYAML(i)
	}
	for _, svc := range OnlineBoutique {
		files["policies/"+svc.Name+".yaml"] = policyYAML(svc)
	}
	for k := range w.Shops {
		for _, svc := range OnlineBoutique {
			files["pods/"+ShopNamespace(k)+"-"+svc.Name+".yaml"] = podYAML(ShopNamespace(k), svc.Name)
		}
		files["appgroups/"+ShopNamespace(k)+".yaml"] = appGroupYAML(ShopNamespace(k))
	}
	files["network-topology.yaml"] = w.networkTopologyYAML()
	files["proxima.yaml"] = w.perfConfig(dir, root, proximaProfiles, false, pace)
	files["peers.yaml"] = w.perfConfig(dir, root, peerProfiles, true, pace)
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return w.Save(filepath.Join(dir, "world.json"))
}

// nodeYAML: a node of site s, with 4 CPUs, so that one pod (3 CPUs) fills
// it; its zone and region are the site, so NetworkOverhead reads the
// site's costs as region costs.
func nodeYAML(s Site) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  generateName: %[1]s-
  labels:
    %[2]s: %[1]s
    topology.kubernetes.io/zone: %[1]s
    topology.kubernetes.io/region: %[1]s
spec: {}
status:
  capacity: {pods: "110", cpu: "4", memory: 32Gi}
  conditions:
  - {status: "True", type: Ready}
  phase: Running
`, s.Name, placementv1alpha1.SiteLabel)
}

// siteYAML: site i, declaring its measured RTT to every other site.
func (w *World) siteYAML(i int) string {
	s := w.Sites[i]
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: placement.proxima.dev/v1alpha1
kind: Site
metadata:
  name: %s
spec:
  tier: Edge
  country: %q
  location: {latitude: %q, longitude: %q}
  pricing: {cpuCoreHour: "0.05", memoryGiBHour: "0.005"}
  rtts:
`, s.Name, s.Country, strconv.FormatFloat(s.Lat, 'f', 4, 64), strconv.FormatFloat(s.Lon, 'f', 4, 64))
	for j, t := range w.Sites {
		if j != i {
			fmt.Fprintf(&b, "  - {site: %s, milliseconds: %d}\n", t.Name, w.DeclaredMs(i, j))
		}
	}
	return b.String()
}

// policyYAML: the AppGroup's dependencies of svc as Proxima's: each a
// hard maxRTTMilliseconds of maxNetworkCost, the objective latency-led.
func policyYAML(svc Service) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: placement.proxima.dev/v1alpha1
kind: PlacementPolicy
metadata:
  name: %[1]s
spec:
  podSelector: {matchLabels: {%[2]s: %[1]s}}
  weights: {latency: 90, cost: 0, load: 10}
  dependencies:
`, svc.Name, appLabel)
	for _, d := range svc.Calls {
		fmt.Fprintf(&b, "  - {name: %[1]s, podSelector: {matchLabels: {%[2]s: %[1]s}}, maxRTTMilliseconds: %[3]d}\n", d, appLabel, maxNetworkCost)
	}
	return b.String()
}

// podYAML: one pod of svc in shop, requesting 3 of a node's 4 CPUs.
func podYAML(shop, svc string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  generateName: %[2]s-
  labels:
    %[3]s: %[2]s
    %[4]s: %[1]s
    %[5]s: %[2]s
spec:
  containers:
  - image: registry.k8s.io/pause:3.10.1
    name: server
    resources:
      limits: {cpu: "3", memory: 1Gi}
      requests: {cpu: "3", memory: 1Gi}
`, shop, svc, appLabel, appGroupLabel, appGroupSelectorLabel)
}

// appGroupYAML: the Online Boutique AppGroup for one shop, as the example
// declares it, in the shop's namespace.
func appGroupYAML(shop string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: appgroup.diktyo.x-k8s.io/v1alpha1
kind: AppGroup
metadata:
  name: %s
spec:
  numMembers: %d
  topologySortingAlgorithm: AlternateKahn
  workloads:
`, shop, len(OnlineBoutique))
	ref := func(indent, name string) {
		fmt.Fprintf(&b, "%sworkload: {kind: Deployment, name: %s-deployment, selector: %s, apiVersion: apps/v1, namespace: %s}\n", indent, name, name, shop)
	}
	for _, svc := range OnlineBoutique {
		ref("  - ", svc.Name)
		b.WriteString("    dependencies:\n")
		for _, d := range svc.Calls {
			ref("    - ", d)
			fmt.Fprintf(&b, "      minBandwidth: 100Mi\n      maxNetworkCost: %d\n", maxNetworkCost)
		}
	}
	return b.String()
}

// networkTopologyYAML: every site its own region, the cost between two
// regions the declared RTT: all a NetworkTopology can say of the world
// (region costs for every pair, so no zone costs are needed).
func (w *World) networkTopologyYAML() string {
	order := make([]int, len(w.Sites))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(w.Sites[a].Name, w.Sites[b].Name) })
	var b strings.Builder
	b.WriteString(`apiVersion: networktopology.diktyo.x-k8s.io/v1alpha1
kind: NetworkTopology
metadata:
  name: nt
spec:
  configmapName: netperf
  weights:
  - name: UserDefined
    topologyList:
    - topologyKey: topology.kubernetes.io/region
      originList:
`)
	for _, i := range order {
		fmt.Fprintf(&b, "      - origin: %s\n        costList:\n", w.Sites[i].Name)
		for _, j := range order {
			if j != i {
				fmt.Fprintf(&b, "        - {destination: %s, networkCost: %d}\n", w.Sites[j].Name, w.DeclaredMs(i, j))
			}
		}
	}
	return b.String()
}

// perfConfig is a scheduler_perf configuration with one test case per
// profile, each running the world as one workload: the nodes, the Sites,
// the policies in every shop's namespace (and for the peers the AppGroups
// and the NetworkTopology), then every shop's services in rollout order,
// pace apart, with metrics collected over the pods.
func (w *World) perfConfig(dir, root string, profiles [][2]string, peers bool, pace time.Duration) string {
	plugin := "EdgePlacement"
	if peers {
		plugin = "NetworkOverhead"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The Online Boutique comparison on world seed %d (generated by bench/boutique).\n", w.Seed)
	var shops []string
	for k := range w.Shops {
		shops = append(shops, ShopNamespace(k))
	}
	for _, p := range profiles {
		fmt.Fprintf(&b, `- name: %s
  schedulerConfigPath: %s
  metricsCollectorConfig:
    metrics:
      scheduler_framework_extension_point_duration_seconds:
      - label: extension_point
        values: [PreFilter, Filter, PreScore, Score]
      scheduler_plugin_execution_duration_seconds:
      - label: plugin
        values: [%s]
      - label: extension_point
        values: [PreFilter, Filter, PreScore, Score]
  workloadTemplate:
`, p[0], filepath.Join(root, p[1]), plugin)
		for _, s := range w.Sites {
			fmt.Fprintf(&b, "  - {opcode: createNodes, count: %d, nodeTemplatePath: %s}\n", s.Nodes, filepath.Join(dir, "nodes", s.Name+".yaml"))
		}
		for _, s := range w.Sites {
			fmt.Fprintf(&b, "  - {opcode: createAny, templatePath: %s}\n", filepath.Join(dir, "sites", s.Name+".yaml"))
		}
		for _, shop := range shops {
			for _, svc := range OnlineBoutique {
				fmt.Fprintf(&b, "  - {opcode: createAny, namespace: %s, templatePath: %s}\n", shop, filepath.Join(dir, "policies", svc.Name+".yaml"))
			}
			if peers {
				fmt.Fprintf(&b, "  - {opcode: createAny, namespace: %s, templatePath: %s}\n", peerNamespace, filepath.Join(dir, "appgroups", shop+".yaml"))
			}
		}
		if peers {
			fmt.Fprintf(&b, "  - {opcode: createAny, namespace: %s, templatePath: %s}\n", peerNamespace, filepath.Join(dir, "network-topology.yaml"))
		}
		fmt.Fprintf(&b, "  - {opcode: startCollectingMetrics, namespaces: [%s]}\n", strings.Join(shops, ", "))
		for _, shop := range shops {
			for _, svc := range w.Order {
				fmt.Fprintf(&b, "  - {opcode: createPods, count: %d, namespace: %s, podTemplatePath: %s, skipWaitToCompletion: true}\n",
					w.replicas(), shop, filepath.Join(dir, "pods", shop+"-"+svc+".yaml"))
				fmt.Fprintf(&b, "  - {opcode: sleep, duration: %s}\n", pace)
			}
		}
		b.WriteString("  - {opcode: stopCollectingMetrics}\n")
		fmt.Fprintf(&b, "  workloads:\n  - name: %s\n    labels: [performance]\n", w.WorkloadName())
	}
	return b.String()
}
