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

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	agv1alpha1 "github.com/diktyo-io/appgroup-api/pkg/apis/appgroup/v1alpha1"
	ntv1alpha1 "github.com/diktyo-io/networktopology-api/pkg/apis/networktopology/v1alpha1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	internalqueue "k8s.io/kubernetes/pkg/scheduler/backend/queue"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/queuesort"
	schedruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
	"k8s.io/utils/ptr"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	pluginconfig "sigs.k8s.io/scheduler-plugins/apis/config"
	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/networkoverhead"

	"github.com/proxima-sched/proxima/apis/config"
	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
)

// The topology both plugins see: 5 regions × 10 zones, one Site per zone.
const (
	regions, zonesPerRegion = 5, 10
	appGroupWorkloads       = 10
)

func zoneName(r, z int) string { return fmt.Sprintf("r%d-z%d", r, z) }

// BenchmarkPlugins runs one pod through every EdgePlacement extension point
// via the framework runtime (PreFilter, Filter on each candidate, PreScore,
// Score and NormalizeScore), next to scheduler-plugins' NetworkOverhead
// PreFilter alone, on the same nodes and an equivalent topology, against a
// real kube-apiserver holding the Sites, TrafficSource, PlacementPolicy,
// AppGroup and NetworkTopology objects.
func BenchmarkPlugins(b *testing.B) {
	schedmetrics.Register()
	crds, err := controlplane.PeerCRDPaths()
	if err != nil {
		b.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = agv1alpha1.AddToScheme(scheme)
	_ = ntv1alpha1.AddToScheme(scheme)
	for _, n := range []int{1000, 5000, 10000} {
		// A fresh control plane per size, holding exactly these nodes.
		cp, err := controlplane.Start(controlplane.Options{ExtraCRDPaths: crds})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		setupWorld(b, ctx, cp)
		crc, err := ctrlclient.New(cp.Config, ctrlclient.Options{Scheme: scheme})
		if err != nil {
			b.Fatal(err)
		}
		setupNetworkTopology(b, ctx, cp, crc)
		nodes := makeNodes(n)
		createNodes(b, ctx, cp, nodes)
		allocated := allocatedPods()
		snapshot := cache.NewSnapshot(allocated, nodes)
		factory := informers.NewSharedInformerFactory(cp.Client, 0)
		factory.Core().V1().Pods().Informer()
		// EdgePlacement re-activates the pods it narrowed when nodes join
		// a site; a scheduling queue must be there to take them.
		queue := internalqueue.NewTestQueue(ctx, (&queuesort.PrioritySort{}).Less)
		opts := []schedruntime.Option{schedruntime.WithKubeConfig(cp.Config), schedruntime.WithClientSet(cp.Client),
			schedruntime.WithInformerFactory(factory), schedruntime.WithSnapshotSharedLister(snapshot),
			schedruntime.WithPodActivator(queue)}
		edge := func(ctx context.Context, _ runtime.Object, h framework.Handle) (framework.Plugin, error) {
			return edgeplacement.New(ctx, &config.EdgePlacementArgs{MinCandidateNodes: 100, CacheSyncTimeoutSeconds: 60, GPUResources: configv1.DefaultGPUResources}, h)
		}
		fw, err := tf.NewFramework(ctx, []tf.RegisterPluginFunc{
			tf.RegisterQueueSortPlugin(queuesort.Name, queuesort.New),
			tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
			tf.RegisterPluginAsExtensions(edgeplacement.Name, edge, "PreFilter", "Filter", "PreScore", "Score"),
		}, "proxima-scheduler", opts...)
		if err != nil {
			b.Fatal(err)
		}
		factory.Start(ctx.Done())
		factory.WaitForCacheSync(ctx.Done())
		pod := st.MakePod().Namespace("default").Name("api").Label(placementv1alpha1.PolicyLabel, "eu-latency").
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "500m", v1.ResourceMemory: "512Mi"}).Obj()
		probe := pod
		// Wait until EdgePlacement's site-to-nodes index holds every node.
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			res, status, _ := fw.RunPreFilterPlugins(ctx, framework.NewCycleState(), probe)
			return status.IsSuccess() && res.NodeNames.Len() >= 100, nil
		}); err != nil {
			b.Fatalf("EdgePlacement never saw the nodes: %v", err)
		}

		b.Run(fmt.Sprintf("EdgePlacement/nodes=%d", n), func(b *testing.B) {
			candidates := make([]fwk.NodeInfo, 0, n)
			var scored int
			b.ReportAllocs()
			for b.Loop() {
				state := framework.NewCycleState()
				res, status, _ := fw.RunPreFilterPlugins(ctx, state, pod)
				if !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
				// As the scheduler does: filter only the PreFilterResult's nodes.
				candidates = candidates[:0]
				for name := range res.NodeNames {
					ni, err := snapshot.NodeInfos().Get(name)
					if err != nil {
						b.Fatal(err)
					}
					if fw.RunFilterPlugins(ctx, state, pod, ni).IsSuccess() {
						candidates = append(candidates, ni)
					}
				}
				if status := fw.RunPreScorePlugins(ctx, state, pod, candidates); !status.IsSuccess() {
					b.Fatalf("PreScore: %v", status)
				}
				scores, status := fw.RunScorePlugins(ctx, state, pod, candidates)
				if !status.IsSuccess() {
					b.Fatalf("Score: %v", status)
				}
				scored = len(scores)
			}
			if scored == 0 {
				b.Fatal("no node was scored")
			}
			reportPerNode(b, n)
			b.ReportMetric(float64(scored), "candidates")
		})

		b.Run(fmt.Sprintf("EdgePlacement-PreFilter/nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, status, _ := fw.RunPreFilterPlugins(ctx, framework.NewCycleState(), pod); !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
			}
			reportPerNode(b, n)
		})

		no, err := networkoverhead.New(ctx, &pluginconfig.NetworkOverheadArgs{
			Namespaces: []string{"default"}, WeightsName: "UserDefined", NetworkTopologyName: "nt"}, fw)
		if err != nil {
			b.Fatal(err)
		}
		agPod := st.MakePod().Namespace("default").Name("p1-new").
			Labels(map[string]string{agv1alpha1.AppGroupLabel: "shop", agv1alpha1.AppGroupSelectorLabel: "p1"}).Obj()
		b.Run(fmt.Sprintf("NetworkOverhead-PreFilter/nodes=%d", n), func(b *testing.B) {
			pl := no.(framework.PreFilterPlugin)
			b.ReportAllocs()
			for b.Loop() {
				if _, status := pl.PreFilter(ctx, framework.NewCycleState(), agPod, nil); !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
			}
			reportPerNode(b, n)
		})
		cancel()
		if err := cp.Stop(); err != nil {
			b.Error(err)
		}
	}
}

// createNodes creates the nodes in the apiserver, 32 at a time.
func createNodes(b *testing.B, ctx context.Context, cp *controlplane.ControlPlane, nodes []*v1.Node) {
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if _, err := cp.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func makeNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, n)
	for i := range n {
		r, z := (i/zonesPerRegion)%regions, i%zonesPerRegion
		nodes[i] = st.MakeNode().Name(fmt.Sprintf("n-%d", i)).
			Label(v1.LabelTopologyRegion, fmt.Sprintf("r%d", r)).Label(v1.LabelTopologyZone, zoneName(r, z)).
			Label(placementv1alpha1.SiteLabel, zoneName(r, z)).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "32", v1.ResourceMemory: "128Gi"}).Obj()
	}
	return nodes
}

// allocatedPods are the AppGroup's running workloads, one per workload.
func allocatedPods() []*v1.Pod {
	pods := make([]*v1.Pod, appGroupWorkloads)
	for i := range pods {
		pods[i] = st.MakePod().Namespace("default").Name(fmt.Sprintf("p%d", i+1)).UID(fmt.Sprintf("p%d", i+1)).Container("pause").
			Node(fmt.Sprintf("n-%d", i*7)).
			Labels(map[string]string{agv1alpha1.AppGroupLabel: "shop", agv1alpha1.AppGroupSelectorLabel: fmt.Sprintf("p%d", i+1)}).Obj()
	}
	return pods
}

func setupWorld(b *testing.B, ctx context.Context, cp *controlplane.ControlPlane) {
	pc := versioned.NewForConfigOrDie(cp.Config).PlacementV1alpha1()
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}}
	for r := range regions {
		for z := range zonesPerRegion {
			country, tags := "DE", []string{"EU"}
			if r >= 3 {
				country, tags = "US", nil
			}
			site := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: zoneName(r, z)}, Spec: placementv1alpha1.SiteSpec{
				Tier: placementv1alpha1.TierEdge, Country: country, Jurisdictions: tags,
				Location: placementv1alpha1.GeoLocation{Latitude: "50", Longitude: "8"},
				Pricing:  &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(fmt.Sprintf("0.0%d", 1+z%9)))},
			}}
			if _, err := pc.Sites().Create(ctx, site, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: site.Name, Milliseconds: int32(5 + 10*r + z)})
		}
	}
	if _, err := pc.TrafficSources().Create(ctx, src, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	pol := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "eu-latency", Namespace: "default"}, Spec: placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}},
		Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, MaxRTTMilliseconds: ptr.To[int32](40)},
		Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](3), Cost: ptr.To[int32](1), Load: ptr.To[int32](1)},
	}}
	if _, err := pc.PlacementPolicies("default").Create(ctx, pol, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

// setupNetworkTopology creates the AppGroup (a chain of ten workloads, each
// depending on the next) and a NetworkTopology with region and zone costs
// equivalent to the sites' RTTs, and the AppGroup's running pods.
func setupNetworkTopology(b *testing.B, ctx context.Context, cp *controlplane.ControlPlane, c ctrlclient.Client) {
	ag := &agv1alpha1.AppGroup{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "default"},
		Spec: agv1alpha1.AppGroupSpec{NumMembers: appGroupWorkloads, TopologySortingAlgorithm: agv1alpha1.AppGroupKahnSort}}
	for i := range appGroupWorkloads {
		w := agv1alpha1.AppGroupWorkload{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: fmt.Sprintf("p%d", i+1), Selector: fmt.Sprintf("p%d", i+1), APIVersion: "apps/v1", Namespace: "default"}}
		next := (i + 1) % appGroupWorkloads
		w.Dependencies = agv1alpha1.DependenciesList{{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: fmt.Sprintf("p%d", next+1), Selector: fmt.Sprintf("p%d", next+1), APIVersion: "apps/v1", Namespace: "default"}, MaxNetworkCost: 30}}
		ag.Spec.Workloads = append(ag.Spec.Workloads, w)
	}
	if err := c.Create(ctx, ag); err != nil {
		b.Fatal(err)
	}
	regionList := ntv1alpha1.OriginList{}
	for r := range regions {
		o := ntv1alpha1.OriginInfo{Origin: fmt.Sprintf("r%d", r)}
		for d := range regions {
			if d != r {
				o.CostList = append(o.CostList, ntv1alpha1.CostInfo{Destination: fmt.Sprintf("r%d", d), NetworkCost: int64(10 * (1 + abs(r-d)))})
			}
		}
		regionList = append(regionList, o)
	}
	zoneList := ntv1alpha1.OriginList{}
	for r := range regions {
		for z := range zonesPerRegion {
			o := ntv1alpha1.OriginInfo{Origin: zoneName(r, z)}
			for d := range zonesPerRegion {
				if d != z {
					o.CostList = append(o.CostList, ntv1alpha1.CostInfo{Destination: zoneName(r, d), NetworkCost: int64(1 + abs(z-d))})
				}
			}
			zoneList = append(zoneList, o)
		}
	}
	nt := &ntv1alpha1.NetworkTopology{ObjectMeta: metav1.ObjectMeta{Name: "nt", Namespace: "default"},
		Spec: ntv1alpha1.NetworkTopologySpec{ConfigmapName: "netperf", Weights: ntv1alpha1.WeightList{{Name: "UserDefined", TopologyList: ntv1alpha1.TopologyList{
			{TopologyKey: ntv1alpha1.NetworkTopologyRegion, OriginList: regionList},
			{TopologyKey: ntv1alpha1.NetworkTopologyZone, OriginList: zoneList},
		}}}}}
	if err := c.Create(ctx, nt); err != nil {
		b.Fatal(err)
	}
	for _, p := range allocatedPods() {
		if _, err := cp.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func abs(x int) int { return max(x, -x) }
