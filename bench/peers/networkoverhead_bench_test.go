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

package peers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	agv1alpha1 "github.com/diktyo-io/appgroup-api/pkg/apis/appgroup/v1alpha1"
	ntv1alpha1 "github.com/diktyo-io/networktopology-api/pkg/apis/networktopology/v1alpha1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/queuesort"
	schedruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	pluginconfig "sigs.k8s.io/scheduler-plugins/apis/config"
	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/networkoverhead"
)

// The topology of BenchmarkPlugins in Proxima's bench/plugin_bench_test.go:
// 5 regions × 10 zones (one Proxima Site per zone there), nodes spread over
// them in the same order and with the same capacity, and an AppGroup of ten
// workloads with one running pod each.
const (
	regions, zonesPerRegion = 5, 10
	appGroupWorkloads       = 10
	// checkoutDependencies is how many workloads checkoutWorkload calls.
	checkoutDependencies = 7
)

func zoneName(r, z int) string { return fmt.Sprintf("r%d-z%d", r, z) }

// preFilterDone is the status message NetworkOverhead's PreFilter
// (scheduler-plugins v0.34.7) returns when it went all the way through, from
// the dependencies to a cost for every node, rather than one of its early
// returns (no AppGroup, no dependencies, no scheduled pods).
const preFilterDone = "PreFilter State updated"

// BenchmarkNetworkOverheadPreFilter runs scheduler-plugins' NetworkOverhead
// PreFilter (imported, built with its own New) for one pod of the AppGroup,
// on the nodes and the topology of Proxima's BenchmarkPlugins, against a real
// kube-apiserver and etcd (bin/) holding the nodes, the AppGroup (a chain of
// ten workloads, each depending on the next, with their running pods) and a
// NetworkTopology with region and zone costs equivalent to the sites' RTTs
// there. Its sub-benchmarks nodes=N and metrics (ns/op, allocs, ns/node,
// pods/s) match BenchmarkPlugins/EdgePlacement-PluginPreFilter/nodes=N (the
// plugin called alone, as here).
//
// Each size is its own sub-benchmark with its own control plane, set up
// before b.Loop starts timing, so that -bench can pick one size alone.
func BenchmarkNetworkOverheadPreFilter(b *testing.B) { benchmarkPreFilter(b, "p1") }

// BenchmarkNetworkOverheadPreFilterCheckout is BenchmarkNetworkOverheadPreFilter
// for a pod of the Online Boutique's heaviest caller: the AppGroup's
// workload "checkout", which depends on seven workloads (p1..p7) with a
// running pod each, as checkoutservice does on seven services in
// scheduler-plugins' Online Boutique example. It matches
// BenchmarkPlugins/EdgePlacement-PluginPreFilter-Checkout/nodes=N.
func BenchmarkNetworkOverheadPreFilterCheckout(b *testing.B) { benchmarkPreFilter(b, checkoutWorkload) }

// checkoutWorkload is the AppGroup's workload with seven dependencies.
const checkoutWorkload = "checkout"

// benchmarkPreFilter times NetworkOverhead's PreFilter for a new pod of the
// AppGroup's workload selector.
func benchmarkPreFilter(b *testing.B, selector string) {
	schedmetrics.Register()
	crds, err := CRDPaths()
	if err != nil {
		b.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = agv1alpha1.AddToScheme(scheme)
	_ = ntv1alpha1.AddToScheme(scheme)
	for _, n := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			// A fresh control plane per size, holding exactly these nodes.
			cp, err := startControlPlane(crds)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := cp.stop(); err != nil {
					b.Error(err)
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			crc, err := ctrlclient.New(cp.config, ctrlclient.Options{Scheme: scheme})
			if err != nil {
				b.Fatal(err)
			}
			setupNetworkTopology(b, ctx, cp.client, crc)
			nodes := makeNodes(n)
			createNodes(b, ctx, cp.client, nodes)
			snapshot := cache.NewSnapshot(allocatedPods(), nodes)
			factory := informers.NewSharedInformerFactory(cp.client, 0)
			factory.Core().V1().Pods().Informer()
			opts := []schedruntime.Option{schedruntime.WithKubeConfig(cp.config), schedruntime.WithClientSet(cp.client),
				schedruntime.WithInformerFactory(factory), schedruntime.WithSnapshotSharedLister(snapshot)}
			fw, err := tf.NewFramework(ctx, []tf.RegisterPluginFunc{
				tf.RegisterQueueSortPlugin(queuesort.Name, queuesort.New),
				tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
			}, "peers", opts...)
			if err != nil {
				b.Fatal(err)
			}
			factory.Start(ctx.Done())
			factory.WaitForCacheSync(ctx.Done())
			no, err := networkoverhead.New(ctx, &pluginconfig.NetworkOverheadArgs{
				Namespaces: []string{"default"}, WeightsName: "UserDefined", NetworkTopologyName: "nt"}, fw)
			if err != nil {
				b.Fatal(err)
			}
			pl := no.(framework.PreFilterPlugin)
			agPod := st.MakePod().Namespace("default").Name(selector + "-new").
				Labels(map[string]string{agv1alpha1.AppGroupLabel: "shop", agv1alpha1.AppGroupSelectorLabel: selector}).Obj()
			// Wait until PreFilter does the whole work: its cached client
			// has the AppGroup and NetworkTopology and its lister the
			// running pods (the first call also starts the cached client's
			// informers, which would otherwise land in the timed loop).
			var last string
			if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				_, status := pl.PreFilter(ctx, framework.NewCycleState(), agPod, nil)
				last = status.Message()
				return status.IsSuccess() && last == preFilterDone, nil
			}); err != nil {
				b.Fatalf("NetworkOverhead's PreFilter never went through (last status %q): %v", last, err)
			}

			b.ReportAllocs()
			for b.Loop() {
				if _, status := pl.PreFilter(ctx, framework.NewCycleState(), agPod, nil); !status.IsSuccess() {
					b.Fatalf("PreFilter: %v", status)
				}
			}
			reportPerNode(b, n)
		})
	}
}

// reportPerNode reports the time per node and the pods per second one
// PreFilter allows, as Proxima's bench/ does for EdgePlacement.
func reportPerNode(b *testing.B, nodes int) {
	perPod := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perPod/float64(nodes), "ns/node")
	b.ReportMetric(1e9/perPod, "pods/s")
}

var setLoggerOnce sync.Once

// controlPlane is a real etcd and kube-apiserver from bin/, started by
// controller-runtime's envtest as Proxima's pkg/controlplane does.
type controlPlane struct {
	config *rest.Config
	client kubernetes.Interface
	env    *envtest.Environment
}

// startControlPlane starts etcd and kube-apiserver with the CRDs at
// crdPaths. Like Proxima's control plane it disables the
// TaintNodesByCondition admission plugin (nothing clears the not-ready taint
// it adds to every Node created through the API) and Priority (which needs
// the built-in PriorityClasses a controller-manager would create).
func startControlPlane(crdPaths []string) (*controlPlane, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make tools` at the repository root first: %w", name, bin, err)
		}
	}
	// envtest logs through controller-runtime's logger, which prints a stack
	// trace of its own unless it is set; send it to klog like the rest.
	setLoggerOnce.Do(func() { ctrllog.SetLogger(klog.Background()) })
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDDirectoryPaths:        crdPaths,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	env.ControlPlane.GetAPIServer().Configure().Append("disable-admission-plugins", "TaintNodesByCondition", "Priority")
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane from %s: %w", bin, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &controlPlane{config: cfg, client: client, env: env}, nil
}

func (c *controlPlane) stop() error { return c.env.Stop() }

// createNodes creates the nodes in the apiserver, 32 at a time.
func createNodes(b *testing.B, ctx context.Context, client kubernetes.Interface, nodes []*v1.Node) {
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
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

// makeNodes returns BenchmarkPlugins' nodes: node i in region (i/10) mod 5,
// zone i mod 10 of it, and the Proxima site of that zone.
func makeNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, n)
	for i := range n {
		r, z := (i/zonesPerRegion)%regions, i%zonesPerRegion
		nodes[i] = st.MakeNode().Name(fmt.Sprintf("n-%d", i)).
			Label(v1.LabelTopologyRegion, fmt.Sprintf("r%d", r)).Label(v1.LabelTopologyZone, zoneName(r, z)).
			Label(SiteLabel, zoneName(r, z)).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "32", v1.ResourceMemory: "128Gi"}).Obj()
	}
	return nodes
}

// allocatedPods are the AppGroup's running workloads, one per workload, on
// the nodes BenchmarkPlugins puts its running pods on.
func allocatedPods() []*v1.Pod {
	pods := make([]*v1.Pod, appGroupWorkloads)
	for i := range pods {
		pods[i] = st.MakePod().Namespace("default").Name(fmt.Sprintf("p%d", i+1)).UID(fmt.Sprintf("p%d", i+1)).Container("pause").
			Node(fmt.Sprintf("n-%d", i*7)).
			Labels(map[string]string{agv1alpha1.AppGroupLabel: "shop", agv1alpha1.AppGroupSelectorLabel: fmt.Sprintf("p%d", i+1)}).Obj()
	}
	return pods
}

// setupNetworkTopology creates the AppGroup (a chain of ten workloads, each
// depending on the next, and checkoutWorkload, depending on the first
// seven), a NetworkTopology with region and zone costs
// equivalent to the RTTs of BenchmarkPlugins' sites, and the AppGroup's
// running pods.
func setupNetworkTopology(b *testing.B, ctx context.Context, client kubernetes.Interface, c ctrlclient.Client) {
	ag := &agv1alpha1.AppGroup{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "default"},
		Spec: agv1alpha1.AppGroupSpec{NumMembers: appGroupWorkloads, TopologySortingAlgorithm: agv1alpha1.AppGroupKahnSort}}
	for i := range appGroupWorkloads {
		w := agv1alpha1.AppGroupWorkload{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: fmt.Sprintf("p%d", i+1), Selector: fmt.Sprintf("p%d", i+1), APIVersion: "apps/v1", Namespace: "default"}}
		next := (i + 1) % appGroupWorkloads
		w.Dependencies = agv1alpha1.DependenciesList{{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: fmt.Sprintf("p%d", next+1), Selector: fmt.Sprintf("p%d", next+1), APIVersion: "apps/v1", Namespace: "default"}, MaxNetworkCost: 30}}
		ag.Spec.Workloads = append(ag.Spec.Workloads, w)
	}
	checkout := agv1alpha1.AppGroupWorkload{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: checkoutWorkload, Selector: checkoutWorkload, APIVersion: "apps/v1", Namespace: "default"}}
	for i := range checkoutDependencies {
		checkout.Dependencies = append(checkout.Dependencies, agv1alpha1.DependenciesInfo{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: fmt.Sprintf("p%d", i+1), Selector: fmt.Sprintf("p%d", i+1), APIVersion: "apps/v1", Namespace: "default"}, MaxNetworkCost: 30})
	}
	ag.Spec.Workloads = append(ag.Spec.Workloads, checkout)
	ag.Spec.NumMembers++
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
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func abs(x int) int { return max(x, -x) }
