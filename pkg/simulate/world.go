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

// Package simulate answers "where would the scheduler put this pod now?"
// over one set of lists: the world the scheduler would build from them
// (pkg/state), every node's pods as the scheduler's cache accounts them,
// and the choice EdgePlacement's narrowing, filters and score make
// (pkg/scoring), the same code the scheduler runs. `kubectl proxima`
// explains and simulates with it; the rebalancer asks it where a running
// pod would go if it were scheduled again.
package simulate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodeports"
	nodeutil "k8s.io/kubernetes/pkg/util/node"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/state"
)

// Settings are what the scheduler's EdgePlacement args say that the CLI
// needs to compute as the scheduler does.
type Settings struct {
	// GPUs are the extended resources priced as GPUs (args gpuResources).
	GPUs state.GPUResources
	// AcceptLegacySiteLabel as in the args.
	AcceptLegacySiteLabel bool
	// Live telemetry to overlay; nil for declared values only.
	Live *state.Live
	// MinCandidateNodes as in the args (0: the default, 100).
	MinCandidateNodes int
	// SchedulerName is the profile the simulated pods name.
	SchedulerName string
	// ProbeBudget is proxima-controller's probe budget (its --probe-*
	// flags); zero for probeplan.DefaultBudget.
	ProbeBudget probeplan.Budget
}

// Probes is the probe budget the settings say.
func (s *Settings) Probes() probeplan.Budget {
	if s.ProbeBudget == (probeplan.Budget{}) {
		return probeplan.DefaultBudget
	}
	return s.ProbeBudget
}

// World is the cluster as one set of lists: the snapshot the scheduler
// would build from them, and every node's pods as the scheduler's cache
// accounts them (NodeInfo).
type World struct {
	Snap     *state.Snapshot
	Settings Settings
	Nodes    map[string]*framework.NodeInfo
	// Pods are all pods, bound or not.
	Pods []*v1.Pod
	// Services are the Services dependencies may name (state.Cluster);
	// ServicesErr says why they could not be listed, which makes a policy
	// with a dependency on a Service fail to plan (fail closed).
	Services    []*v1.Service
	ServicesErr error
	// Policies are the PlacementPolicies the snapshot was built with.
	Policies []*placementv1alpha1.PlacementPolicy
	// Jobs, Claims and Volumes are what the rebalancer's judgement of a
	// pod reads beyond the world (Load lists them; nil when the caller may
	// not list them).
	Jobs    []*batchv1.Job
	Claims  []*v1.PersistentVolumeClaim
	Volumes []*v1.PersistentVolume

	sites   []*placementv1alpha1.Site
	sources []*placementv1alpha1.TrafficSource
	nodes   []*v1.Node
	// plans are the pods' plans on Snap, one per policy and requests
	// (PlanPod); made with Settings.GPUs as New found them.
	plans *state.PlanCache
	// byNamespace indexes Pods for Pods (state.Cluster), made on first use.
	byNamespace *podsByNamespace
}

type podsByNamespace struct {
	once sync.Once
	pods map[string][]*v1.Pod
	// services index Services by namespace and name (Service).
	servicesOnce sync.Once
	services     map[types.NamespacedName]*v1.Service
}

// SelectPods are the pods of the namespace that sel matches (state.Cluster:
// where a policy's dependencies run).
func (w *World) SelectPods(namespace string, sel labels.Selector) ([]*v1.Pod, error) {
	idx := w.byNamespace
	if idx == nil {
		idx = &podsByNamespace{}
		w.byNamespace = idx
	}
	idx.once.Do(func() {
		idx.pods = map[string][]*v1.Pod{}
		for _, p := range w.Pods {
			idx.pods[p.Namespace] = append(idx.pods[p.Namespace], p)
		}
	})
	var out []*v1.Pod
	for _, p := range idx.pods[namespace] {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Service is the named Service (state.Cluster), nil when it does not
// exist; ServicesErr when the Services could not be listed.
// A map by namespace and name, made on first use: a rebalancer round
// places the dependencies of every pod it judges.
func (w *World) Service(namespace, name string) (*v1.Service, error) {
	if w.ServicesErr != nil {
		return nil, w.ServicesErr
	}
	idx := w.byNamespace
	if idx == nil {
		idx = &podsByNamespace{}
		w.byNamespace = idx
	}
	idx.servicesOnce.Do(func() {
		idx.services = make(map[types.NamespacedName]*v1.Service, len(w.Services))
		for _, svc := range w.Services {
			idx.services[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}] = svc
		}
	})
	return idx.services[types.NamespacedName{Namespace: namespace, Name: name}], nil
}

// Lister lists what a World is built from.
type Lister struct {
	Kube      kubernetes.Interface
	Placement versioned.Interface
	// ChunkSize is how many objects each list request asks for
	// (DefaultChunkSize when 0; kubectl's --chunk-size): a fleet's pods
	// and nodes come in pages the apiserver serves from its watch cache,
	// not as one response of every object.
	ChunkSize int64
}

// DefaultChunkSize is kubectl's default --chunk-size.
const DefaultChunkSize = 500

// Load lists Sites, TrafficSources, PlacementPolicies, Nodes and Pods once,
// each in pages of ChunkSize, and builds the World.
func (l Lister) Load(ctx context.Context, settings Settings) (*World, error) {
	pc := l.Placement.PlacementV1alpha1()
	sites, err := listAll[placementv1alpha1.Site](ctx, l.ChunkSize, "Sites", func(o metav1.ListOptions) (runtime.Object, error) {
		return pc.Sites().List(ctx, o)
	})
	if err != nil {
		return nil, err
	}
	sources, err := listAll[placementv1alpha1.TrafficSource](ctx, l.ChunkSize, "TrafficSources", func(o metav1.ListOptions) (runtime.Object, error) {
		return pc.TrafficSources().List(ctx, o)
	})
	if err != nil {
		return nil, err
	}
	policies, err := listAll[placementv1alpha1.PlacementPolicy](ctx, l.ChunkSize, "PlacementPolicies", func(o metav1.ListOptions) (runtime.Object, error) {
		return pc.PlacementPolicies("").List(ctx, o)
	})
	if err != nil {
		return nil, err
	}
	core := l.Kube.CoreV1()
	nodes, err := listAll[v1.Node](ctx, l.ChunkSize, "Nodes", func(o metav1.ListOptions) (runtime.Object, error) {
		return core.Nodes().List(ctx, o)
	})
	if err != nil {
		return nil, err
	}
	pods, err := listAll[v1.Pod](ctx, l.ChunkSize, "Pods", func(o metav1.ListOptions) (runtime.Object, error) {
		return core.Pods("").List(ctx, o)
	})
	if err != nil {
		return nil, err
	}
	w := NewWorld(sites, sources, policies, nodes, pods, settings)
	w.Services, w.ServicesErr = listAll[v1.Service](ctx, l.ChunkSize, "Services", func(o metav1.ListOptions) (runtime.Object, error) {
		return core.Services("").List(ctx, o)
	})
	// What only the rebalancer's verdict reads: a caller who may not list
	// it gets a verdict that assumes the worst (such pods never move).
	if jobs, err := listAll[batchv1.Job](ctx, l.ChunkSize, "Jobs", func(o metav1.ListOptions) (runtime.Object, error) {
		return l.Kube.BatchV1().Jobs("").List(ctx, o)
	}); err == nil {
		w.Jobs = jobs
	}
	claims, err1 := listAll[v1.PersistentVolumeClaim](ctx, l.ChunkSize, "PersistentVolumeClaims", func(o metav1.ListOptions) (runtime.Object, error) {
		return core.PersistentVolumeClaims("").List(ctx, o)
	})
	volumes, err2 := listAll[v1.PersistentVolume](ctx, l.ChunkSize, "PersistentVolumes", func(o metav1.ListOptions) (runtime.Object, error) {
		return core.PersistentVolumes().List(ctx, o)
	})
	if err1 == nil && err2 == nil {
		w.Claims, w.Volumes = claims, volumes
	}
	return w, nil
}

// listAll lists every object of one kind in pages of chunk (client-go's
// pager: an expired continue token falls back to one full list).
func listAll[T any](ctx context.Context, chunk int64, what string, list func(metav1.ListOptions) (runtime.Object, error)) ([]*T, error) {
	p := pager.New(pager.SimplePageFunc(list))
	p.PageSize = chunk
	if chunk <= 0 {
		p.PageSize = DefaultChunkSize
	}
	var out []*T
	err := p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		t, ok := any(obj).(*T)
		if !ok {
			return fmt.Errorf("listing %s: got a %T", what, obj)
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return out, nil
}

// NewWorld builds a World from lists.
func NewWorld(sites []*placementv1alpha1.Site, sources []*placementv1alpha1.TrafficSource, policies []*placementv1alpha1.PlacementPolicy,
	nodes []*v1.Node, pods []*v1.Pod, settings Settings) *World {
	snap := state.Build(state.Objects{Sites: sites, Sources: sources, Policies: policies, Nodes: nodes, Live: settings.Live,
		AcceptLegacySiteLabel: settings.AcceptLegacySiteLabel})
	w := New(snap, nodes, pods, settings)
	w.Policies, w.sites, w.sources = policies, sites, sources
	return w
}

// New is the World of a snapshot kept elsewhere (a state.Model's), with
// the nodes and pods it places among. WithPolicy needs a World from
// NewWorld.
func New(snap *state.Snapshot, nodes []*v1.Node, pods []*v1.Pod, settings Settings) *World {
	w := &World{Snap: snap, Settings: settings, Pods: pods, nodes: nodes, byNamespace: &podsByNamespace{}}
	w.plans = state.NewPlanCache(settings.GPUs, w)
	w.Nodes = make(map[string]*framework.NodeInfo, len(nodes))
	for _, n := range nodes {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		w.Nodes[n.Name] = ni
	}
	for _, p := range pods {
		// The scheduler's cache holds the assigned pods that have not
		// terminated.
		if ni := w.Nodes[p.Spec.NodeName]; ni != nil && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
			ni.AddPod(p)
		}
	}
	return w
}

// WithPolicy is the world with policy added, or replacing the policy of
// the same namespace and name; the nodes' pods are shared with w (Place
// changes them: clone first with Clone).
func (w *World) WithPolicy(policy *placementv1alpha1.PlacementPolicy) *World {
	policies := slices.DeleteFunc(slices.Clone(w.Policies), func(p *placementv1alpha1.PlacementPolicy) bool {
		return p.Namespace == policy.Namespace && p.Name == policy.Name
	})
	policies = append(policies, policy)
	out := *w
	out.Policies, out.plans = policies, state.NewPlanCache(w.Settings.GPUs, &out)
	out.Snap = state.Build(state.Objects{Sites: w.sites, Sources: w.sources, Policies: policies, Nodes: w.nodes, Live: w.Settings.Live,
		AcceptLegacySiteLabel: w.Settings.AcceptLegacySiteLabel})
	return &out
}

// Clone copies the nodes' pod accounting, so that Place on the copy
// leaves w as it is.
func (w *World) Clone() *World {
	out := *w
	out.Nodes = make(map[string]*framework.NodeInfo, len(w.Nodes))
	for name, ni := range w.Nodes {
		out.Nodes[name] = ni.SnapshotConcrete()
	}
	return &out
}

// PlanPod is Snap.PlanPod with the World's GPU resources, the pods of one
// policy and requests sharing one evaluation (state.PlanCache): a
// rebalancer round judges every replica of a Deployment on one plan.
func (w *World) PlanPod(pod *v1.Pod) (*state.PodPlan, error) {
	if w.plans == nil { // a World not made by New
		return w.Snap.PlanPod(pod, w.Settings.GPUs, w)
	}
	return w.plans.PlanPod(w.Snap, pod)
}

// Without is the world with pod's requests taken off its node (to ask
// where the scheduler would put it now).
func (w *World) Without(pod *v1.Pod) *World {
	out := w.Clone()
	if ni := out.Nodes[pod.Spec.NodeName]; ni != nil {
		_ = ni.RemovePod(klog.Background(), pod)
	}
	return out
}

// ChooseAgain is Choose for a pod that is bound: where the scheduler would
// put it if it were scheduled again now, its own requests taken off its
// node for the question (as Without, without copying the world).
func (w *World) ChooseAgain(pp *state.PodPlan, pod *v1.Pod) (Choice, bool) {
	if ni := w.Nodes[pod.Spec.NodeName]; ni != nil {
		if err := ni.RemovePod(klog.Background(), pod); err == nil {
			defer ni.AddPod(pod)
		}
	}
	return w.Choose(pp, pod)
}

// Node is the node of that name, or nil.
func (w *World) Node(name string) *v1.Node {
	if ni := w.Nodes[name]; ni != nil {
		return ni.Node()
	}
	return nil
}

// Reserve accounts pod on node as the scheduler's cache would once it is
// bound there (a move in flight: its replacement is not created yet).
func (w *World) Reserve(pod *v1.Pod, node string) {
	if ni := w.Nodes[node]; ni != nil {
		p := pod.DeepCopy()
		p.Spec.NodeName = node
		ni.AddPod(p)
	}
}

// Choice is where the scheduler's EdgePlacement score puts a pod.
type Choice struct {
	Node  string
	Site  int
	Load  float64 // the node's utilization as its score used it
	Score float64 // the node's candidate score, 0..1 (scoring.Plan.CandidateValue)
}

// Candidate reports whether a node passes, for the pod, the filters that
// decide almost every placement: EdgePlacement's (its site is feasible,
// the hardware rule, room for the requests, the load rule) and
// kube-scheduler's NodeUnschedulable, TaintToleration and NodeAffinity;
// Choose adds NodePorts for a pod with host ports. Filters it does not
// model (volumes, inter-pod affinity, topology spread) can make the
// scheduler reject a node it accepts.
func (w *World) Candidate(pp *state.PodPlan, ni *framework.NodeInfo) (site int, ok bool) {
	node := ni.Node()
	site, ok = w.Snap.SiteOfNode(node)
	// NodeHasRoom applies the pod's NodeAdmission (PlanPod set it).
	ok = ok && pp.Plan.SiteFeasible(site) && pp.NodeHasRoom(ni) && pp.Plan.LoadRule(w.Snap.NodeLoad(node.Name)) == scoring.LoadAllowed
	return site, ok
}

// Choose is the node the scheduler's EdgePlacement score ranks first for
// the pod among the nodes PreFilter narrows to (state.PodPlan.Narrow) that
// pass the filters (Candidate) and whose site the policy's spread rule
// allows for the pod where its workload runs in this world
// (state.PodPlan.Spread): the best candidate score (the core's
// CandidateValue over those nodes, as NormalizeScore computes it), ties
// broken by node name. false when no node is a candidate.
func (w *World) Choose(pp *state.PodPlan, pod *v1.Pod) (Choice, bool) {
	minCandidates := w.Settings.MinCandidateNodes
	if minCandidates <= 0 {
		minCandidates = int(configv1.DefaultMinCandidateNodes)
	}
	spread := w.Spread(pp, pod)
	excluded := func(node *v1.Node) bool {
		if spread == nil {
			return false
		}
		site, ok := w.Snap.SiteOfNode(node)
		return ok && spread.Reason(int32(site)) != scoring.SpreadAllowed
	}
	fits := func(name string) state.NodeFit {
		ni := w.Nodes[name]
		if ni == nil {
			return state.NodeUnknown
		}
		if excluded(ni.Node()) {
			return state.NodeExcluded
		}
		return pp.NodeFit(w.Snap, ni)
	}
	names, narrowed := pp.Narrow(w.Snap, minCandidates, false, fits, nil)
	best, ok := w.best(pp, pod, names, excluded)
	if !ok && narrowed {
		// The scheduler's PostFilter widens a narrowed attempt that found
		// no node (a filter narrowing does not model rejected every
		// candidate); its next attempt takes every
		// feasible site's nodes.
		names, _ = pp.Narrow(w.Snap, minCandidates, true, fits, nil)
		best, ok = w.best(pp, pod, names, excluded)
	}
	return best, ok
}

// Spread is the policy's spread rule judged for pod where its workload
// runs in this world (state.PodPlan.Spread); nil when the policy has none.
func (w *World) Spread(pp *state.PodPlan, pod *v1.Pod) *scoring.SpreadVerdict {
	return pp.Spread(w.Snap, pod, w.nodeInfo)
}

// nodeInfo is the node of that name as the world accounts it, or nil.
func (w *World) nodeInfo(name string) fwk.NodeInfo {
	if ni := w.Nodes[name]; ni != nil {
		return ni
	}
	return nil
}

// best ranks the candidates among names as EdgePlacement's Score and
// NormalizeScore do and returns the first, ties broken by node name.
func (w *World) best(pp *state.PodPlan, pod *v1.Pod, names sets.Set[string], excluded func(*v1.Node) bool) (Choice, bool) {
	type candidate struct {
		Choice
		raw scoring.NodeScore
	}
	cands := make([]candidate, 0, len(names))
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	ports := hasHostPorts(pod)
	for name := range names {
		ni := w.Nodes[name]
		site, ok := w.Candidate(pp, ni)
		if !ok || ports && !nodeports.Fits(pod, ni) || excluded(ni.Node()) {
			continue
		}
		load := w.Snap.ScoreLoad(ni, pp.CPUMilli())
		raw := pp.Plan.NodeScore(site, load)
		lo, hi = min(lo, raw.Site()), max(hi, raw.Site())
		cands = append(cands, candidate{Choice{Node: name, Site: site, Load: load}, raw})
	}
	best := Choice{Score: -1}
	for _, c := range cands {
		c.Score = pp.Plan.CandidateValue(c.raw, lo, hi)
		if c.Score > best.Score || c.Score == best.Score && c.Node < best.Node {
			best = c.Choice
		}
	}
	return best, best.Score >= 0
}

// hasHostPorts reports whether a container of the pod asks for a host port.
func hasHostPorts(pod *v1.Pod) bool {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				return true
			}
		}
	}
	return false
}

// Place chooses a node for the pod and accounts it there.
func (w *World) Place(pp *state.PodPlan, pod *v1.Pod) (Choice, bool) {
	c, ok := w.Choose(pp, pod)
	if ok {
		w.Reserve(pod, c.Node)
	}
	return c, ok
}

// BestAlternative is the lowest load among site i's candidate nodes for
// the pod, or why it has none (a state.Alternative).
func (w *World) BestAlternative(pp *state.PodPlan, pod *v1.Pod) state.Alternative {
	return func(i int) (float64, string) {
		return pp.BestNodeIn(w.Snap, i, w.nodeInfo)
	}
}

// Free is the unrequested allocatable CPU (millicores), memory (bytes) and
// pod slots of the nodes of site i that accept pods (schedulable, Ready).
type Free struct {
	MilliCPU, Memory int64
	Pods             int
	Nodes, Ready     int
}

// SiteFree sums Free over the nodes of site i.
func (w *World) SiteFree(i int) Free {
	var f Free
	for _, name := range w.Snap.NodesIn(i) {
		ni := w.Nodes[name]
		if ni == nil {
			continue
		}
		f.Nodes++
		if !nodeutil.IsNodeReady(ni.Node()) || ni.Node().Spec.Unschedulable {
			continue
		}
		f.Ready++
		alloc, used := ni.GetAllocatable(), ni.GetRequested()
		f.MilliCPU += max(0, alloc.GetMilliCPU()-used.GetMilliCPU())
		f.Memory += max(0, alloc.GetMemory()-used.GetMemory())
		f.Pods += max(0, alloc.GetAllowedPodNumber()-len(ni.GetPods()))
	}
	return f
}

// LargestFree is the most CPU and memory free on any one ready,
// schedulable node of site i.
func (w *World) LargestFree(i int) (milliCPU, memory int64) {
	for _, name := range w.Snap.NodesIn(i) {
		ni := w.Nodes[name]
		if ni == nil || !nodeutil.IsNodeReady(ni.Node()) || ni.Node().Spec.Unschedulable {
			continue
		}
		alloc, used := ni.GetAllocatable(), ni.GetRequested()
		milliCPU = max(milliCPU, alloc.GetMilliCPU()-used.GetMilliCPU())
		memory = max(memory, alloc.GetMemory()-used.GetMemory())
	}
	return milliCPU, memory
}
