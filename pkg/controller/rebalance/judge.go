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
	"strings"

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

// Hold names a do-no-harm rule that keeps a pod where it is although its
// site breaks a rule of its policy or another site is better. Each is
// documented in docs/rebalancer.md under the same name.
type Hold string

// Holds.
const (
	// HoldUnproven: the site fails a rule only on estimates, on declared
	// values standing in for stale or missing live ones, or on stale
	// telemetry (scoring.Plan.SiteBreachProven).
	HoldUnproven Hold = "UnprovenBreach"
	// HoldNoRoom: no feasible site has room for the pod; moving it would
	// strand it.
	HoldNoRoom Hold = "NoFeasibleRoom"
	// HoldVolume: a volume of the pod binds it to nodes the move's target
	// is not among; its replacement could run only where it is.
	HoldVolume Hold = "VolumeBound"
	// HoldAutonomous: its site is unhealthy, but its node keeps serving its
	// own clients on its own (edge autonomy) and the policy keeps such pods.
	HoldAutonomous Hold = "AutonomousSite"
	// HoldReturned: a replacement of the same workload evicted earlier did
	// not land where the judgement said (the scheduler disagreed, or a
	// constraint the rebalancer does not model sent it elsewhere); the
	// workload is not moved again for a while.
	HoldReturned Hold = "ReplacementMisplaced"
)

// Finding is a judgement that a running pod should move, made against one
// world: the pod's site breaks a rule, or another site is better by the
// thresholds. To is where the scheduler would place the pod now (the move's
// target). A pod that should move but that a do-no-harm rule keeps has a
// Finding with Hold set, and Judge returns false for it.
type Finding struct {
	Kind Kind
	// Hold, when set, keeps the pod where it is; Message says why.
	Hold Hold
	// Policy is the pod's policy.
	Policy *state.ResolvedPolicy
	// From and To are site names; ToNode is the node the scheduler's score
	// ranks first in To.
	From, To, ToNode string
	// Message names the broken rule, or what To gains.
	Message string
	// Rule is the hard rule the pod's site breaks (HardRule findings on a
	// rule the plan judges; Feasible otherwise).
	Rule scoring.Reason
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

// Guards are what Judge needs beyond the world to keep harm away.
type Guards struct {
	// Volumes says why the pod's volumes keep it off node ("" when they
	// do not); nil when no pod has volumes that bind it to nodes.
	Volumes func(pod *v1.Pod, node string) string
	// OnUnhealthySite is the policy's spec.rebalance.onUnhealthySite.
	OnUnhealthySite placementv1alpha1.UnhealthySiteAction
}

// Judge judges a bound pod of w against its policy: whether its site breaks
// a hard rule (every rule the scheduler filters sites by, the hardware
// rule on its node, a Site that is gone) or the site the scheduler would
// choose for it now (w.ChooseAgain) is better by the policy's own
// objective (Better). It returns false for a pod that should stay, that no
// policy governs, whose policy cannot be evaluated (fail closed: nothing
// moves on a rule nobody can evaluate), whose node is unknown or in no
// site, or whose site is judged on stale telemetry the policy rejects. A
// pod that should move but that a do-no-harm rule keeps (Hold) also gets
// false, with a Finding that says which rule and why.
func Judge(w *simulate.World, pod *v1.Pod, th Thresholds, g Guards) (Finding, bool) {
	ni := w.Nodes[pod.Spec.NodeName]
	if ni == nil {
		return Finding{}, false
	}
	node := ni.Node()
	pp, err := w.PlanPod(pod)
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
		reason := pp.Plan.SiteReason(cur)
		f.Kind, f.Rule, f.Message = HardRule, reason, fmt.Sprintf("site %s breaks the policy's %s rule", from, reason)
		if !pp.Plan.SiteBreachProven(cur) {
			f.Hold = HoldUnproven
			f.Message = fmt.Sprintf("site %s fails the policy's %s rule only on estimated, stale or missing values, which never move a running pod", from, reason)
			return f, false
		}
		if reason == scoring.ReasonUnhealthy && KeepOnUnhealthySite(g.OnUnhealthySite, node) {
			f.Hold = HoldAutonomous
			f.Message = fmt.Sprintf("site %s is unhealthy, but node %s serves its own clients on its own (%s) and the policy keeps such pods (onUnhealthySite %s)",
				from, node.Name, AutonomyMarker(node), onUnhealthy(g.OnUnhealthySite))
			return f, false
		}
	case pp.Policy.Hardware != nil && !pp.Policy.Hardware.Match(node):
		f.Kind, f.Message = HardRule, fmt.Sprintf("node %s no longer meets the policy's hardware rule", node.Name)
	}
	to, ok := w.ChooseAgain(pp, pod)
	if !ok {
		if f.Kind == HardRule {
			f.Hold = HoldNoRoom
			f.Message += "; no feasible site has room for it"
			return f, false
		}
		return Finding{}, false
	}
	f.To, f.ToNode = w.Snap.World.Sites.Names[to.Site], to.Node
	if f.Kind == HardRule {
		if exists {
			f.RTTGain, f.CostGain = gains(&pp.Plan, cur, to.Site)
		}
		return guard(f, pod, g)
	}
	// Compare like with like: a site whose objective reads values standing
	// in for missing live ones (a vanished series) against one measured
	// live could look worse only because data went missing. Two sites
	// both without live values (never probed) compare on what is declared.
	if to.Site == cur || pp.Plan.SiteWithoutStandIns(cur) != pp.Plan.SiteWithoutStandIns(to.Site) {
		return Finding{}, false
	}
	f.RTTGain, f.CostGain = gains(&pp.Plan, cur, to.Site)
	msg, better := Better(&pp.Plan, cur, to.Site, th)
	if !better {
		return Finding{}, false
	}
	f.Kind, f.Message = BetterSite, fmt.Sprintf("site %s is better by the policy's objective: %s", f.To, msg)
	return guard(f, pod, g)
}

// guard applies the holds that depend on the move's target.
func guard(f Finding, pod *v1.Pod, g Guards) (Finding, bool) {
	if g.Volumes != nil {
		if why := g.Volumes(pod, f.ToNode); why != "" {
			f.Hold = HoldVolume
			f.Message = fmt.Sprintf("%s, but %s", f.Message, why)
			return f, false
		}
	}
	return f, true
}

// Better reports whether moving from site a to site b improves the
// policy's own soft objective by its thresholds, and says by how much.
// Each weighted term's gain counts in units of its threshold, and the terms
// are combined with the policy's weights:
//
//	g = (wLat·ΔL/minRTTGain + wCost·ΔC/(minCostGainShare·max(C(a), C(b)))) / (wLat + wCost)
//
// with ΔL and ΔC the drops of the latency objective and the hourly cost
// from a to b; the move is better when g ≥ 1. The cost term counts only
// when minCostGainShare is set (0: cost never moves a pod, and a cost-only
// policy never moves for a better site). Because g(a→b) = -g(b→a), no two
// sites can each be better than the other: a pod moved closer is never
// moved back for being cheaper, whatever load decides between them.
// Unknown gains of a weighted term are not better.
func Better(pl *scoring.Plan, a, b int, th Thresholds) (string, bool) {
	wl, wc, _ := pl.Weights()
	rtt, cost := gains(pl, a, b)
	if th.MinCostGainShare <= 0 {
		wc = 0
	}
	if wl+wc <= 0 {
		return "", false
	}
	var g float64
	var parts []string
	if wl > 0 {
		if math.IsNaN(rtt) {
			return "", false
		}
		g += wl * rtt / max(th.MinRTTGain, minGainUnit)
		parts = append(parts, fmt.Sprintf("latency objective %.0f vs %.0f ms (threshold %.0f ms)", pl.SiteLatency(b), pl.SiteLatency(a), th.MinRTTGain))
	}
	if wc > 0 {
		if math.IsNaN(cost) {
			return "", false
		}
		scale := th.MinCostGainShare * max(pl.SiteCost(a), pl.SiteCost(b))
		g += wc * cost / max(scale, minGainUnit)
		parts = append(parts, fmt.Sprintf("hourly cost %.4g vs %.4g (threshold %.0f%%)", pl.SiteCost(b), pl.SiteCost(a), 100*th.MinCostGainShare))
	}
	g /= wl + wc
	return fmt.Sprintf("%s; %.2f× the thresholds", strings.Join(parts, ", "), g), g >= 1
}

// minGainUnit keeps a zero threshold from dividing by zero: any gain at
// all is then enough.
const minGainUnit = 1e-6

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
