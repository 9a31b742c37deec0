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

// Command sizing measures the memory of the proxima-scheduler and
// proxima-controller binaries on clusters of given sizes (the chart's
// resource defaults and the sizing table of docs/install.md come from it).
// For each node count it starts a real etcd and kube-apiserver, creates
// sites of about ten nodes each at the measured cities, 32 traffic sources
// declaring the measured RTTs to 40% of the sites, three policies, and the
// running pods, bound to nodes; then it runs both binaries as the install
// does (the shipped scheduler configuration, the controller reading it),
// has the scheduler place a batch of pending pods and the controller judge
// a few rebalancer rounds, and reports each process's resident memory at
// rest and its peak (VmRSS, VmHWM of /proc).
//
//	go run ./bench/sizing -nodes 500,5000,20000 -pods 5000
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/demo"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
)

func main() {
	nodesFlag := flag.String("nodes", "500,5000,20000", "comma-separated node counts, one cluster each")
	pods := flag.Int("pods", 5000, "running pods, bound to nodes")
	pending := flag.Int("pending", 200, "pods the scheduler places during the run")
	nodesPerSite := flag.Int("nodes-per-site", 10, "nodes per site")
	seed := flag.Uint64("seed", 1, "seed of the world")
	flag.Parse()
	root, err := filepath.Abs(".")
	if err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "proxima-sizing-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	bins := map[string]string{}
	for _, b := range []string{"proxima-scheduler", "proxima-controller"} {
		bins[b] = filepath.Join(dir, b)
		cmd := exec.Command("go", "build", "-o", bins[b], "./cmd/"+b)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fail(fmt.Errorf("go build %s: %w", b, err))
		}
	}
	fmt.Println("| nodes | sites | running pods | scheduler at rest | scheduler peak | controller at rest | controller peak |")
	fmt.Println("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, f := range strings.Split(*nodesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fail(err)
		}
		r, err := measure(root, bins, n, *nodesPerSite, *pods, *pending, *seed)
		if err != nil {
			fail(fmt.Errorf("%d nodes: %w", n, err))
		}
		fmt.Printf("| %d | %d | %d | %s | %s | %s | %s |\n", n, r.sites, *pods, mib(r.sched.rss), mib(r.sched.hwm), mib(r.ctrl.rss), mib(r.ctrl.hwm))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sizing:", err)
	os.Exit(1)
}

func mib(kb int64) string { return fmt.Sprintf("%d MiB", (kb+512)/1024) }

type memory struct{ rss, hwm int64 }

type result struct {
	sites       int
	sched, ctrl memory
}

// procMemory reads VmRSS and VmHWM (kB) of a process.
func procMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb
		case "VmHWM":
			m.hwm = kb
		}
	}
	return m, sc.Err()
}

func measure(root string, bins map[string]string, nodes, perSite, pods, pending int, seed uint64) (*result, error) {
	ctx := context.Background()
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	pc := versioned.NewForConfigOrDie(cp.Config)
	m, err := demo.LoadMeasurements()
	if err != nil {
		return nil, err
	}
	var cities []string
	for name := range m.Cities {
		cities = append(cities, name)
	}
	slices.Sort(cities)
	rng := rand.New(rand.NewPCG(seed, uint64(nodes)))
	sites := (nodes + perSite - 1) / perSite
	siteCity := make([]string, sites)
	for i := range siteCity {
		siteCity[i] = cities[rng.IntN(len(cities))]
	}
	siteName := func(i int) string { return fmt.Sprintf("site-%05d", i) }
	countries := []string{"DE", "FR", "NL", "GB", "US", "CA", "BR", "JP", "IN", "AU"}
	var nodeNames []string
	var mu sync.Mutex
	if err := parallel(sites, func(i int) error {
		c := m.Cities[siteCity[i]]
		tier := placementv1alpha1.TierEdge
		if i%50 == 0 {
			tier = placementv1alpha1.TierCloud
		}
		country := countries[i%len(countries)]
		if _, err := pc.PlacementV1alpha1().Sites().Create(ctx, &placementv1alpha1.Site{
			ObjectMeta: metav1.ObjectMeta{Name: siteName(i)},
			Spec: placementv1alpha1.SiteSpec{Tier: tier, Country: country,
				Location: placementv1alpha1.GeoLocation{Latitude: fmt.Sprintf("%.4f", c.Lat), Longitude: fmt.Sprintf("%.4f", c.Lon)},
				Pricing:  &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse("0.04"))}},
		}, metav1.CreateOptions{}); err != nil {
			return err
		}
		for j := range perSite {
			if i*perSite+j >= nodes {
				break
			}
			name := fmt.Sprintf("%s-%d", siteName(i), j)
			capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("16"), v1.ResourceMemory: resource.MustParse("64Gi"), v1.ResourcePods: resource.MustParse("110")}
			if _, err := cp.Client.CoreV1().Nodes().Create(ctx, &v1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{placementv1alpha1.SiteLabel: siteName(i), v1.LabelHostname: name}},
				Status: v1.NodeStatus{Capacity: capacity, Allocatable: capacity,
					Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}},
			}, metav1.CreateOptions{}); err != nil {
				return err
			}
			mu.Lock()
			nodeNames = append(nodeNames, name)
			mu.Unlock()
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sites and nodes: %w", err)
	}
	var sources []string
	for s := range 32 {
		city := cities[rng.IntN(len(cities))]
		c := m.Cities[city]
		src := &placementv1alpha1.TrafficSource{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("clients-%02d", s)},
			Spec: placementv1alpha1.TrafficSourceSpec{
				Location: &placementv1alpha1.GeoLocation{Latitude: fmt.Sprintf("%.4f", c.Lat), Longitude: fmt.Sprintf("%.4f", c.Lon)}},
		}
		for i := range sites {
			if rng.Float64() < 0.4 {
				if ms, ok := m.RTT(city, siteCity[i]); ok {
					src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: siteName(i), Milliseconds: int32(max(ms, 1))})
				}
			}
		}
		if _, err := pc.PlacementV1alpha1().TrafficSources().Create(ctx, src, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		sources = append(sources, src.Name)
	}
	ns := "sizing"
	if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	apps := []string{"latency", "cost", "bounded"}
	for k, app := range apps {
		spec := placementv1alpha1.PlacementPolicySpec{
			PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": placementv1alpha1.LabelValue(app)}},
			Latency:     &placementv1alpha1.LatencyPolicy{},
			Weights:     &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](int32(2 - k%2)), Cost: ptr.To[int32](int32(1 + k%2))},
			Rebalance:   &placementv1alpha1.RebalancePolicy{Mode: placementv1alpha1.RebalanceDryRun},
		}
		for i := range 16 {
			spec.Latency.Sources = append(spec.Latency.Sources, placementv1alpha1.SourceWeight{Name: sources[(k*11+i)%len(sources)], Weight: ptr.To[int32](1)})
		}
		if app == "bounded" {
			spec.Latency.MaxRTTMilliseconds = ptr.To[int32](80)
		}
		if _, err := pc.PlacementV1alpha1().PlacementPolicies(ns).Create(ctx, &placementv1alpha1.PlacementPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: app}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("policy %s: %w", app, err)
		}
	}
	slices.Sort(nodeNames)
	podNode := make([]string, pods)
	for i := range podNode {
		podNode[i] = nodeNames[rng.IntN(len(nodeNames))]
	}
	pod := func(name, app, nodeName string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": app}},
			Spec: v1.PodSpec{SchedulerName: "proxima-scheduler", NodeName: nodeName,
				Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10",
					Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("128Mi")}}}}}}
	}
	if err := parallel(pods, func(i int) error {
		_, err := cp.Client.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("running-%05d", i), apps[i%len(apps)], podNode[i]), metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, fmt.Errorf("running pods: %w", err)
	}

	// The binaries, as installed.
	work, err := os.MkdirTemp("", fmt.Sprintf("proxima-sizing-%d-", nodes))
	if err != nil {
		return nil, err
	}
	kubeconfig, err := cp.Kubeconfig(work)
	if err != nil {
		return nil, err
	}
	config := filepath.Join(work, "scheduler-config.yaml")
	if err := schedconfig.Rewrite(filepath.Join(root, "manifests", "install", "scheduler-config.yaml"), config, func(c *schedv1.KubeSchedulerConfiguration) error {
		c.ClientConnection.Kubeconfig = kubeconfig
		c.LeaderElection.LeaderElect = ptr.To(false)
		return nil
	}); err != nil {
		return nil, err
	}
	port, err := controlplane.FreePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := controlplane.FreePort()
	if err != nil {
		return nil, err
	}
	sched := exec.Command(bins["proxima-scheduler"], "--config="+config, fmt.Sprintf("--secure-port=%d", port), "--bind-address=127.0.0.1", "--cert-dir="+work)
	ctrl := exec.Command(bins["proxima-controller"], "--kubeconfig="+kubeconfig, "--leader-elect=false", "--scheduler-config="+config,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort), "--rebalance-interval=5s")
	for name, cmd := range map[string]*exec.Cmd{"scheduler": sched, "controller": ctrl} {
		log, err := os.Create(filepath.Join(work, name+".log"))
		if err != nil {
			return nil, err
		}
		defer log.Close()
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	}
	if err := parallel(pending, func(i int) error {
		_, err := cp.Client.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("pending-%05d", i), apps[i%2], ""), metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, fmt.Errorf("pending pods: %w", err)
	}
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		if sched.ProcessState != nil || ctrl.ProcessState != nil {
			return false, errors.New("a binary exited")
		}
		list, err := cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				return false, nil
			}
		}
		return rounds(metricsPort) >= 3, nil
	}); err != nil {
		return nil, fmt.Errorf("waiting for the scheduler to place %d pods and the rebalancer to judge 3 rounds: %w (logs in %s)", pending, err, work)
	}
	// Let both settle: every policy's status written for its generation,
	// and no RTT fit pending in the controller.
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := pc.PlacementV1alpha1().PlacementPolicies(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, p := range list.Items {
			if p.Status.ObservedGeneration != p.Generation {
				return false, nil
			}
		}
		// Absent or 0: not paused for a fit.
		return metric(metricsPort, `proxima_rebalancer_paused{reason="fit"} `) != 1, nil
	}); err != nil {
		return nil, fmt.Errorf("waiting for policy status and the RTT fit: %w (logs in %s)", err, work)
	}
	r := &result{sites: sites}
	if r.sched, err = procMemory(sched.Process.Pid); err != nil {
		return nil, err
	}
	if r.ctrl, err = procMemory(ctrl.Process.Pid); err != nil {
		return nil, err
	}
	return r, nil
}

// rounds reads proxima_rebalancer_rounds_total from the controller.
func rounds(port int) int { return int(metric(port, "proxima_rebalancer_rounds_total ")) }

// metric reads the sample whose line starts with prefix (name, labels and
// a space) from the controller's /metrics; -1 when it cannot.
func metric(port int, prefix string) float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// parallel runs do(0..n-1) on 32 workers and returns the first error.
func parallel(n int, do func(int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}
