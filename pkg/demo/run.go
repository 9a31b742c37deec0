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

package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/pkg/state"
)

// Scheduler names the demo compares.
const (
	ProximaScheduler = "proxima-scheduler"
	DefaultScheduler = "default-scheduler"
	// AllDeclared names the baseline run of a scenario that declares only
	// part of its measured RTTs: proxima-scheduler with every measured RTT
	// declared.
	AllDeclared = "proxima, all declared"

	gpuResource = v1.ResourceName("nvidia.com/gpu")
	gpuLabel    = "nvidia.com/gpu.present"
	classLabel  = "demo.proxima.dev/class"
)

// Options configure a run.
type Options struct {
	Scenario *Scenario
	// SchedulerConfig is the shipped KubeSchedulerConfiguration; the demo
	// adds a default-scheduler profile next to its proxima-scheduler one.
	SchedulerConfig string
	// Progress receives one line per step.
	Progress io.Writer
	// SettleTimeout bounds the wait for one scheduler's pods.
	SettleTimeout time.Duration
	// Hold, when set, is called once proxima-scheduler's pods have settled
	// and before they are deleted, with the control plane: to look at the
	// placements with kubectl or kubectl proxima. The run continues when
	// it returns.
	Hold func(ctx context.Context, cp *controlplane.ControlPlane) error
}

// Placement is where one pod went ("" when it was not scheduled).
type Placement struct {
	Class, Site, Node string
	// NodeLabels are the labels of the node, for the hardware rule.
	NodeLabels map[string]string
}

// Run starts a control plane, creates the scenario, schedules its pods with
// each scheduler in turn and evaluates the bindings read back from the
// apiserver.
func Run(ctx context.Context, opts Options) (*Report, error) {
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	sc := opts.Scenario
	m, err := LoadMeasurements()
	if err != nil {
		return nil, err
	}
	if err := sc.Validate(m); err != nil {
		return nil, err
	}
	say("==> starting etcd and kube-apiserver (from bin/), installing the CRDs")
	start := time.Now()
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		say("==> stopping the control plane")
		_ = cp.Stop()
	}()
	say("    ready in %s", time.Since(start).Round(100*time.Millisecond))

	pc := versioned.NewForConfigOrDie(cp.Config)
	say("==> creating %d sites (%d nodes), %d traffic sources from measured RTTs", len(sc.Sites), sc.nodeCount(), len(sc.Sources))
	partial := sc.DeclaredFraction() < 1
	full := *sc
	full.declaredSet = false
	measured, total, err := createWorld(ctx, cp.Client, pc, &full, m)
	if err != nil {
		return nil, err
	}
	say("    %d of %d source-site RTTs measured and declared; %d left to Proxima's estimate", measured, total, total-measured)

	dir, err := os.MkdirTemp("", "proxima-demo")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// One scheduler process serves both runs: the shipped configuration
	// with a default-scheduler profile added.
	cfg := filepath.Join(dir, "demo-scheduler-config.yaml")
	if err := schedconfig.Rewrite(opts.SchedulerConfig, cfg, func(c *schedv1.KubeSchedulerConfiguration) error {
		c.Profiles = append(c.Profiles, schedv1.KubeSchedulerProfile{SchedulerName: ptr.To(DefaultScheduler)})
		return nil
	}); err != nil {
		return nil, err
	}
	report := &Report{Scenario: sc, measurements: m, truth: newTruth(sc, m)}
	schedule := func(name, label string) error {
		say("==> scheduling %d pods with %s", sc.podCount(), label)
		start := time.Now()
		var hold func(context.Context) error
		if opts.Hold != nil && label == ProximaScheduler {
			hold = func(ctx context.Context) error { return opts.Hold(ctx, cp) }
		}
		placements, err := runPods(ctx, cp.Client, pc, sc, name, label, opts.SettleTimeout, hold)
		if err != nil {
			return err
		}
		bound := 0
		for _, p := range placements {
			if p.Site != "" {
				bound++
			}
		}
		say("    %d bound, %d unschedulable, in %s", bound, len(placements)-bound, time.Since(start).Round(100*time.Millisecond))
		report.Runs = append(report.Runs, RunResult{Scheduler: label, Placements: placements})
		return nil
	}
	var baseline []RunResult
	if partial {
		// The baseline first, with every measured RTT declared; then the
		// scenario's share, with a scheduler started afresh so that its
		// world model is built from the new declarations alone.
		say("==> starting the scheduler with every measured RTT declared")
		sched, err := runScheduler(ctx, cp, filepath.Join(dir, "all-declared"), cfg)
		if err != nil {
			return nil, err
		}
		err = schedule(ProximaScheduler, AllDeclared)
		_ = sched.Stop()
		if err != nil {
			return nil, err
		}
		baseline, report.Runs = report.Runs, nil
		declared, err := declareShare(ctx, pc, sc, m)
		if err != nil {
			return nil, err
		}
		say("==> declaring %d of the %d measured RTTs (%.0f%%, seed %d); Proxima estimates the rest", declared, measured,
			100*sc.DeclaredFraction(), sc.seed)
	}
	say("==> starting the scheduler (profiles %s and %s)", ProximaScheduler, DefaultScheduler)
	sched, err := runScheduler(ctx, cp, filepath.Join(dir, "run"), cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sched.Stop() }()
	for _, name := range []string{ProximaScheduler, DefaultScheduler} {
		if err := schedule(name, name); err != nil {
			return nil, err
		}
	}
	report.Runs = append(report.Runs, baseline...)
	if partial {
		report.Estimators = EstimatorErrors(sc, m)
	}
	say("==> solving the offline optimum (transportation LP over classes and sites)")
	opt, err := optimum(sc, report.truth)
	if err != nil {
		return nil, err
	}
	report.Optimum = opt
	if err := report.evaluate(); err != nil {
		return nil, err
	}
	return report, nil
}

func runScheduler(ctx context.Context, cp *controlplane.ControlPlane, dir, cfg string) (*controlplane.Scheduler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return cp.RunScheduler(ctx, dir, cfg)
}

func (s *Scenario) nodeCount() int {
	n := 0
	for _, site := range s.Sites {
		n += site.Nodes
	}
	return n
}

func (s *Scenario) podCount() int {
	n := 0
	for _, c := range s.Classes {
		n += c.Pods
	}
	return n
}

// createWorld creates the Sites, Nodes and TrafficSources; it returns how
// many source-site pairs have measured RTTs, of how many.
func createWorld(ctx context.Context, cs kubernetes.Interface, pc versioned.Interface, sc *Scenario, m *Measurements) (measured, total int, err error) {
	sites, sources, measured, total := sc.objects(m)
	return measured, total, createObjects(ctx, cs, pc, sc, sites, sources)
}

// createObjects creates the scenario's Sites (sites, in its order) with
// their nodes, and the TrafficSources.
func createObjects(ctx context.Context, cs kubernetes.Interface, pc versioned.Interface, sc *Scenario,
	sites []*placementv1alpha1.Site, sources []*placementv1alpha1.TrafficSource) error {
	for i, site := range sites {
		if _, err := pc.PlacementV1alpha1().Sites().Create(ctx, site, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("site %s: %w", site.Name, err)
		}
		for n := range sc.Sites[i].Nodes {
			if _, err := cs.CoreV1().Nodes().Create(ctx, node(sc.Sites[i], n), metav1.CreateOptions{}); err != nil {
				return err
			}
		}
	}
	for _, src := range sources {
		if _, err := pc.PlacementV1alpha1().TrafficSources().Create(ctx, src, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("source %s: %w", src.Name, err)
		}
	}
	return nil
}

// declareShare rewrites the TrafficSources' RTTs to the share of the
// measured pairs the scenario declares; it returns how many it declares.
func declareShare(ctx context.Context, pc versioned.Interface, sc *Scenario, m *Measurements) (int, error) {
	_, sources, _, _ := sc.objects(m)
	n := 0
	for _, src := range sources {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := pc.PlacementV1alpha1().TrafficSources().Get(ctx, src.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.RTTs = src.Spec.RTTs
			_, err = pc.PlacementV1alpha1().TrafficSources().Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("source %s: %w", src.Name, err)
		}
		n += len(src.Spec.RTTs)
	}
	return n, nil
}

func node(s SiteSpec, i int) *v1.Node {
	capacity := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(s.CPU), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(int64(s.CPU)*4<<30, resource.BinarySI),
		v1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	labels := map[string]string{placementv1alpha1.SiteLabel: s.Name, v1.LabelTopologyZone: s.Name}
	if s.GPUs > 0 {
		capacity[gpuResource] = *resource.NewQuantity(int64(s.GPUs), resource.DecimalSI)
		labels[gpuLabel] = "true"
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", s.Name, i), Labels: labels},
		Status: v1.NodeStatus{Capacity: capacity, Allocatable: capacity,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}},
	}
}

// runPods creates every class's pods for one scheduler (interleaved across
// classes, so no class is served first), waits until each is bound or
// reported unschedulable, reads the placements back and deletes the pods.
func runPods(ctx context.Context, cs kubernetes.Interface, pc versioned.Interface, sc *Scenario, scheduler, label string, timeout time.Duration,
	hold func(context.Context) error) ([]Placement, error) {
	ns := "demo-" + strings.NewReplacer(", ", "-", " ", "-").Replace(label)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	for _, c := range sc.Classes {
		pol := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: ns}, Spec: c.Policy}
		if _, err := pc.PlacementV1alpha1().PlacementPolicies(ns).Create(ctx, pol, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("policy %s: %w", c.Name, err)
		}
	}
	created := 0
	for i := 0; ; i++ {
		any := false
		for _, c := range sc.Classes {
			if i >= c.Pods {
				continue
			}
			any = true
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod(c, i, ns, scheduler), metav1.CreateOptions{}); err != nil {
				return nil, err
			}
			created++
		}
		if !any {
			break
		}
	}
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	// Pods that did not settle in time are reported as they are.
	if err := settle(ctx, cs, ns, created, timeout); err != nil && ctx.Err() != nil {
		return nil, err
	}
	out, err := readPlacements(ctx, cs, ns)
	if err != nil {
		return nil, err
	}
	if hold != nil {
		if err := hold(ctx); err != nil {
			return nil, err
		}
	}
	return out, deletePods(ctx, cs, ns)
}

// readPlacements reads where every pod of the namespace is, by class.
func readPlacements(ctx context.Context, cs kubernetes.Interface, ns string) ([]Placement, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	nodeLabels := map[string]map[string]string{}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, n := range nodes.Items {
		nodeLabels[n.Name] = n.Labels
	}
	out := make([]Placement, 0, len(list.Items))
	for _, p := range list.Items {
		pl := Placement{Class: p.Labels[classLabel], Node: p.Spec.NodeName}
		if p.Spec.NodeName != "" {
			pl.NodeLabels = nodeLabels[p.Spec.NodeName]
			pl.Site, _ = state.NodeSite(pl.NodeLabels, false)
		}
		out = append(out, pl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out, nil
}

// deletePods frees the capacity for the next scheduler. Nothing runs the
// pods, so they can go at once.
func deletePods(ctx context.Context, cs kubernetes.Interface, ns string) error {
	if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, err
	})
}

func unschedulable(p *v1.Pod) bool {
	_, c := podutil.GetPodCondition(&p.Status, v1.PodScheduled)
	return c != nil && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable
}

func pod(c ClassSpec, i int, ns, scheduler string) *v1.Pod {
	req := v1.ResourceList{v1.ResourceCPU: c.CPU, v1.ResourceMemory: c.Memory}
	var lim v1.ResourceList
	if c.GPUs > 0 {
		q := *resource.NewQuantity(int64(c.GPUs), resource.DecimalSI)
		req[gpuResource] = q
		lim = v1.ResourceList{gpuResource: q}
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%03d", c.Name, i), Namespace: ns,
			Labels: map[string]string{classLabel: c.Name, placementv1alpha1.PolicyLabel: c.Name}},
		Spec: v1.PodSpec{SchedulerName: scheduler, NodeSelector: c.NodeSelector, Containers: []v1.Container{{
			Name: "app", Image: "registry.k8s.io/pause:3.10",
			Resources: v1.ResourceRequirements{Requests: req, Limits: lim},
		}}},
	}
}
