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

package edgeplacement

import (
	"context"
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/state"
)

// Filter reasons, phrased to follow a count in the scheduler's summary
// ("0/12 nodes are available: 3 node(s) in a Site the policy's residency
// rule excludes, ..."). The numbers behind a rejection are logged at V(5).
const (
	ErrReasonNoSite     = "node(s) in no known Site"
	ErrReasonResidency  = "node(s) in a Site the policy's residency rule excludes"
	ErrReasonTier       = "node(s) in a Site of a tier the policy excludes"
	ErrReasonUnhealthy  = "node(s) in an unhealthy Site"
	ErrReasonStale      = "node(s) in a Site with stale or missing telemetry, which the policy rejects"
	ErrReasonMaxRTT     = "node(s) in a Site over the policy's max RTT"
	ErrReasonMaxCost    = "node(s) in a Site over the policy's max hourly cost"
	ErrReasonHardware   = "node(s) didn't match the policy's hardware rule"
	ErrReasonLoad       = "node(s) over the policy's max CPU utilization"
	ErrReasonStaleLoad  = "node(s) with stale or missing CPU utilization, which the policy rejects"
	errReasonInfeasible = "node(s) in a Site that fails the policy's hard rules"
)

// siteReasons maps the core's reason a site is infeasible to Filter's.
var siteReasons = [scoring.NumReasons]string{
	scoring.ReasonResidency: ErrReasonResidency,
	scoring.ReasonTier:      ErrReasonTier,
	scoring.ReasonUnhealthy: ErrReasonUnhealthy,
	scoring.ReasonStale:     ErrReasonStale,
	scoring.ReasonMaxRTT:    ErrReasonMaxRTT,
	scoring.ReasonMaxCost:   ErrReasonMaxCost,
}

// PreFilter resolves the pod's policy, evaluates it against one snapshot of
// the world and narrows the candidates to the nodes of the best feasible
// sites that together have room for the pod (narrow). A pod that requests
// nothing is refused under a cost cap: its cost is 0 everywhere, so the cap
// would bind nothing (README.md, Cost).
func (pl *EdgePlacement) PreFilter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*framework.PreFilterResult, *fwk.Status) {
	snap := pl.model.Load()
	s, status := pl.evaluate(snap, pod)
	if status.Code() == fwk.Skip {
		return nil, status
	}
	var result *framework.PreFilterResult
	if status.IsSuccess() {
		if result, status = pl.narrow(s, pod); status.IsSuccess() {
			cs.Write(preFilterStateKey, s)
		}
	}
	// Remember the pod until it binds: a rejected pod must come back when
	// the world changes so that it can pass, and so must one whose
	// candidates all fail (a node joining a site later brings it back).
	pl.waiting.add(ctx, pod, snap, s)
	return result, status
}

// evaluate resolves the pod's policy and evaluates it against snap: the
// verdict PreFilter acts on, and the one a waiting pod is judged by again
// when the world changes (retry.go). Skip for a pod without a policy; a
// status that rejects the pod (fail closed) when its policy is missing or
// invalid, it names an unknown TrafficSource, it requests nothing under a
// cost cap, or no site meets its hard rules.
func (pl *EdgePlacement) evaluate(snap *state.Snapshot, pod *v1.Pod) (*preFilterState, *fwk.Status) {
	policy, err := snap.PolicyFor(pod)
	if err != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
	}
	if policy == nil {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	if policy.HardwareErr != nil {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
			fmt.Sprintf("PlacementPolicy %s/%s has an invalid hardware rule: %v", policy.Namespace, policy.Name, policy.HardwareErr))
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	req := state.RequestsOf(reqs, pl.gpus)
	if policy.Spec.Cost != nil && req == (state.Requests{}) {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf(
			"PlacementPolicy %s/%s caps the hourly cost (cost.maxHourly), but the pod requests no CPU, memory or GPUs, so its cost is unknown: set resource requests",
			policy.Namespace, policy.Name))
	}
	s := &preFilterState{policy: policy, snap: snap, plan: &scoring.Plan{}, rules: &scoring.Policy{},
		podCPU: reqs.Cpu().MilliValue(), podMem: reqs.Memory().Value()}
	if err := snap.CorePolicy(&policy.Spec, req, s.rules); err != nil {
		var unknown *state.UnknownSourceError
		if errors.As(err, &unknown) {
			return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
				fmt.Sprintf("PlacementPolicy %s/%s cannot be evaluated: %v", policy.Namespace, policy.Name, err))
		}
		return nil, fwk.AsStatus(err)
	}
	s.plan.Evaluate(snap.World, s.rules)
	if s.plan.NumFeasible() == 0 {
		msg := fmt.Sprintf("PlacementPolicy %s/%s: no site meets the hard rules", policy.Namespace, policy.Name)
		if sum := s.plan.ExcludedSummary(); sum != "" {
			msg += " (" + sum + ")"
		}
		if snap.World.Sites.Len() == 0 {
			msg += " (no Sites exist)"
		}
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, msg)
	}
	return s, nil
}

// narrow returns the nodes of the best-ranked feasible sites, taken in order
// until they hold minCandidates nodes that fit the pod (nodeFits: hardware,
// cordon, taints, node selector and required node affinity, CPU, memory and
// pod slots). The best site is kept whole; a later site that completes the
// count gives only the fitting nodes it needs. It reads only the nodes of
// the sites it takes, through the snapshot's site-to-nodes index and the
// framework's node snapshot.
//
// The count is exact because the framework stops filtering once it has
// found max(100, percentageOfNodesToScore of the candidates) feasible nodes,
// starting at a rotating offset: with more than 100 candidates that fit it
// could pass over the best site's last free node and place the pod in a
// worse site. With at most 100 (the default) every candidate that fits is
// examined; nodes that do not fit are kept too (they cannot pass the
// filters, so they do not count, and preemption may use them).
//
// Narrowing never strands a pod: when no node fits anywhere, and when the
// pod's previous narrowed attempt ended unschedulable (a filter this
// estimate does not model, such as host ports or pod anti-affinity,
// rejected every candidate; see PostFilter), every feasible site's nodes
// are candidates. With no candidate at all, the feasible sites have no
// nodes, and the pod is refused with that reason.
func (pl *EdgePlacement) narrow(s *preFilterState, pod *v1.Pod) (*framework.PreFilterResult, *fwk.Status) {
	infos := pl.handle.SnapshotSharedLister().NodeInfos()
	fit := newNodeFit(s, pod)
	wide := pl.waiting.isWide(pod)
	names := make(sets.Set[string], 2*pl.minCandidates)
	full := make([]string, 0, 2*pl.minCandidates) // nodes that do not fit
	have := 0
	for r, site := range s.plan.Ranked() {
		start, room, whole := len(full), 0, have == 0 || wide
		for _, name := range s.snap.NodesIn(int(site)) {
			ni, err := infos.Get(name)
			if err != nil || ni.Node() == nil {
				continue // not in this cycle's node snapshot yet
			}
			if !fit.fits(ni) {
				full = append(full, name)
				continue
			}
			room++
			// The best site is kept whole; a later one gives only the
			// nodes that fit still needed.
			if whole || have < pl.minCandidates {
				names.Insert(name)
				have++
			} else {
				s.narrowed = true
			}
		}
		if room == 0 {
			continue // its nodes stay in full for the no-room fallback
		}
		names.Insert(full[start:]...)
		if !wide && have >= pl.minCandidates {
			s.narrowed = s.narrowed || r < s.plan.NumFeasible()-1
			break
		}
	}
	if have == 0 {
		// Nothing fits anywhere: every feasible site's nodes, so that the
		// usual filters say why and preemption can act.
		names.Insert(full...)
	}
	if len(names) == 0 {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, s.noNodesMessage())
	}
	return &framework.PreFilterResult{NodeNames: names}, nil
}

// noNodesMessage says why a pod with feasible sites has no candidate node:
// the node list is not indexed yet, or no node carries the label of any
// feasible site (forgotten or mistyped).
func (s *preFilterState) noNodesMessage() string {
	p := s.policy
	if !s.snap.NodesIndexed() {
		return fmt.Sprintf("PlacementPolicy %s/%s: the scheduler has not listed the nodes yet", p.Namespace, p.Name)
	}
	ranked := s.plan.Ranked()
	const most = 5
	var sites []string
	for _, i := range ranked[:min(len(ranked), most)] {
		sites = append(sites, s.snap.World.Sites.Names[i])
	}
	list := strings.Join(sites, ", ")
	if len(ranked) > most {
		list += fmt.Sprintf(" and %d more", len(ranked)-most)
	}
	return fmt.Sprintf("PlacementPolicy %s/%s: %d site(s) meet the hard rules (%s) but no node is in them: label each node with %s=<site>",
		p.Namespace, p.Name, len(ranked), list, placementv1alpha1.SiteLabel)
}

// nodeFit is the cheap part of the framework's filters, applied per node
// while narrowing: the policy's hardware rule, the NodeUnschedulable,
// TaintToleration and NodeAffinity filters (with upstream's helpers) and the
// pod's CPU, memory and a pod slot. What it does not model (host ports,
// volumes, pod affinity, extended resources, DRA) is left to the filters,
// and the pod widens when they reject every candidate.
type nodeFit struct {
	hardware        *nodeaffinity.NodeSelector
	affinity        nodeaffinity.RequiredNodeAffinity
	tolerations     []v1.Toleration
	toleratesCordon bool
	cpu, mem        int64
}

func newNodeFit(s *preFilterState, pod *v1.Pod) nodeFit {
	f := podNodeFit(pod)
	f.hardware, f.cpu, f.mem = s.policy.Hardware, s.podCPU, s.podMem
	return f
}

// podNodeFit is the part of nodeFit that depends on the pod alone.
func podNodeFit(pod *v1.Pod) nodeFit {
	return nodeFit{
		affinity:    nodeaffinity.GetRequiredNodeAffinity(pod),
		tolerations: pod.Spec.Tolerations,
		toleratesCordon: v1helper.TolerationsTolerateTaint(pod.Spec.Tolerations,
			&v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}),
	}
}

// admits applies the NodeUnschedulable, TaintToleration and NodeAffinity
// filters to a node.
func (f *nodeFit) admits(node *v1.Node) bool {
	if node.Spec.Unschedulable && !f.toleratesCordon {
		return false
	}
	if _, untolerated := v1helper.FindMatchingUntoleratedTaint(node.Spec.Taints, f.tolerations, helper.DoNotScheduleTaintsFilterFunc()); untolerated {
		return false
	}
	ok, err := f.affinity.Match(node)
	return err == nil && ok
}

// placeableOn reports whether the pod passes the NodeUnschedulable,
// TaintToleration and NodeAffinity filters on node.
func placeableOn(pod *v1.Pod, node *v1.Node) bool {
	f := podNodeFit(pod)
	return f.admits(node)
}

func (f *nodeFit) fits(ni fwk.NodeInfo) bool {
	node := ni.Node()
	if f.hardware != nil && !f.hardware.Match(node) || !f.admits(node) {
		return false
	}
	alloc, used := ni.GetAllocatable(), ni.GetRequested()
	return alloc.GetMilliCPU()-used.GetMilliCPU() >= f.cpu && alloc.GetMemory()-used.GetMemory() >= f.mem &&
		len(ni.GetPods()) < alloc.GetAllowedPodNumber()
}

// PreFilterExtensions is nil: the plugin's decision does not depend on
// other pods.
func (pl *EdgePlacement) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter keeps a node only when its site is feasible for the pod's policy,
// its labels meet the policy's hardware rule and its live utilization meets
// the policy's load rule. O(1) per node.
func (pl *EdgePlacement) Filter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) *fwk.Status {
	s, err := getPreFilterState(cs)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := ni.Node()
	if status := s.nodeAllowed(node); !status.IsSuccess() {
		return status
	}
	load := s.snap.NodeLoad(node.Name)
	switch s.plan.LoadRule(load) {
	case scoring.LoadOverLimit:
		if logger := klog.FromContext(ctx); logger.V(5).Enabled() {
			logger.V(5).Info("Node over the policy's CPU utilization bound", "pod", klog.KObj(pod), "node", klog.KObj(node),
				"utilization", load.Value, "max", s.plan.MaxLoad())
		}
		return fwk.NewStatus(fwk.Unschedulable, ErrReasonLoad)
	case scoring.LoadStaleRejected:
		klog.FromContext(ctx).V(5).Info("Node utilization is stale or missing and the policy rejects stale load", "pod", klog.KObj(pod), "node", klog.KObj(node))
		return fwk.NewStatus(fwk.Unschedulable, ErrReasonStaleLoad)
	}
	return nil
}

// ErrReasonWidening is PostFilter's message when a narrowed attempt found no
// node: the pod is retried at once with every feasible site as candidates,
// and preemption waits for that attempt.
const ErrReasonWidening = "EdgePlacement examined only its best feasible sites; retrying with every feasible site before preempting"

// PostFilter runs when no candidate passed the filters. If PreFilter had
// narrowed the candidates (it left out feasible sites whose nodes fit the
// pod), some filter it does not model rejected them: the pod is retried at
// once with every feasible site's nodes (narrow), and preemption, which
// would evict pods from the best site although a lower-ranked one may have
// room, does not run in this cycle (UnschedulableAndUnresolvable stops the
// PostFilter plugins after this one; EdgePlacement must be enabled at
// postFilter to run before DefaultPreemption). Otherwise it does nothing,
// and preemption runs as usual over every feasible site's nodes.
func (pl *EdgePlacement) PostFilter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, _ framework.NodeToStatusReader) (*framework.PostFilterResult, *fwk.Status) {
	s, err := getPreFilterState(cs)
	if err != nil || !s.narrowed {
		return nil, fwk.NewStatus(fwk.Unschedulable)
	}
	klog.FromContext(ctx).V(4).Info("Narrowed candidates all failed; widening to every feasible site", "pod", klog.KObj(pod))
	pl.waiting.widen(ctx, pod)
	return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonWidening)
}

// nodeAllowed applies the rules a node's labels decide: its site must be
// feasible for the pod's policy and its labels must meet the policy's
// hardware rule. Filter asks it of the framework's node, and Bind asks it
// again of the informer's node, which may have changed its labels since.
func (s *preFilterState) nodeAllowed(node *v1.Node) *fwk.Status {
	site, ok := s.snap.SiteOfNode(node)
	if !ok {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonNoSite)
	}
	if !s.plan.SiteFeasible(site) {
		reason := siteReasons[s.plan.SiteReason(site)]
		if reason == "" {
			reason = errReasonInfeasible
		}
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, reason)
	}
	if hw := s.policy.Hardware; hw != nil && !hw.Match(node) {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonHardware)
	}
	return nil
}
