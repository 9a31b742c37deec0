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

package rebalance

import (
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// Kind is why a pod should move.
type Kind uint8

// Kinds of Finding.
const (
	// HardRule: the pod's site breaks a hard rule of its policy now.
	HardRule Kind = iota + 1
	// BetterSite: a feasible site with room beats the pod's site by the
	// policy's thresholds.
	BetterSite
)

func (k Kind) String() string {
	switch k {
	case HardRule:
		return placementv1alpha1.RebalanceHardRule
	case BetterSite:
		return placementv1alpha1.RebalanceBetterSite
	}
	return "None"
}

// Finding is a judgement that a running pod should move, made against one
// world: the pod's site breaks a rule, or another site is better by the
// thresholds. To is where the scheduler would place the pod now (the move's
// target); a pod that breaks a rule but fits nowhere feasible has no
// Finding (moving it would strand it).
type Finding struct {
	Kind Kind
	// Policy is the pod's policy.
	Policy *state.ResolvedPolicy
	// From and To are site names; ToNode is the node the scheduler's score
	// ranks first in To.
	From, To, ToNode string
	// Message names the broken rule, or what To gains.
	Message string
	// RTTGain is the drop of the policy's latency objective (ms; NaN
	// without latency sources or with an unknown RTT), CostGain that of the
	// pod's hourly cost (NaN when either is unknown).
	RTTGain, CostGain float64
}

// Thresholds say when a better site is better enough (a policy's
// spec.rebalance with its defaults).
type Thresholds struct {
	// MinRTTGain in milliseconds.
	MinRTTGain float64
	// MinCostGainShare of the current hourly cost, 0..1; 0 for never.
	MinCostGainShare float64
}

// Judge judges a bound pod of w against its policy: whether its site breaks
// a hard rule (every rule the scheduler filters sites by, the hardware
// rule on its node, a Site that is gone) or the site the scheduler would
// choose for it now (w.ChooseAgain) beats it by th. It returns false for a
// pod that should stay, that no policy governs, whose policy cannot be
// evaluated (fail closed: nothing moves on a rule nobody can evaluate),
// whose node is unknown or in no site, or whose site is judged on stale or
// missing telemetry (a vanished series says nothing of the site). A pod
// whose site breaks a hard rule but that fits nowhere feasible also stays
// (moving it would strand it): false, with the Finding's Kind HardRule,
// its Message, and no To.
func Judge(w *simulate.World, pod *v1.Pod, th Thresholds) (Finding, bool) {
	ni := w.Nodes[pod.Spec.NodeName]
	if ni == nil {
		return Finding{}, false
	}
	node := ni.Node()
	pp, err := w.Snap.PlanPod(pod, w.Settings.GPUs)
	if err != nil || pp == nil {
		return Finding{}, false
	}
	from, known := w.Snap.SiteName(node)
	if !known {
		return Finding{}, false
	}
	f := Finding{Policy: pp.Policy, From: from, RTTGain: math.NaN(), CostGain: math.NaN()}
	cur, exists := w.Snap.SiteIndex(from)
	switch {
	case !exists:
		f.Kind, f.Message = HardRule, fmt.Sprintf("Site %s no longer exists", from)
	case pp.Plan.SiteReason(cur) == scoring.ReasonStale:
		return Finding{}, false
	case !pp.Plan.SiteFeasible(cur):
		f.Kind, f.Message = HardRule, fmt.Sprintf("site %s breaks the policy's %s rule", from, pp.Plan.SiteReason(cur))
	case pp.Policy.Hardware != nil && !pp.Policy.Hardware.Match(node):
		f.Kind, f.Message = HardRule, fmt.Sprintf("node %s no longer meets the policy's hardware rule", node.Name)
	}
	to, ok := w.ChooseAgain(pp, pod)
	if !ok {
		if f.Kind == HardRule {
			return f, false
		}
		return Finding{}, false
	}
	f.To, f.ToNode = w.Snap.World.Sites.Names[to.Site], to.Node
	if f.Kind == HardRule {
		if exists {
			f.RTTGain, f.CostGain = gains(&pp.Plan, cur, to.Site)
		}
		return f, true
	}
	if to.Site == cur {
		return Finding{}, false
	}
	f.RTTGain, f.CostGain = gains(&pp.Plan, cur, to.Site)
	wl, wc, _ := pp.Plan.Weights()
	switch {
	case wl > 0 && f.RTTGain >= th.MinRTTGain:
		f.Message = fmt.Sprintf("site %s is %.0f ms closer by the policy's latency objective (%.0f vs %.0f ms)",
			f.To, f.RTTGain, pp.Plan.SiteLatency(to.Site), pp.Plan.SiteLatency(cur))
	case wc > 0 && th.MinCostGainShare > 0 && f.CostGain >= th.MinCostGainShare*pp.Plan.SiteCost(cur):
		f.Message = fmt.Sprintf("site %s costs %.0f%% less per hour (%.4g vs %.4g)",
			f.To, 100*f.CostGain/pp.Plan.SiteCost(cur), pp.Plan.SiteCost(to.Site), pp.Plan.SiteCost(cur))
	default:
		return Finding{}, false
	}
	f.Kind = BetterSite
	return f, true
}

// gains are the drops of the latency objective and the hourly cost from
// site a to site b; NaN when either value is unknown.
func gains(pl *scoring.Plan, a, b int) (rtt, cost float64) {
	rtt, cost = math.NaN(), math.NaN()
	if la, lb := pl.SiteLatency(a), pl.SiteLatency(b); !math.IsInf(la, 0) && !math.IsInf(lb, 0) && !math.IsNaN(la) && !math.IsNaN(lb) {
		rtt = la - lb
	}
	if ca, cb := pl.SiteCost(a), pl.SiteCost(b); !math.IsInf(ca, 0) && !math.IsInf(cb, 0) && !math.IsNaN(ca) && !math.IsNaN(cb) {
		cost = ca - cb
	}
	return rtt, cost
}
