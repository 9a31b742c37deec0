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
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/manager"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/pkg/state"
)

// The configurations the outage scene compares.
const (
	WithRebalancer    = "proxima + rebalancer"
	WithoutRebalancer = "proxima, no rebalancer"
)

// OutageDefaultPods is the outage scene's default size: the scenario's
// pods scaled to this total (Scenario.Scale) before the classes without
// traffic sources are left out. At the embedded scenario's full size eu-api
// fills exactly the three EU sites within its 40 ms SLO, so the pods of
// whichever goes down fit nowhere else and the rebalancer rightly leaves
// them; at this size the busiest site's pods have somewhere to go.
const OutageDefaultPods = 60

// OutageConfigs are the configurations RunOutage runs, in order.
var OutageConfigs = []string{WithRebalancer, WithoutRebalancer, DefaultScheduler}

const outageNamespace = "demo-outage"

// OutageOptions configure RunOutage. Zero durations take the defaults.
type OutageOptions struct {
	Scenario *Scenario
	// SchedulerConfig is the shipped KubeSchedulerConfiguration; the scene
	// adds live site health from Prometheus to its proxima-scheduler
	// profile and a default-scheduler profile.
	SchedulerConfig string
	// Progress receives one line per step.
	Progress io.Writer
	// SettleTimeout bounds the wait for the pods to be placed before the
	// timeline starts (default 3 minutes).
	SettleTimeout time.Duration
	// Steady, Outage and Recovery are the phases: the site goes down
	// Steady after the pods settled and comes back Outage later; the
	// timeline ends Recovery after that (defaults 20 s, 40 s, 60 s).
	Steady, Outage, Recovery time.Duration
	// Grace, Dwell and Cooldown are the policies' rebalance seconds
	// (defaults 5, 10, 10).
	Grace, Dwell, Cooldown int32
}

// OutageReport is the outcome of the outage scene.
type OutageReport struct {
	// Site went down; it held the most pods of the scene's classes under
	// proxima-scheduler once they settled.
	Site string
	// Classes are the scene's classes with pods on Site then: the timeline
	// follows their pods.
	Classes []string
	// Steady, Outage and Recovery are the phases' lengths.
	Steady, Outage, Recovery time.Duration
	Runs                     []OutageRun
}

// OutageRun is one configuration's timeline, one sample a second from the
// start of the steady phase.
type OutageRun struct {
	Config  string
	Samples []OutageSample
}

// OutageSample is the affected classes' pods at one moment.
type OutageSample struct {
	// T is seconds since the steady phase began.
	T float64
	// Down is whether the site was down.
	Down bool
	// MeanRTT is the mean over the bound pods of their class's
	// demand-weighted RTT (ms, measured where measured) at their site; NaN
	// when none is bound.
	MeanRTT float64
	// Violations count bound pods whose site breaks a hard rule of their
	// class now (residency, hardware, RTT SLO, cost cap, or the site is
	// down); OnDownSite those on the down site while it is down.
	Violations, OnDownSite int
	// Bound of Pods are bound.
	Bound, Pods int
}

// OutageSummary sums up a run's timeline.
type OutageSummary struct {
	Config string
	// Before, During and After are the mean RTTs of the phases' samples;
	// End is the last sample's.
	Before, During, After, End float64
	// PeakViolations and EndViolations are during the outage: the most, and
	// at its last sample.
	PeakViolations, EndViolations int
	// Return is the time after the recovery from which every sample has
	// every pod bound and a mean RTT within 1.05× of Before; Returned is
	// false when that never held up to the end.
	Return   time.Duration
	Returned bool
	// Left is whether, from the moment the site went down, a pod was ever
	// pending or the mean RTT outside that band.
	Left bool
}

func (o *OutageOptions) defaults() {
	if o.Steady <= 0 {
		o.Steady = 20 * time.Second
	}
	if o.Outage <= 0 {
		o.Outage = 40 * time.Second
	}
	if o.Recovery <= 0 {
		o.Recovery = 60 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 5
	}
	if o.Dwell <= 0 {
		o.Dwell = 10
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 10
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = 3 * time.Minute
	}
}

// RunOutage runs the outage scene: on the scenario's world, with only its
// classes that have traffic sources, run as Deployments, it runs three
// configurations one after another, each on a fresh control plane with the
// real kube-controller-manager (Deployments, ReplicaSets, budgets) and
// simulated kubelets: proxima-scheduler with the rebalancer on, the same
// without it, and the default scheduler. In each, once the pods have
// settled, the site that held the most pods under the first configuration
// goes down (its proxima_site_up series, scraped by a real Prometheus that
// the scheduler and the rebalancer read, turns 0) and comes back later; the
// affected classes' pods are sampled every second.
func RunOutage(ctx context.Context, opts OutageOptions) (*OutageReport, error) {
	opts.defaults()
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	m, err := LoadMeasurements()
	if err != nil {
		return nil, err
	}
	if err := opts.Scenario.Validate(m); err != nil {
		return nil, err
	}
	sc, err := latencyLed(opts.Scenario, m)
	if err != nil {
		return nil, err
	}
	t := newTruth(sc, m)
	models := map[string]*classModel{}
	for _, c := range sc.Classes {
		if models[c.Name], err = t.model(c); err != nil {
			return nil, err
		}
	}

	dir, err := os.MkdirTemp("", "proxima-demo-outage")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	say("==> starting Prometheus (from bin/), scraping proxima_site_up for %d sites every second", len(sc.Sites))
	exp, prom, stop, err := startTelemetry(dir)
	if err != nil {
		return nil, err
	}
	defer stop()
	for _, s := range sc.Sites {
		exp.Up.WithLabelValues(s.Name).Set(1)
	}
	cfg := filepath.Join(dir, "outage-scheduler-config.yaml")
	if err := schedconfig.Rewrite(opts.SchedulerConfig, cfg, func(c *schedv1.KubeSchedulerConfiguration) error {
		c.Profiles = append(c.Profiles, schedv1.KubeSchedulerProfile{SchedulerName: ptr.To(DefaultScheduler)})
		return schedconfig.EditEdgePlacementArgs(c, ProximaScheduler, func(args *configv1.EdgePlacementArgs) {
			// Site health only: the RTTs are the measured ones declared.
			off := &configv1.SignalArgs{Query: ptr.To("")}
			args.Telemetry = &configv1.TelemetryArgs{
				Address: prom.URL, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1),
				NodeUtilization: off, RTT: off, Price: off,
				Health: &configv1.SignalArgs{MaxAgeSeconds: ptr.To[int32](6)},
			}
		})
	}); err != nil {
		return nil, err
	}

	scene := &outageScene{sc: sc, m: m, truth: t, models: models, exp: exp, schedCfg: cfg, opts: opts, say: say,
		report: &OutageReport{Steady: opts.Steady, Outage: opts.Outage, Recovery: opts.Recovery}}
	report := scene.report
	for i, config := range OutageConfigs {
		say("==> %s: starting etcd, kube-apiserver, kube-controller-manager (deployment, replicaset, disruption), simulated kubelets", config)
		run, err := scene.run(ctx, config, filepath.Join(dir, fmt.Sprint(i)))
		for _, s := range sc.Sites {
			exp.Up.WithLabelValues(s.Name).Set(1)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config, err)
		}
		report.Runs = append(report.Runs, *run)
	}
	return report, nil
}

// latencyLed is the scenario with only its classes that have traffic
// sources.
func latencyLed(in *Scenario, m *Measurements) (*Scenario, error) {
	sc := *in
	sc.Classes = nil
	// The scene declares every measured RTT.
	sc.declaredSet = false
	t := newTruth(in, m)
	for _, c := range in.Classes {
		cm, err := t.model(c)
		if err != nil {
			return nil, err
		}
		if cm.hasLatency {
			sc.Classes = append(sc.Classes, c)
		}
	}
	if len(sc.Classes) == 0 {
		return nil, errors.New("the scenario has no class with traffic sources")
	}
	return &sc, nil
}

// outageScene is what the configurations of the scene share.
type outageScene struct {
	sc       *Scenario
	m        *Measurements
	truth    *truth
	models   map[string]*classModel
	exp      *controlplane.Exporter
	schedCfg string
	opts     OutageOptions
	say      func(string, ...any)
	report   *OutageReport
}

// run runs one configuration on a fresh control plane.
func (o *outageScene) run(ctx context.Context, config, dir string) (run *OutageRun, err error) {
	sc, opts, report, say := o.sc, o.opts, o.report, o.say
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cp.Stop()) }()
	kcmDir := filepath.Join(dir, "kube-controller-manager")
	if err := os.MkdirAll(kcmDir, 0o755); err != nil {
		return nil, err
	}
	kcm, err := cp.StartControllerManager(ctx, kcmDir, "deployment", "replicaset", "disruption")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, kcm.Stop()) }()
	// The pod simulator and the controllers stop on their own contexts;
	// the scheduler and kube-controller-manager by Stop.
	lifecycleCtx, stopLifecycle := context.WithCancel(ctx)
	lifecycle := make(chan error, 1)
	go func() { lifecycle <- controlplane.RunPodLifecycle(lifecycleCtx, cp.Client) }()
	defer func() {
		stopLifecycle()
		err = errors.Join(err, <-lifecycle)
	}()
	pc := versioned.NewForConfigOrDie(cp.Config)
	if _, _, err := createWorld(ctx, cp.Client, pc, sc, o.m); err != nil {
		return nil, err
	}
	sched, err := runScheduler(ctx, cp, filepath.Join(dir, "scheduler"), o.schedCfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, sched.Stop()) }()
	scheduler, mode := ProximaScheduler, placementv1alpha1.RebalanceOff
	switch config {
	case WithRebalancer:
		mode = placementv1alpha1.RebalanceOn
	case DefaultScheduler:
		scheduler = DefaultScheduler
	}
	if scheduler == ProximaScheduler {
		managerCtx, stopManager := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- manager.Run(managerCtx, cp.Config, manager.Options{SchedulerConfig: o.schedCfg, SchedulerNames: []string{ProximaScheduler},
				Rebalance: true, RebalanceInterval: time.Second, EvictionsPerMinute: 600})
		}()
		defer func() {
			stopManager()
			err = errors.Join(err, <-done)
		}()
	}

	if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: outageNamespace}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	all := intstr.FromString("100%")
	replicas := 0
	for _, c := range sc.Classes {
		spec := *c.Policy.DeepCopy()
		spec.Rebalance = &placementv1alpha1.RebalancePolicy{Mode: mode, GraceSeconds: ptr.To(opts.Grace), DwellSeconds: ptr.To(opts.Dwell),
			CooldownSeconds: ptr.To(opts.Cooldown), MinRTTGainMilliseconds: ptr.To[int32](1), MaxMoving: &all}
		pol := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: outageNamespace}, Spec: spec}
		if _, err := pc.PlacementV1alpha1().PlacementPolicies(outageNamespace).Create(ctx, pol, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("policy %s: %w", c.Name, err)
		}
	}
	for _, c := range sc.Classes {
		if _, err := cp.Client.AppsV1().Deployments(outageNamespace).Create(ctx, deployment(c, scheduler), metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		replicas += c.Pods
	}
	say("    %d Deployments (%d pods) with %s; policies' rebalance %s (grace %d s, dwell %d s, cooldown %d s)",
		len(sc.Classes), replicas, scheduler, mode, opts.Grace, opts.Dwell, opts.Cooldown)
	start := time.Now()
	if err := settle(ctx, cp.Client, outageNamespace, replicas, opts.SettleTimeout); err != nil {
		return nil, err
	}
	nodes, err := nodeLabels(ctx, cp.Client)
	if err != nil {
		return nil, err
	}
	if report.Site == "" {
		if err := o.chooseSite(ctx, cp.Client, nodes); err != nil {
			return nil, err
		}
		say("    the site holding the most pods is %s (classes %v): it goes down %s into the timeline", report.Site, report.Classes, opts.Steady)
	}
	sample := func(t float64, down bool) (OutageSample, error) {
		return o.sample(ctx, cp.Client, nodes, t, down)
	}
	first, err := sample(0, false)
	if err != nil {
		return nil, err
	}
	say("    settled in %s: %d of %d pods of %v bound; mean RTT %.1f ms, %d violations, %d on %s",
		time.Since(start).Round(100*time.Millisecond), first.Bound, first.Pods, report.Classes, first.MeanRTT, first.Violations, first.OnDownSite, report.Site)

	run = &OutageRun{Config: config}
	steady, outage := int(opts.Steady/time.Second), int(opts.Outage/time.Second)
	total := steady + outage + int(opts.Recovery/time.Second)
	t0 := time.Now()
	down := false
	for i := 0; i <= total; i++ {
		if i > 0 {
			timer := time.NewTimer(time.Until(t0.Add(time.Duration(i) * time.Second)))
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			case <-timer.C:
			}
		}
		switch i {
		case steady:
			o.exp.Up.WithLabelValues(report.Site).Set(0)
			down = true
			say("    t=%3ds  %s goes down (proxima_site_up=0)", i, report.Site)
		case steady + outage:
			o.exp.Up.WithLabelValues(report.Site).Set(1)
			down = false
			say("    t=%3ds  %s is back (proxima_site_up=1)", i, report.Site)
		}
		s, err := sample(float64(i), down)
		if err != nil {
			return nil, err
		}
		run.Samples = append(run.Samples, s)
		if i%10 == 0 || i == total {
			say("    t=%3ds  mean RTT %5.1f ms  violations %3d  on %s %3d  bound %d/%d%s", i, s.MeanRTT, s.Violations, report.Site, s.OnDownSite,
				s.Bound, s.Pods, o.rebalancing(ctx, pc, mode))
		}
	}
	return run, nil
}

func deployment(c ClassSpec, scheduler string) *appsv1.Deployment {
	p := pod(c, 0, outageNamespace, scheduler)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: outageNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(c.Pods)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{classLabel: c.Name}},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: p.Spec},
		},
	}
}

// settle waits until the namespace holds want pods that are not being
// deleted, each bound or reported unschedulable, with nothing bound since
// the previous poll (a pod turned away while the scheduler was still
// learning the policies is retried and may yet bind).
func settle(ctx context.Context, cs kubernetes.Interface, ns string, want int, timeout time.Duration) error {
	lastBound := -1
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		bound, live := 0, 0
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			live++
			if p.Spec.NodeName != "" {
				bound++
			} else if !unschedulable(&p) {
				lastBound = -1
				return false, nil
			}
		}
		settled := live == want && bound == lastBound
		lastBound = bound
		return settled, nil
	})
	if err != nil {
		return fmt.Errorf("the pods did not settle within %s: %w", timeout, err)
	}
	return nil
}

// nodeLabels are the labels of every node by name.
func nodeLabels(ctx context.Context, cs kubernetes.Interface) (map[string]map[string]string, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, n := range nodes.Items {
		out[n.Name] = n.Labels
	}
	return out, nil
}

func siteOf(labels map[string]string) string {
	s, _ := state.NodeSite(labels, false)
	return s
}

// chooseSite picks the site with the most bound pods (the first in the
// scenario's order on a tie) and the classes with pods there.
func (o *outageScene) chooseSite(ctx context.Context, cs kubernetes.Interface, nodes map[string]map[string]string) error {
	sc, report := o.sc, o.report
	list, err := cs.CoreV1().Pods(outageNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	count := map[string]int{}
	classes := map[string]map[string]bool{}
	for _, p := range list.Items {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		s := siteOf(nodes[p.Spec.NodeName])
		count[s]++
		if classes[s] == nil {
			classes[s] = map[string]bool{}
		}
		classes[s][p.Labels[classLabel]] = true
	}
	for _, s := range sc.Sites {
		if count[s.Name] > count[report.Site] {
			report.Site = s.Name
		}
	}
	if report.Site == "" {
		return errors.New("no pod was bound")
	}
	for _, c := range sc.Classes {
		if classes[report.Site][c.Name] {
			report.Classes = append(report.Classes, c.Name)
		}
	}
	return nil
}

// sample reads the affected classes' pods now; down is whether the site
// is down.
func (o *outageScene) sample(ctx context.Context, cs kubernetes.Interface, nodes map[string]map[string]string, t float64, down bool) (OutageSample, error) {
	s := OutageSample{T: t, Down: down, MeanRTT: math.NaN()}
	affected := map[string]bool{}
	for _, c := range o.sc.Classes {
		if slices.Contains(o.report.Classes, c.Name) {
			affected[c.Name] = true
			s.Pods += c.Pods
		}
	}
	list, err := cs.CoreV1().Pods(outageNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, err
	}
	var sum float64
	for _, p := range list.Items {
		class := p.Labels[classLabel]
		if !affected[class] || p.DeletionTimestamp != nil || p.Spec.NodeName == "" {
			continue
		}
		labels := nodes[p.Spec.NodeName]
		site := siteOf(labels)
		si := o.truth.siteIndex(site)
		if si < 0 {
			continue
		}
		cm := o.models[class]
		s.Bound++
		sum += cm.rtt(si)
		res, hw, slo, cc := cm.breaks(si, labels)
		isDown := down && site == o.report.Site
		if isDown {
			s.OnDownSite++
		}
		if res || hw || slo || cc || isDown {
			s.Violations++
		}
	}
	if s.Bound > 0 {
		s.MeanRTT = sum / float64(s.Bound)
	}
	return s, nil
}

// rebalancing says what the rebalancer reports on the followed classes'
// policies: pods due to move, waiting and moving, and why it is paused.
func (o *outageScene) rebalancing(ctx context.Context, pc versioned.Interface, mode placementv1alpha1.RebalanceMode) string {
	if mode != placementv1alpha1.RebalanceOn {
		return ""
	}
	var candidates, waiting, moving int32
	message := ""
	for _, c := range o.report.Classes {
		p, err := pc.PlacementV1alpha1().PlacementPolicies(outageNamespace).Get(ctx, c, metav1.GetOptions{})
		if err != nil || p.Status.Rebalance == nil {
			continue
		}
		st := p.Status.Rebalance
		candidates, waiting, moving = candidates+st.Candidates, waiting+st.Waiting, moving+st.Moving
		if st.Message != "" {
			message = "; " + st.Message
		}
	}
	return fmt.Sprintf("  rebalancer: %d due, %d waiting, %d moving%s", candidates, waiting, moving, message)
}

// startTelemetry serves the demo's controllable series and starts a
// Prometheus scraping them every second, in dir; stop stops both.
func startTelemetry(dir string) (*controlplane.Exporter, *controlplane.Prometheus, func(), error) {
	exp, err := controlplane.StartExporter()
	if err != nil {
		return nil, nil, nil, err
	}
	promDir := filepath.Join(dir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		_ = exp.Close()
		return nil, nil, nil, err
	}
	prom, err := controlplane.StartPrometheus(promDir, exp.ScrapeConfig("proxima-demo"), nil)
	if err != nil {
		_ = exp.Close()
		return nil, nil, nil, err
	}
	return exp, prom, func() { prom.Stop(); _ = exp.Close() }, nil
}
