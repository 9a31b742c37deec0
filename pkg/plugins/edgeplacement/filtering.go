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
	"k8s.io/kubernetes/pkg/scheduler/framework"

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
// sites that together have room for the pod. A pod that requests nothing is
// refused under a cost cap: its cost is 0 everywhere, so the cap would bind
// nothing (README.md, Cost).
func (pl *EdgePlacement) PreFilter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*framework.PreFilterResult, *fwk.Status) {
	snap := pl.model.Load()
	pp, err := snap.PlanPod(pod, pl.gpus)
	if err != nil {
		pl.waiting.add(ctx, pod, snap.Generation)
		if state.Unresolvable(err) {
			return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, err.Error())
		}
		return nil, fwk.AsStatus(err)
	}
	if pp == nil {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	s := newPreFilterState(snap, pp)
	cs.Write(preFilterStateKey, s)
	// Remember the pod until it binds: a rejected pod must come back when
	// the world changes, and so must a narrowed one whose candidates all
	// fail (a node joining a site later brings it back).
	pl.waiting.add(ctx, pod, snap.Generation)
	if s.plan.NumFeasible() == 0 {
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, pp.NoFeasibleSiteMessage())
	}
	return pl.narrow(s), nil
}

// narrow keeps the nodes of the best-ranked feasible sites that hold
// minCandidates nodes with room for the pod (state.PodPlan.Narrow, shared
// with kubectl proxima), reading the nodes from the framework's node
// snapshot.
func (pl *EdgePlacement) narrow(s *preFilterState) *framework.PreFilterResult {
	infos := pl.handle.SnapshotSharedLister().NodeInfos()
	return &framework.PreFilterResult{NodeNames: s.pod.Narrow(s.snap, pl.minCandidates, func(name string) (known, room bool) {
		ni, err := infos.Get(name)
		if err != nil || ni.Node() == nil {
			return false, false // not in this cycle's node snapshot yet
		}
		return true, s.pod.NodeHasRoom(ni)
	})}
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
