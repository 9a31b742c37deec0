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

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

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
	ErrReasonDependency = "node(s) in a Site over a dependency's max RTT"
	ErrReasonMaxCost    = "node(s) in a Site over the policy's max hourly cost"
	ErrReasonSpread     = "node(s) in a Site the policy's spread rule excludes for this pod"
	ErrReasonHardware   = "node(s) didn't match the policy's hardware rule"
	ErrReasonLoad       = "node(s) over the policy's max CPU utilization"
	ErrReasonStaleLoad  = "node(s) with stale or missing CPU utilization, which the policy rejects"
	errReasonInfeasible = "node(s) in a Site that fails the policy's hard rules"
)

// siteReasons maps the core's reason a site is infeasible to Filter's.
var siteReasons = [scoring.NumReasons]string{
	scoring.ReasonResidency:     ErrReasonResidency,
	scoring.ReasonTier:          ErrReasonTier,
	scoring.ReasonUnhealthy:     ErrReasonUnhealthy,
	scoring.ReasonStale:         ErrReasonStale,
	scoring.ReasonMaxRTT:        ErrReasonMaxRTT,
	scoring.ReasonDependencyRTT: ErrReasonDependency,
	scoring.ReasonMaxCost:       ErrReasonMaxCost,
}

// PreFilter resolves the pod's policy, evaluates it against one snapshot of
// the world and narrows the candidates to the nodes of the best feasible
// sites that together have room for the pod (narrow). A pod that requests
// nothing is refused under a cost cap: its cost is 0 everywhere, so the cap
// would bind nothing (README.md, Cost).
func (pl *EdgePlacement) PreFilter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	snap := pl.model.Load()
	s, status := pl.evaluate(snap, pod)
	if status.Code() == fwk.Skip {
		return nil, status
	}
	var result *fwk.PreFilterResult
	if status.IsSuccess() {
		if s.pod.Rules.Spread.Set() {
			infos := pl.handle.SnapshotSharedLister().NodeInfos()
			s.spread = s.pod.Spread(snap, pod, func(name string) fwk.NodeInfo {
				if ni, err := infos.Get(name); err == nil {
					return ni
				}
				return nil
			})
		}
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

// evaluate plans the pod against snap (state.PlanPod, shared by pods of one
// policy and requests on one snapshot: state.PlanCache): the verdict PreFilter
// acts on, and the one a waiting pod is judged by again when the world
// changes (retry.go). Skip for a pod without a policy; a status that
// rejects the pod (fail closed) when its policy is missing or invalid, it
// names an unknown TrafficSource, it requests nothing under a cost cap, or
// no site meets its hard rules.
func (pl *EdgePlacement) evaluate(snap *state.Snapshot, pod *v1.Pod) (*preFilterState, *fwk.Status) {
	pp, err := pl.plans.PlanPod(snap, pod)
	if err != nil {
		if state.Unresolvable(err) {
			return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
		}
		return nil, fwk.AsStatus(err)
	}
	if pp == nil {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	s := newPreFilterState(snap, pp)
	if s.plan.NumFeasible() == 0 {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, pp.NoFeasibleSiteMessage())
	}
	return s, nil
}

// narrow keeps the nodes of the best-ranked feasible sites (that the
// policy's spread rule allows for the pod) that hold minCandidates nodes
// the pod can use (state.PodPlan.Narrow and NodeFit,
// shared with kubectl proxima), reading the nodes from the
// framework's node snapshot and passing over the sites the replicas of the
// pod's workload found full (roomMemo); every feasible site's nodes once a narrowed
// attempt of the pod has failed (PostFilter). A pod whose feasible sites
// have no nodes is refused with that reason. When the candidates are one
// site's nodes exactly, the result's set is the world snapshot's own,
// shared by every pod narrowed to that site: the framework only reads a
// PreFilterResult's nodes (PreFilterResult.Merge clones them).
func (pl *EdgePlacement) narrow(s *preFilterState, pod *v1.Pod) (*fwk.PreFilterResult, *fwk.Status) {
	infos := pl.handle.SnapshotSharedLister().NodeInfos()
	names, narrowed := s.pod.Narrow(s.snap, pl.minCandidates, pl.waiting.isWide(pod), func(name string) state.NodeFit {
		ni, err := infos.Get(name)
		if err != nil || ni.Node() == nil {
			return state.NodeUnknown // not in this cycle's node snapshot yet
		}
		if s.spreadExcludes(ni.Node()) {
			return state.NodeExcluded
		}
		return s.pod.NodeFit(s.snap, ni)
	}, pl.room.forPlan(s.snap, s.pod, infos))
	if len(names) == 0 {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, s.pod.NoNodesMessage(s.snap))
	}
	s.narrowed = narrowed
	return &fwk.PreFilterResult{NodeNames: names}, nil
}

// PreFilterExtensions is nil: the plugin's decision does not depend on
// other pods.
func (pl *EdgePlacement) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

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
		if logger := klog.FromContext(ctx); logger.V(5).Enabled() && status.Message() == ErrReasonSpread {
			site, _ := s.snap.SiteOfNode(node)
			logger.V(5).Info("Node's site is excluded by the policy's spread rule", "pod", klog.KObj(pod), "node", klog.KObj(node),
				"rule", s.spread.Reason(int32(site)), "workloadPodsThere", s.spread.Pods(int32(site)),
				"workloadSites", s.spread.UsedSites(), "leastWithRoom", s.spread.Least())
		}
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
// node: the pod is retried (after its backoff) with every feasible site as
// candidates, and preemption waits for that attempt.
const ErrReasonWidening = "EdgePlacement examined only its best feasible sites; retrying with every feasible site before preempting"

// PostFilter runs when no candidate passed the filters. If PreFilter had
// narrowed the candidates (it left out feasible sites whose nodes fit the
// pod, or that were only full), some filter it does not model rejected
// them: the pod is retried with every feasible site's nodes (narrow; the
// queue requeues the in-flight pod after its backoff), and preemption, which
// would evict pods from the best site although a lower-ranked one may have
// room, does not run in this cycle (UnschedulableAndUnresolvable stops the
// PostFilter plugins after this one; EdgePlacement must be enabled at
// postFilter to run before DefaultPreemption). Otherwise it does nothing,
// and preemption runs as usual over every feasible site's nodes.
func (pl *EdgePlacement) PostFilter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, _ fwk.NodeToStatusReader) (*fwk.PostFilterResult, *fwk.Status) {
	s, err := getPreFilterState(cs)
	if err != nil || !s.narrowed {
		return nil, fwk.NewStatus(fwk.Unschedulable)
	}
	klog.FromContext(ctx).V(4).Info("Narrowed candidates all failed; widening to every feasible site", "pod", klog.KObj(pod))
	pl.waiting.widen(ctx, pod)
	return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonWidening)
}

// nodeAllowed applies the rules a node's labels decide: its site must be
// feasible for the pod's policy and allowed by its spread rule as PreFilter
// judged it, and its labels must meet the policy's hardware rule. Filter asks it of the framework's node, and Bind asks it
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
	if s.spread != nil && s.spread.Reason(int32(site)) != scoring.SpreadAllowed {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonSpread)
	}
	return nil
}

// spreadExcludes reports whether the policy's spread rule keeps the pod
// off node's site in this cycle.
func (s *preFilterState) spreadExcludes(node *v1.Node) bool {
	if s.spread == nil {
		return false
	}
	site, ok := s.snap.SiteOfNode(node)
	return ok && s.spread.Reason(int32(site)) != scoring.SpreadAllowed
}
