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
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/pkg/state"
)

// DependencyScene is the dependency scene's workload, on the scenario's
// sites and sources, in the order it is deployed (what is called before
// what calls it): a database in an EU cloud region, a feature cache in
// regional points of presence that reads it, a store's camera ingest
// (pinned to the store, for every scheduler alike) and the stream
// analytics that read its video, and the stores' API at the edge or a
// regional point of presence, which calls the cache and the database and
// serves EU shoppers.
func DependencyScene() []ClassSpec {
	dep := func(name string, maxRTT int32, weight int32) placementv1alpha1.DependencyRef {
		d := placementv1alpha1.DependencyRef{Name: name,
			PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{classLabel: placementv1alpha1.LabelValue(name)}}}
		if maxRTT > 0 {
			d.MaxRTTMilliseconds = ptr.To(maxRTT)
		}
		if weight > 0 {
			d.Weight = ptr.To(weight)
		}
		return d
	}
	eu := &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	weights := func(latency, cost int32) *placementv1alpha1.ObjectiveWeights {
		return &placementv1alpha1.ObjectiveWeights{Latency: ptr.To(latency), Cost: ptr.To(cost), Load: ptr.To[int32](0)}
	}
	stream := dep("camera-ingest", 0, 0)
	stream.Traffic = &placementv1alpha1.Traffic{ReceivedGiBPerHour: ptr.To(resource.MustParse("40"))}
	return []ClassSpec{
		{Name: "orders-db", Pods: 2, CPU: resource.MustParse("2"), Memory: resource.MustParse("4Gi"), Policy: placementv1alpha1.PlacementPolicySpec{
			Residency: eu, Tiers: []placementv1alpha1.SiteTier{placementv1alpha1.TierCloud}, Weights: weights(0, 100)}},
		{Name: "feature-cache", Pods: 3, CPU: resource.MustParse("1"), Memory: resource.MustParse("2Gi"), Policy: placementv1alpha1.PlacementPolicySpec{
			Residency: eu, Tiers: []placementv1alpha1.SiteTier{placementv1alpha1.TierRegional},
			Dependencies: []placementv1alpha1.DependencyRef{dep("orders-db", 30, 0)}, Weights: weights(70, 30)}},
		{Name: "camera-ingest", Pods: 1, CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"),
			NodeSelector: map[string]string{placementv1alpha1.SiteLabel: "store-munich"},
			Policy:       placementv1alpha1.PlacementPolicySpec{Residency: eu, Weights: weights(0, 100)}},
		{Name: "stream-analytics", Pods: 2, CPU: resource.MustParse("1"), Memory: resource.MustParse("2Gi"), Policy: placementv1alpha1.PlacementPolicySpec{
			Residency: eu, Dependencies: []placementv1alpha1.DependencyRef{stream}, Weights: weights(20, 80)}},
		{Name: "store-api", Pods: 6, CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"), Policy: placementv1alpha1.PlacementPolicySpec{
			Residency: eu, Tiers: []placementv1alpha1.SiteTier{placementv1alpha1.TierEdge, placementv1alpha1.TierRegional},
			Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{
				{Name: "eu-strasbourg"}, {Name: "eu-nuremberg"}, {Name: "eu-venice"}, {Name: "eu-graz"}, {Name: "eu-brno"}}},
			Dependencies: []placementv1alpha1.DependencyRef{dep("feature-cache", 20, 3), dep("orders-db", 0, 1)},
			Weights:      weights(90, 10)}},
	}
}

// DependencyOptions configure the dependency scene.
type DependencyOptions struct {
	// Scenario gives the sites and sources; its classes are replaced by
	// DependencyScene's.
	Scenario        *Scenario
	SchedulerConfig string
	Progress        io.Writer
	SettleTimeout   time.Duration
}

// DependencyReport is the scene's outcome: each call edge's RTT and each
// class's hourly cost under Proxima, the default scheduler and the
// optimum.
type DependencyReport struct {
	Classes []ClassSpec
	// Placements per scheduler (and "optimum"), by class, one site per pod
	// ("" for a pod left unscheduled).
	Placements map[string]map[string][]string
	Edges      []EdgeReport
	Costs      []CostReport

	world *sceneWorld
}

// EdgeReport is one call edge (a class and one of its dependencies).
type EdgeReport struct {
	Caller, Callee string
	// Bound is the dependency's maxRTTMilliseconds (0: none).
	Bound float64
	// RTT per scheduler: the mean over the caller's placed pods of the
	// mean RTT to the callee's placed pods, measured between the sites'
	// cities; NaN when either side has none placed.
	RTT map[string]float64
	// Over counts the caller's pods above Bound, per scheduler.
	Over map[string]int
}

// CostReport is one class's hourly cost per scheduler: its pods' CPU and
// memory at their sites' prices, and the egress of the traffic they
// declare, priced where it leaves a site.
type CostReport struct {
	Class           string
	Compute, Egress map[string]float64
	Unplaced        map[string]int
}

// Who the scene compares.
var dependencyWho = []string{ProximaScheduler, DefaultScheduler, "optimum"}

// RunDependencies runs the dependency scene: a control plane with the
// scenario's sites (and their measured RTTs to each other declared) and
// sources, the scene's classes deployed in order, each once the previous
// one settled, for Proxima and then the default scheduler; then the
// optimum and the report.
func RunDependencies(ctx context.Context, opts DependencyOptions) (*DependencyReport, error) {
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	m, err := LoadMeasurements()
	if err != nil {
		return nil, err
	}
	sc := *opts.Scenario
	sc.Classes = DependencyScene()
	if err := sc.Validate(m); err != nil {
		return nil, err
	}
	w := newSceneWorld(&sc, m)
	say("==> starting etcd and kube-apiserver (from bin/), installing the CRDs")
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		say("==> stopping the control plane")
		_ = cp.Stop()
	}()
	pc := versioned.NewForConfigOrDie(cp.Config)
	say("==> creating %d sites (%d nodes) with their measured RTTs to each other, %d traffic sources", len(sc.Sites), sc.nodeCount(), len(sc.Sources))
	if err := createSceneWorld(ctx, cp.Client, pc, &sc, m); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "proxima-demo-dependencies")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "scheduler-config.yaml")
	if err := schedconfig.Rewrite(opts.SchedulerConfig, cfg, func(c *schedv1.KubeSchedulerConfiguration) error {
		c.Profiles = append(c.Profiles, schedv1.KubeSchedulerProfile{SchedulerName: ptr.To(DefaultScheduler)})
		return nil
	}); err != nil {
		return nil, err
	}
	say("==> starting the scheduler (profiles %s and %s)", ProximaScheduler, DefaultScheduler)
	sched, err := runScheduler(ctx, cp, filepath.Join(dir, "run"), cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sched.Stop() }()
	r := &DependencyReport{Classes: sc.Classes, Placements: map[string]map[string][]string{}, world: w}
	for _, who := range []string{ProximaScheduler, DefaultScheduler} {
		say("==> deploying %s with %s, each class once the one before has settled", classNames(sc.Classes), who)
		start := time.Now()
		placed, err := runOrdered(ctx, cp.Client, pc, &sc, who, opts.SettleTimeout)
		if err != nil {
			return nil, err
		}
		r.Placements[who] = placed
		say("    settled in %s", time.Since(start).Round(100*time.Millisecond))
	}
	say("==> the optimum, class after class")
	if r.Placements["optimum"], err = w.optimum(sc.Classes); err != nil {
		return nil, err
	}
	if err := r.evaluate(); err != nil {
		return nil, err
	}
	return r, nil
}

func classNames(classes []ClassSpec) string {
	var names []string
	for _, c := range classes {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// createSceneWorld creates the sites, each declaring its measured RTT to
// every other (rounded up, as the sources' are), their nodes and the
// sources.
func createSceneWorld(ctx context.Context, cs kubernetes.Interface, pc versioned.Interface, sc *Scenario, m *Measurements) error {
	sites, sources, _, _ := sc.objects(m)
	for i, site := range sites {
		for j, other := range sc.Sites {
			if ms, ok := m.RTT(sc.Sites[i].City, other.City); ok && j != i {
				site.Spec.RTTs = append(site.Spec.RTTs, placementv1alpha1.SiteRTT{Site: other.Name, Milliseconds: int32(math.Ceil(ms))})
			}
		}
	}
	return createObjects(ctx, cs, pc, sc, sites, sources)
}

// runOrdered creates the classes' policies in a namespace of their own,
// then each class's pods once the previous class has settled, and returns
// the site of every pod by class; it deletes the pods afterwards.
func runOrdered(ctx context.Context, cs kubernetes.Interface, pc versioned.Interface, sc *Scenario, scheduler string, timeout time.Duration) (map[string][]string, error) {
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ns := "deps-" + scheduler
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
	for _, c := range sc.Classes {
		for i := range c.Pods {
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod(c, i, ns, scheduler), metav1.CreateOptions{}); err != nil {
				return nil, err
			}
			created++
		}
		// A class that did not settle in time is reported as it is.
		if err := settle(ctx, cs, ns, created, timeout); err != nil && ctx.Err() != nil {
			return nil, err
		}
	}
	placements, err := readPlacements(ctx, cs, ns)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range placements {
		out[p.Class] = append(out[p.Class], p.Site)
	}
	return out, deletePods(ctx, cs, ns)
}

// sceneWorld is what the report judges by: the scenario's world as the
// scheduler's world model builds it, with every RTT, between a source and
// a site and between two sites, its true value (live, measured where
// measured, else the distance estimate), so that a placement is judged by
// the scheduler's own rules (feasibility, the latency objective, cost with
// egress) on the truth.
type sceneWorld struct {
	sc   *Scenario
	m    *Measurements
	snap *state.Snapshot
	gpus state.GPUResources
}

func newSceneWorld(sc *Scenario, m *Measurements) *sceneWorld {
	sites, sources, _, _ := sc.objects(m)
	live := &state.Live{
		RTT:     state.Signal[state.SourceSite, float64]{Enabled: true, Fresh: true, Values: map[state.SourceSite]float64{}},
		SiteRTT: state.Signal[state.SitePair, float64]{Enabled: true, Fresh: true, Values: map[state.SitePair]float64{}},
	}
	for _, a := range sc.Sites {
		for _, src := range sc.Sources {
			live.RTT.Values[state.SourceSite{Source: src.Name, Site: a.Name}], _ = m.TrueRTT(src.City, a.City)
		}
		for _, b := range sc.Sites {
			if a.Name != b.Name {
				live.SiteRTT.Values[state.PairOfSites(a.Name, b.Name)], _ = m.TrueRTT(a.City, b.City)
			}
		}
	}
	return &sceneWorld{sc: sc, m: m, snap: state.Build(state.Objects{Sites: sites, Sources: sources, Policies: classPolicies(sc.Classes), Live: live}),
		gpus: state.NewGPUResources(configv1.DefaultGPUResources)}
}

func (w *sceneWorld) site(name string) (SiteSpec, bool) {
	i := slices.IndexFunc(w.sc.Sites, func(s SiteSpec) bool { return s.Name == name })
	if i < 0 {
		return SiteSpec{}, false
	}
	return w.sc.Sites[i], true
}

// siteRTT is the true RTT between two sites' cities (0.5 ms within one).
func (w *sceneWorld) siteRTT(a, b string) float64 {
	sa, _ := w.site(a)
	sb, _ := w.site(b)
	ms, _ := w.m.TrueRTT(sa.City, sb.City)
	return ms
}

// toDependency is the mean RTT from site a to the callee's placed pods.
func (w *sceneWorld) toDependency(a string, callee []string) (float64, bool) {
	var sum float64
	n := 0
	for _, s := range callee {
		if s != "" {
			sum += w.siteRTT(a, s)
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// plan is the class's policy as the scheduler evaluates it for one of its
// pods, its dependencies placed as placed says (one site per pod, "" for
// a pod not placed).
func (w *sceneWorld) plan(c ClassSpec, placed map[string][]string) (*state.PodPlan, error) {
	policy, err := classPolicy(w.snap, c)
	if err != nil {
		return nil, err
	}
	deps := make([]state.DependencyPlacement, len(c.Policy.Dependencies))
	for i, d := range c.Policy.Dependencies {
		deps[i].Name = d.Name
		count := map[int32]int32{}
		for _, site := range placed[d.Name] {
			if k, ok := w.snap.SiteIndex(site); ok {
				count[int32(k)]++
			}
		}
		for k := range count {
			deps[i].Sites = append(deps[i].Sites, k)
		}
		slices.Sort(deps[i].Sites)
		for _, k := range deps[i].Sites {
			deps[i].Pods = append(deps[i].Pods, count[k])
		}
	}
	return w.snap.PlanPolicy(policy, state.PodRequests(pod(c, 0, "", "")), w.gpus, deps)
}

// cost is one pod's hourly compute and egress at site a.
func (w *sceneWorld) cost(pp *state.PodPlan, a string) (compute, egress float64) {
	i, _ := w.snap.SiteIndex(a)
	return pp.Plan.SiteCost(i) - pp.Plan.SiteEgress(i), pp.Plan.SiteEgress(i)
}

// feasible reports whether a pod of c may run at site a: its policy's
// hard rules on the truth, and its node selector's site.
func (w *sceneWorld) feasible(c ClassSpec, pp *state.PodPlan, a string) bool {
	if site, ok := c.NodeSelector[placementv1alpha1.SiteLabel]; ok && site != a {
		return false
	}
	i, ok := w.snap.SiteIndex(a)
	return ok && pp.Plan.SiteFeasible(i)
}

// optimum places the classes in order, each pod on the feasible site with
// room that is best for the class's leading objective (latency when its
// latency weight is at least its cost weight, else the hourly cost with
// egress), given where the optimum put the classes before it. It is the
// best each class can do in this order, by its own measure; not a joint
// optimum over all classes.
func (w *sceneWorld) optimum(classes []ClassSpec) (map[string][]string, error) {
	free := map[string]float64{}
	for _, s := range w.sc.Sites {
		free[s.Name] = float64(s.Nodes * s.CPU)
	}
	placed := map[string][]string{}
	for _, c := range classes {
		cpu := c.CPU.AsApproximateFloat64()
		byLatency := c.Policy.Weights != nil && ptr.Deref(c.Policy.Weights.Latency, 0) >= ptr.Deref(c.Policy.Weights.Cost, 0)
		for range c.Pods {
			pp, err := w.plan(c, placed)
			if err != nil {
				return nil, err
			}
			best, bestV := "", math.Inf(1)
			for _, s := range w.sc.Sites {
				if free[s.Name] < cpu || !w.feasible(c, pp, s.Name) {
					continue
				}
				i, _ := w.snap.SiteIndex(s.Name)
				v := pp.Plan.SiteCost(i)
				if byLatency {
					v = pp.Plan.SiteLatency(i)
				}
				if v < bestV {
					best, bestV = s.Name, v
				}
			}
			if best != "" {
				free[best] -= cpu
			}
			placed[c.Name] = append(placed[c.Name], best)
		}
	}
	return placed, nil
}

// evaluate fills Edges and Costs from the placements.
func (r *DependencyReport) evaluate() error {
	w := r.world
	r.Edges, r.Costs = nil, nil
	for _, c := range r.Classes {
		for _, d := range c.Policy.Dependencies {
			e := EdgeReport{Caller: c.Name, Callee: d.Name, RTT: map[string]float64{}, Over: map[string]int{}}
			if d.MaxRTTMilliseconds != nil {
				e.Bound = float64(*d.MaxRTTMilliseconds)
			}
			for _, who := range dependencyWho {
				placed := r.Placements[who]
				var sum float64
				n := 0
				for _, a := range placed[c.Name] {
					if a == "" {
						continue
					}
					if ms, ok := w.toDependency(a, placed[d.Name]); ok {
						sum += ms
						n++
						if e.Bound > 0 && ms > e.Bound {
							e.Over[who]++
						}
					}
				}
				e.RTT[who] = math.NaN()
				if n > 0 {
					e.RTT[who] = sum / float64(n)
				}
			}
			r.Edges = append(r.Edges, e)
		}
		cr := CostReport{Class: c.Name, Compute: map[string]float64{}, Egress: map[string]float64{}, Unplaced: map[string]int{}}
		for _, who := range dependencyWho {
			placed := r.Placements[who]
			pp, err := w.plan(c, placed)
			if err != nil {
				return err
			}
			for _, a := range placed[c.Name] {
				if a == "" {
					cr.Unplaced[who]++
					continue
				}
				compute, egress := w.cost(pp, a)
				cr.Compute[who] += compute
				cr.Egress[who] += egress
			}
		}
		r.Costs = append(r.Costs, cr)
	}
	return nil
}
