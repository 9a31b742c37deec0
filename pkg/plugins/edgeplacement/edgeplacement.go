// Package edgeplacement is the EdgePlacement scheduler plugin: it places each
// pod governed by a PlacementPolicy where the policy's hard rules allow
// (residency, tier, hardware, max RTT, max cost, site health) and, among
// those, where its objective (latency, cost, load) is best, and it says why.
// See README.md.
package edgeplacement

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/proxima-sched/proxima/apis/config"
	"github.com/proxima-sched/proxima/apis/config/validation"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/state"
)

// What EdgePlacement reads, beyond what kube-scheduler itself needs (the
// built-in system:kube-scheduler and system:volume-scheduler roles):
// +kubebuilder:rbac:groups=placement.proxima.dev,resources=sites;trafficsources;placementpolicies,verbs=get;list;watch

// Name is the plugin's name in a KubeSchedulerConfiguration.
const Name = "EdgePlacement"

const stateKey fwk.StateKey = "PreFilter" + Name

// EdgePlacement is the plugin.
type EdgePlacement struct {
	handle        framework.Handle
	world         *world
	minCandidates int
	placedEvents  bool
}

var (
	_ framework.PreFilterPlugin   = &EdgePlacement{}
	_ framework.FilterPlugin      = &EdgePlacement{}
	_ framework.PreScorePlugin    = &EdgePlacement{}
	_ framework.ScorePlugin       = &EdgePlacement{}
	_ framework.ScoreExtensions   = &EdgePlacement{}
	_ framework.BindPlugin        = &EdgePlacement{}
	_ framework.PostBindPlugin    = &EdgePlacement{}
	_ framework.EnqueueExtensions = &EdgePlacement{}
)

// New builds the plugin from its args.
func New(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, ok := obj.(*config.EdgePlacementArgs)
	if !ok {
		return nil, fmt.Errorf("want args of type EdgePlacementArgs, got %T", obj)
	}
	if err := validation.ValidateEdgePlacementArgs(field.NewPath("args"), args); err != nil {
		return nil, err
	}
	w, err := sharedWorld(ctx, h.SharedInformerFactory(), h.KubeConfig(), h.Activate,
		time.Duration(args.CacheSyncTimeoutSeconds)*time.Second, args.Telemetry)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return &EdgePlacement{handle: h, world: w, minCandidates: int(args.MinCandidateNodes), placedEvents: args.PlacedEvents}, nil
}

// Name returns the plugin's name.
func (pl *EdgePlacement) Name() string { return Name }

// preFilterState is a pod's compiled placement; immutable once written.
type preFilterState struct {
	policy   *placementv1alpha1.PlacementPolicy
	snap     *state.Snapshot
	plan     *scoring.Plan
	compiled *scoring.Policy
	hardware *nodeaffinity.NodeSelector // nil: no hardware rule
	podCPU   int64                      // millicores requested
}

// Clone returns the state itself: it is never modified after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

func getState(cs fwk.CycleState) (*preFilterState, error) {
	c, err := cs.Read(stateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycle state: %w", stateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("%+v cannot be converted to *edgeplacement.preFilterState", c)
	}
	return s, nil
}

// PreFilter resolves the pod's policy, compiles it against the current
// snapshot and narrows the candidates to the nodes of the best feasible
// sites that together have room for the pod.
func (pl *EdgePlacement) PreFilter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*framework.PreFilterResult, *fwk.Status) {
	// Read before the world: a retry between here and reject reaches the pod.
	gen := pl.world.generation.Load()
	cp, err := pl.world.policyFor(pod)
	if err != nil {
		pl.world.reject(ctx, pod, gen)
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	if cp == nil {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	policy := cp.policy
	if cp.hardwareErr != nil {
		pl.world.reject(ctx, pod, gen)
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
			fmt.Sprintf("PlacementPolicy %s/%s has an invalid hardware rule: %v", policy.Namespace, policy.Name, cp.hardwareErr))
	}
	snap := pl.world.publisher.Load()
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	s := &preFilterState{policy: policy, snap: snap, plan: &scoring.Plan{}, compiled: &scoring.Policy{},
		hardware: cp.hardware, podCPU: reqs.Cpu().MilliValue()}
	if err := snap.CompilePolicy(&policy.Spec, requestsOf(reqs), s.compiled); err != nil {
		pl.world.reject(ctx, pod, gen)
		var unknown *state.UnknownSourceError
		if errors.As(err, &unknown) {
			return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
				fmt.Sprintf("PlacementPolicy %s/%s cannot be evaluated: %v", policy.Namespace, policy.Name, err))
		}
		return nil, fwk.AsStatus(err)
	}
	s.plan.Compile(snap.World, s.compiled)
	cs.Write(stateKey, s)
	if s.plan.NumFeasible() == 0 {
		pl.world.reject(ctx, pod, gen)
		msg := fmt.Sprintf("PlacementPolicy %s/%s: no site meets the hard rules", policy.Namespace, policy.Name)
		if sum := s.plan.ExcludedSummary(); sum != "" {
			msg += " (" + sum + ")"
		}
		if snap.World.Sites.Len() == 0 {
			msg += " (no Sites exist)"
		}
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, msg)
	}
	// Remember the pod until it binds: if no candidate fits now, a node
	// joining a site later must bring it back (see world.retry).
	pl.world.reject(ctx, pod, gen)
	return pl.narrow(s, reqs), nil
}

// narrow returns the nodes of the best-ranked feasible sites, taken in order
// until they hold minCandidates nodes with room for the pod (CPU, memory and
// pod slots, after hardware). The best site is kept whole; a later site that
// completes the count gives only the nodes with room it needs. It reads only
// the nodes of the sites it takes, through the site-to-nodes index and the
// framework's node snapshot.
//
// The count is exact because the framework stops filtering once it has
// found max(100, percentageOfNodesToScore of the candidates) feasible nodes,
// starting at a rotating offset: with more than 100 candidates with room it
// could pass over the best site's last free node and place the pod in a
// worse site. With at most 100 (the default) every candidate with room is
// examined; nodes without room are kept too (they cannot pass the filters,
// so they do not count, and preemption may use them). When no node has room
// anywhere, every feasible site's nodes stay candidates, so the usual
// filters report why and preemption can act.
func (pl *EdgePlacement) narrow(s *preFilterState, reqs v1.ResourceList) *framework.PreFilterResult {
	bySite := *pl.world.nodesBySite.Load()
	infos := pl.handle.SnapshotSharedLister().NodeInfos()
	cpu, mem := reqs.Cpu().MilliValue(), reqs.Memory().Value()
	names := make(sets.Set[string], 2*pl.minCandidates)
	full := make([]string, 0, 2*pl.minCandidates) // nodes without room
	have := 0
	for _, site := range s.plan.Ranked() {
		start, room, whole := len(full), 0, have == 0
		for _, name := range bySite[s.snap.World.Sites.Names[site]] {
			ni, err := infos.Get(name)
			if err != nil || ni.Node() == nil {
				continue // not in this cycle's node snapshot yet
			}
			if !hasRoom(s, ni, cpu, mem) {
				full = append(full, name)
				continue
			}
			room++
			// The best site is kept whole; a later one gives only the
			// nodes with room still needed.
			if whole || have < pl.minCandidates {
				names.Insert(name)
				have++
			}
		}
		if room == 0 {
			continue // its nodes stay in full for the no-room fallback
		}
		names.Insert(full[start:]...)
		if have >= pl.minCandidates {
			break
		}
	}
	if have == 0 {
		// No room anywhere: every feasible site's nodes, so that the usual
		// filters say why and preemption can act.
		names.Insert(full...)
	}
	return &framework.PreFilterResult{NodeNames: names}
}

// hasRoom says whether the node meets the policy's hardware rule and has
// the CPU, memory and a pod slot for the pod's requests.
func hasRoom(s *preFilterState, ni fwk.NodeInfo, cpu, mem int64) bool {
	if s.hardware != nil && !s.hardware.Match(ni.Node()) {
		return false
	}
	alloc, used := ni.GetAllocatable(), ni.GetRequested()
	return alloc.GetMilliCPU()-used.GetMilliCPU() >= cpu && alloc.GetMemory()-used.GetMemory() >= mem &&
		len(ni.GetPods()) < alloc.GetAllowedPodNumber()
}

// PreFilterExtensions is nil: the plugin's decision does not depend on
// other pods.
func (pl *EdgePlacement) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter keeps a node only when its site is feasible for the pod's policy
// and its labels meet the policy's hardware rule. O(1) per node.
func (pl *EdgePlacement) Filter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) *fwk.Status {
	s, err := getState(cs)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := ni.Node()
	site, ok := pl.siteOf(s.snap, node)
	if !ok {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node is in no known Site")
	}
	if !s.plan.SiteFeasible(site) {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "site fails "+s.plan.SiteReason(site).String())
	}
	if s.hardware != nil && !s.hardware.Match(node) {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks the policy's hardware")
	}
	if maxLoad := s.compiled.MaxLoad; maxLoad > 0 {
		load, live, stale := s.snap.NodeLoad(node.Name)
		switch {
		case stale && s.compiled.RejectStaleLoad:
			return fwk.NewStatus(fwk.Unschedulable, "node utilization is stale and the policy rejects stale load")
		case live && !stale && load > maxLoad:
			return fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf("node CPU utilization %.0f%% is above the policy's %.0f%%", load*100, maxLoad*100))
		}
	}
	return nil
}

// PreScore skips scoring for pods without a policy. The site scores were
// computed for every site in one pass in PreFilter.
func (pl *EdgePlacement) PreScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	if _, err := getState(cs); err != nil {
		return fwk.NewStatus(fwk.Skip)
	}
	return nil
}

// Score reads the node's site score and adds its load term (the share of
// the node's CPU that would be requested with this pod on it), on the core's
// fine 0..1,000,000 scale; NormalizeScore brings it to 0..100.
func (pl *EdgePlacement) Score(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := getState(cs)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	site, ok := pl.siteOf(s.snap, ni.Node())
	if !ok {
		return 0, nil
	}
	// Live utilization when fresh, else the share of CPU requested with
	// this pod on the node.
	load, live, stale := s.snap.NodeLoad(ni.Node().Name)
	if !live || stale {
		load = math.NaN()
		if alloc := ni.GetAllocatable().GetMilliCPU(); alloc > 0 {
			load = float64(ni.GetRequested().GetMilliCPU()+s.podCPU) / float64(alloc)
		}
	}
	return s.plan.SiteNodeScoreFine(site, load), nil
}

// ScoreExtensions returns the plugin itself.
func (pl *EdgePlacement) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps this pod's candidates to 0..100 by min-max: the best
// candidate gets 100 and the worst 0 (all 100 when they tie), so the
// policy's objective separates the candidate sites however close they are
// compared with the whole world.
func (pl *EdgePlacement) NormalizeScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, scores framework.NodeScoreList) *fwk.Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi == lo {
			scores[i].Score = framework.MaxNodeScore
			continue
		}
		scores[i].Score = (scores[i].Score - lo) * framework.MaxNodeScore / (hi - lo)
	}
	return nil
}

// Bind binds a pod with a policy as the DefaultBinder does, with the
// placement annotation (where and why) on the Binding, which the apiserver
// copies onto the pod in the same write. Pods without a policy are left to
// the next binder. To run before the DefaultBinder, EdgePlacement must be
// enabled at the bind extension point as well as in multiPoint.
func (pl *EdgePlacement) Bind(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeName string) *fwk.Status {
	s, err := getState(cs)
	if err != nil {
		return fwk.NewStatus(fwk.Skip)
	}
	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	if msg, ok := pl.explainBinding(s, nodeName); ok {
		binding.Annotations = map[string]string{placementv1alpha1.PlacementAnnotation: msg}
	}
	if c := pl.handle.APICacher(); c != nil {
		onFinish, err := c.BindPod(binding)
		if err != nil {
			return fwk.AsStatus(err)
		}
		return fwk.AsStatus(c.WaitOnFinish(ctx, onFinish))
	}
	return fwk.AsStatus(pl.handle.ClientSet().CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}))
}

// PostBind forgets the pod and, with placedEvents, records a Placed event.
func (pl *EdgePlacement) PostBind(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeName string) {
	pl.world.forget(pod)
	if !pl.placedEvents {
		return
	}
	s, err := getState(cs)
	if err != nil {
		return
	}
	if msg, ok := pl.explainBinding(s, nodeName); ok {
		pl.handle.EventRecorder().Eventf(pod, nil, v1.EventTypeNormal, "Placed", "Binding", "%s", msg)
	}
}

// explainBinding explains the placement on nodeName; false when the node is
// gone or in no known site. It runs in the binding cycle, concurrently with
// the next scheduling cycle's snapshot update, so it reads the node from the
// informer cache, not from the framework's snapshot.
func (pl *EdgePlacement) explainBinding(s *preFilterState, nodeName string) (string, bool) {
	node, err := pl.world.nodes.Get(nodeName)
	if err != nil {
		return "", false
	}
	site, ok := pl.siteOf(s.snap, node)
	if !ok {
		return "", false
	}
	return explain(s, site, nodeName), true
}

// explain is the bind-time explanation: site, tier, country, RTT per source
// (marked when estimated or stale) and hourly cost.
func explain(s *preFilterState, site int, nodeName string) string {
	w := s.snap.World
	var b strings.Builder
	fmt.Fprintf(&b, "PlacementPolicy %s placed the pod on %s in site %s (%s, %s)", s.policy.Name, nodeName,
		w.Sites.Names[site], w.Sites.Tier[site], scoring.CountryCode(w.Sites.Country[site]))
	if len(s.compiled.Sources) > 0 {
		b.WriteString("; RTT")
		for i, j := range s.compiled.Sources {
			if i > 0 {
				b.WriteString(",")
			}
			v, f := w.RTTAt(site, j)
			fmt.Fprintf(&b, " %s %s", w.SourceNames[j], formatRTT(v))
			switch {
			case f&scoring.RTTStale != 0:
				b.WriteString(" (declared; live value stale)")
			case f&scoring.RTTLive != 0:
				b.WriteString(" (live)")
			case f&scoring.RTTEstimated != 0:
				b.WriteString(" (estimated)")
			}
		}
	}
	if c := s.plan.SiteCost(site); !math.IsInf(c, 0) {
		fmt.Fprintf(&b, "; cost %s/h", strconv.FormatFloat(c, 'f', 4, 64))
		if live := s.snap.Live(); live != nil && live.PriceMultiplier != nil {
			if _, ok := live.PriceMultiplier[w.Sites.Names[site]]; ok {
				if live.PriceFresh {
					b.WriteString(" (live price)")
				} else {
					b.WriteString(" (declared price; live price stale)")
				}
			}
		}
	}
	fmt.Fprintf(&b, "; %d of %d sites met the hard rules", s.plan.NumFeasible(), w.Sites.Len())
	return b.String()
}

func formatRTT(ms float64) string {
	if ms >= scoring.UnknownRTT {
		return "unknown"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
}

// siteOf resolves a node's site through its label.
func (pl *EdgePlacement) siteOf(snap *state.Snapshot, node *v1.Node) (int, bool) {
	name, ok := node.Labels[placementv1alpha1.SiteLabel]
	if !ok {
		return 0, false
	}
	return snap.SiteIndex(name)
}

func requestsOf(r v1.ResourceList) state.Requests {
	gpus := r[v1.ResourceName("nvidia.com/gpu")]
	return state.Requests{
		Cores:  float64(r.Cpu().MilliValue()) / 1000,
		MemGiB: float64(r.Memory().Value()) / (1 << 30),
		GPUs:   float64(gpus.Value()),
	}
}

// EventsToRegister lists what can make a rejected pod schedulable: a change
// to a Site, TrafficSource or PlacementPolicy, or a node gaining labels.
// (Pods rejected by EdgePlacement are also re-activated after the world is
// rebuilt, which covers the scheduler seeing an event before this plugin's
// own informers do.)
func (pl *EdgePlacement) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	crd := func(plural string) fwk.ClusterEventWithHint {
		return fwk.ClusterEventWithHint{Event: fwk.ClusterEvent{
			Resource:   fwk.EventResource(plural + ".v1alpha1." + placementv1alpha1.GroupName),
			ActionType: fwk.Add | fwk.Update | fwk.Delete,
		}}
	}
	return []fwk.ClusterEventWithHint{
		crd("sites"), crd("trafficsources"), crd("placementpolicies"),
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: isSchedulableAfterNodeChange},
	}, nil
}

// isSchedulableAfterNodeChange queues a pod only for nodes that carry a site.
func isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	node, ok := newObj.(*v1.Node)
	if !ok {
		return fwk.Queue, fmt.Errorf("want a *v1.Node, got %T", newObj)
	}
	if _, ok := node.Labels[placementv1alpha1.SiteLabel]; !ok {
		return fwk.QueueSkip, nil
	}
	return fwk.Queue, nil
}
