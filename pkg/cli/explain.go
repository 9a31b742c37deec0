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

package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/rebalance"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// OutputVersion is the version of the JSON and YAML documents the commands
// print (Explanation, WhatIf, SiteList). Fields are only added within a
// version (docs/kubectl-proxima.md).
const OutputVersion = 1

// Pod states in an Explanation.
const (
	PodBound    = "Bound"
	PodPending  = "Pending"
	PodNoPolicy = "NoPolicy"
)

// Explanation is `kubectl proxima explain pod`'s answer.
type Explanation struct {
	Version   int    `json:"version"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	// State is Bound, Pending, or NoPolicy (no PlacementPolicy governs the
	// pod: the default profile's rules place it).
	State  string `json:"state"`
	Policy string `json:"policy,omitempty"`
	Node   string `json:"node,omitempty"`
	// Site is the bound node's site in the current world.
	Site string `json:"site,omitempty"`
	// Record is the placement record the scheduler wrote at binding
	// (PlacementRecordAnnotation); absent for pending pods and pods bound
	// without one.
	Record *placementv1alpha1.PlacementRecord `json:"record,omitempty"`
	// Now is where the scheduler's score puts the pod on the current world
	// (for a bound pod, with its own requests taken off its node); absent
	// when no node is a candidate.
	Now *Placement `json:"now,omitempty"`
	// Sites are every site with its verdict for the pod, feasible sites
	// best first.
	Sites []SiteVerdict `json:"sites,omitempty"`
	// Excluded counts the sites each hard rule excluded.
	Excluded []RuleCount `json:"excluded,omitempty"`
	// Suggestions are the smallest changes that would let a pending pod
	// schedule.
	Suggestions []string `json:"suggestions,omitempty"`
	// SchedulerMessage is the pod's PodScheduled condition message.
	SchedulerMessage string `json:"schedulerMessage,omitempty"`
	// Error says why the pod's policy cannot be evaluated (the scheduler
	// refuses the pod for the same reason).
	Error string `json:"error,omitempty"`
	// WorldChanges are what differs, for the pod, between the world the
	// scheduler scored it on (its Record) and the current one: the node's
	// site, an RTT or its provenance, the cost, the number of feasible
	// sites. Empty when the record and the current world agree.
	WorldChanges []string `json:"worldChanges,omitempty"`
	// Notes say what else holds or moves the pod: another scheduler
	// places it (its policy's rules do not bind that scheduler), or a
	// scheduling gate holds it.
	Notes []string `json:"notes,omitempty"`
	// Rebalance is the rebalancer's verdict on a bound pod whose policy
	// sets spec.rebalance (DryRun or On); absent otherwise.
	Rebalance *RebalanceVerdict `json:"rebalance,omitempty"`
	// World is the current world's summary.
	World WorldSummary `json:"world"`
}

// RebalanceVerdict is what the rebalancer judges of a bound pod now
// (docs/rebalancer.md): whether it should move, where and why, or why it
// never moves it. A pod that should move here moves once its grace (or
// dwell and cooldown) has passed, as maxMoving, the rebalancer's rate
// limit and PodDisruptionBudgets allow; the rebalancer counts those.
type RebalanceVerdict struct {
	// Mode is the policy's spec.rebalance.mode.
	Mode string `json:"mode"`
	// Move: the pod should move (its site breaks a hard rule, or a better
	// site beats it by the policy's thresholds).
	Move bool `json:"move"`
	// Reason is HardRule or BetterSite when Move, or when a do-no-harm
	// rule (Hold) keeps it.
	Reason string `json:"reason,omitempty"`
	// Never names the rule under which the rebalancer never moves the pod
	// (docs/rebalancer.md), Hold the do-no-harm rule that keeps it now.
	Never   string `json:"never,omitempty"`
	Hold    string `json:"hold,omitempty"`
	ToSite  string `json:"toSite,omitempty"`
	Message string `json:"message,omitempty"`
}

// Placement is the node the scheduler's score chooses for a pod, with the
// score's terms, the RTTs and the cost there.
type Placement struct {
	Site  string                        `json:"site"`
	Node  string                        `json:"node"`
	Score placementv1alpha1.ScoreTerms  `json:"score"`
	RTTs  []placementv1alpha1.SourceRTT `json:"rtts,omitempty"`
	// Dependencies are the RTTs to the policy's dependencies.
	Dependencies []placementv1alpha1.DependencyRTT `json:"dependencies,omitempty"`
	Cost         *float64                          `json:"hourlyCost,omitempty"`
	// Egress is the part of Cost that is egress of the policy's declared
	// traffic; absent when none.
	Egress *float64 `json:"egressHourly,omitempty"`
}

// SiteVerdict is one site for one pod.
type SiteVerdict struct {
	Site    string `json:"site"`
	Tier    string `json:"tier"`
	Country string `json:"country"`
	// Verdict: "chosen", "lower score", "no room", "scored no lower; ...",
	// "kept off by spread <rule>: ..." (a feasible site the policy's spread
	// rule keeps this pod off),
	// or "excluded: <rule>" (residency, tier, site unhealthy, stale or
	// missing telemetry, max RTT, max cost).
	Verdict string `json:"verdict"`
	// Rank among the feasible sites by site score (1 is best); 0 when
	// excluded.
	Rank                 int      `json:"rank"`
	LatencyMilliseconds  *float64 `json:"latencyMilliseconds,omitempty"`
	WorstRTTMilliseconds *float64 `json:"worstRTTMilliseconds,omitempty"`
	HourlyCost           *float64 `json:"hourlyCost,omitempty"`
	// EgressHourly is the part of HourlyCost that is egress of the
	// policy's declared traffic; absent when none.
	EgressHourly *float64                      `json:"egressHourly,omitempty"`
	Score        *placementv1alpha1.ScoreTerms `json:"score,omitempty"`
	Free         FreeCapacity                  `json:"free"`
	// OverBound are, for a site the max RTT rule excluded, the RTTs that
	// fail it as the rule judges them (an estimate at its upper bound by
	// default), with whether the probe plan measures them.
	OverBound []PairOverBound `json:"overBound,omitempty"`
	// Dependencies are the RTTs from the site to the policy's
	// dependencies; for a site a dependency's bound excluded, the first
	// one over it is DependencyOverBound.
	Dependencies        []placementv1alpha1.DependencyRTT `json:"dependencies,omitempty"`
	DependencyOverBound string                            `json:"dependencyOverBound,omitempty"`
}

// PairOverBound is one RTT that fails a policy's max RTT at a site.
type PairOverBound struct {
	Source          string   `json:"source"`
	RTTMilliseconds *float64 `json:"rttMilliseconds,omitempty"`
	// UpperMilliseconds is an estimate's upper bound, which the rule
	// judges it by under latency.estimates Conservative.
	UpperMilliseconds *float64 `json:"upperMilliseconds,omitempty"`
	Provenance        string   `json:"provenance"`
	// Estimate: the RTT is estimated, so a measurement may admit the site.
	Estimate bool `json:"estimate,omitempty"`
	// Probe is the probe plan's tier for the pair when it is probed this
	// round ("bound", "ranking", "refresh"), "deferred" when the budget
	// leaves it for a later round; empty when the plan does not want it.
	Probe string `json:"probe,omitempty"`
}

// overBound lists the RTTs from the policy's sources to site s that fail
// its max RTT as the rule judges them, with the probe plan's word on each
// (none when plan is nil).
func overBound(w *simulate.World, pp *state.PodPlan, s int, plan *probeplan.Plan) []PairOverBound {
	r := &pp.Rules
	if r.MaxRTT <= 0 {
		return nil
	}
	world := w.Snap.World
	var out []PairOverBound
	for _, j := range r.Sources {
		v, prov := world.RTTAt(s, j)
		judged := v
		if prov.IsEstimate() {
			switch r.EstimatedRTT {
			case scoring.EstimatesConservative:
				judged = world.RTTUpperAt(s, j)
			case scoring.EstimatesReject:
				judged = math.Inf(1)
			}
		}
		if judged <= r.MaxRTT && judged < scoring.UnknownRTT {
			continue
		}
		o := PairOverBound{Source: world.SourceNames[j], RTTMilliseconds: state.Finite(v), Provenance: world.RTTNote(s, j),
			Estimate: prov.IsEstimate()}
		if prov.IsEstimate() {
			o.UpperMilliseconds = state.Finite(world.RTTUpperAt(s, j))
		}
		if plan == nil {
			// what-if: nobody reads it
		} else if p, ok := plan.Find(s, j); ok {
			o.Probe = p.Tier.String()
		} else if _, ok := w.Snap.ProbeCandidates().Lookup(s, j); ok {
			o.Probe = "deferred"
		}
		out = append(out, o)
	}
	return out
}

// dependencyOverBound names the first dependency whose bound excludes site
// i, with its RTT as the bound judges it: "orders-db 31.0 ms over 20 ms
// (estimated (distance prior, upper bound 88.9 ms))".
func dependencyOverBound(pp *state.PodPlan, i int) string {
	k := pp.Plan.DependencyOverBound(i)
	if k < 0 {
		return ""
	}
	// Rules.Dependencies has the placed dependencies only, in order.
	var placed []placementv1alpha1.DependencyRTT
	for _, d := range pp.DependencyRTTs(i) {
		if d.Sites > 0 {
			placed = append(placed, d)
		}
	}
	if k >= len(placed) {
		return ""
	}
	d := placed[k]
	return fmt.Sprintf("%s %s, over %s ms", d.Dependency, state.DescribeRTT(d.AsSourceRTT()),
		strconv.FormatFloat(pp.Rules.Dependencies[k].MaxRTT, 'f', -1, 64))
}

// overBoundNote says which estimated RTTs excluded a site, for the table.
func overBoundNote(pairs []PairOverBound) string {
	var parts []string
	for _, p := range pairs {
		if !p.Estimate {
			return ""
		}
		part := fmt.Sprintf("%s estimated %s ms, upper bound %s ms", p.Source, ms(p.RTTMilliseconds), ms(p.UpperMilliseconds))
		switch p.Probe {
		case "":
		case "deferred":
			part += ", probe deferred by the budget"
		default:
			part += ", probe planned"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// FreeCapacity is unrequested allocatable capacity over a site's ready,
// schedulable nodes.
type FreeCapacity struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
	Pods   int    `json:"pods"`
	Nodes  int    `json:"nodes"`
	Ready  int    `json:"readyNodes"`
}

// RuleCount is how many sites a hard rule excluded, and which.
type RuleCount struct {
	Rule  string   `json:"rule"`
	Count int      `json:"count"`
	Sites []string `json:"sites"`
}

// WorldSummary says what world the answer was computed on.
type WorldSummary struct {
	Sites    int `json:"sites"`
	Sources  int `json:"sources"`
	Nodes    int `json:"nodes"`
	Policies int `json:"policies"`
	// Telemetry: "declared" (no live values read) or "live".
	Telemetry string `json:"telemetry"`
	// UnreadSignals are the live signals that are configured but had no
	// fresh read (Prometheus unreachable from here, a failing query): their
	// values count as stale or missing in this answer, which the
	// scheduler, reading its own Prometheus, may not see.
	UnreadSignals []string `json:"unreadSignals,omitempty"`
}

func summary(w *simulate.World) WorldSummary {
	s := WorldSummary{Sites: w.Snap.World.Sites.Len(), Sources: w.Snap.World.NumSources(), Nodes: len(w.Nodes), Policies: w.Snap.NumPolicies(),
		Telemetry: "declared"}
	if l := w.Settings.Live; l != nil {
		s.Telemetry = "live"
		s.UnreadSignals = state.StaleSignals(l)
	}
	return s
}

func freeOf(f simulate.Free) FreeCapacity {
	return FreeCapacity{CPU: resource.NewMilliQuantity(f.MilliCPU, resource.DecimalSI).String(),
		Memory: resource.NewQuantity(f.Memory, resource.BinarySI).String(), Pods: f.Pods, Nodes: f.Nodes, Ready: f.Ready}
}

// Explain explains the pod on the world.
func Explain(w *simulate.World, pod *v1.Pod) *Explanation {
	e := &Explanation{Version: OutputVersion, Namespace: pod.Namespace, Pod: pod.Name, World: summary(w), Node: pod.Spec.NodeName}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status != v1.ConditionTrue {
			e.SchedulerMessage = c.Message
		}
	}
	if doc, ok := pod.Annotations[placementv1alpha1.PlacementRecordAnnotation]; ok {
		var rec placementv1alpha1.PlacementRecord
		if err := json.Unmarshal([]byte(doc), &rec); err == nil {
			e.Record = &rec
		}
	}
	if name := w.Settings.SchedulerName; name != "" && pod.Spec.SchedulerName != name {
		e.Notes = append(e.Notes, fmt.Sprintf("the pod names scheduler %q, not %q: that scheduler places it, and its policy's hard rules do not bind it",
			pod.Spec.SchedulerName, name))
	}
	if slices.ContainsFunc(pod.Spec.SchedulingGates, func(g v1.PodSchedulingGate) bool { return g.Name == placementv1alpha1.PolicyGate }) {
		e.Notes = append(e.Notes, "the scheduling gate "+placementv1alpha1.PolicyGate+" holds it until its policy exists and resolves (proxima-controller lifts it)")
	}
	if pod.Spec.NodeName != "" {
		e.State = PodBound
		e.Rebalance = rebalanceVerdict(w, pod)
		if ni := w.Nodes[pod.Spec.NodeName]; ni != nil {
			if i, ok := w.Snap.SiteOfNode(ni.Node()); ok {
				e.Site = w.Snap.World.Sites.Names[i]
			}
		}
		w = w.Without(pod)
	} else {
		e.State = PodPending
	}
	pp, err := w.PlanPod(pod)
	if err != nil {
		e.Error = err.Error()
		if policy, ok := pod.Labels[placementv1alpha1.PolicyLabel]; ok {
			e.Policy = policy
		}
		e.Suggestions = append(e.Suggestions, "fix the policy: "+err.Error())
		return e
	}
	if pp == nil {
		e.State = PodNoPolicy
		return e
	}
	e.Policy = pp.Policy.Name
	choice, placeable := w.Choose(pp, pod)
	alt := w.BestAlternative(pp, pod)
	if placeable {
		e.Now = placementOf(w, pp, choice)
	}
	probes := w.Snap.ProbePlan(w.Settings.Probes(), 0)
	e.Sites, e.Excluded = verdicts(w, pp, w.Spread(pp, pod), alt, choice, placeable, probes)
	if e.Record != nil && e.State == PodBound {
		e.WorldChanges = changesSince(w, pp, e.Record, pod.Spec.NodeName)
	}
	if e.State == PodPending {
		e.Suggestions = suggest(w, pp, pod, placeable, choice, probes)
	}
	return e
}

// rebalanceVerdict judges a bound pod as the rebalancer does, on the world
// with the pod on its node; nil when its policy does not opt in.
func rebalanceVerdict(w *simulate.World, pod *v1.Pod) *RebalanceVerdict {
	policy, err := w.Snap.PolicyFor(pod)
	if err != nil || policy == nil {
		return nil
	}
	settings := rebalance.SettingsOf(policy.Spec.Rebalance)
	if settings.Mode == placementv1alpha1.RebalanceOff {
		return nil
	}
	v := &RebalanceVerdict{Mode: string(settings.Mode)}
	if rule, why := rebalance.Unmovable(pod, sets.New(w.Settings.SchedulerName), jobsOf(w)); w.Settings.SchedulerName != "" && rule != "" {
		v.Never, v.Message = string(rule), "the rebalancer never moves it: "+why
		return v
	}
	guards := rebalance.Guards{OnUnhealthySite: settings.OnUnhealthySite, Volumes: volumesOf(w)}
	switch f, ok := rebalance.Judge(w, pod, settings.Thresholds, guards); {
	case ok:
		v.Move, v.Reason, v.ToSite, v.Message = true, f.Kind.String(), f.To, f.Message
	case f.Hold != "":
		v.Reason, v.Hold, v.ToSite, v.Message = f.Kind.String(), string(f.Hold), f.To, f.Message+"; it stays"
	}
	return v
}

// jobsOf reads the world's Jobs; nil when they were not listed.
func jobsOf(w *simulate.World) rebalance.Jobs {
	if w.Jobs == nil {
		return nil
	}
	return func(namespace, name string) (*batchv1.Job, error) {
		for _, j := range w.Jobs {
			if j.Namespace == namespace && j.Name == name {
				return j, nil
			}
		}
		return nil, apierrors.NewNotFound(batchv1.Resource("jobs"), name)
	}
}

// volumesOf is the rebalancer's volume guard over the world's claims and
// volumes (every pod with a claim stays when they were not listed).
func volumesOf(w *simulate.World) func(*v1.Pod, string) string {
	if w.Claims == nil || w.Volumes == nil {
		return rebalance.VolumeGuard(nil, nil, w.Node)
	}
	claims := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	volumes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, c := range w.Claims {
		_ = claims.Add(c)
	}
	for _, pv := range w.Volumes {
		_ = volumes.Add(pv)
	}
	return rebalance.VolumeGuard(corelisters.NewPersistentVolumeClaimLister(claims), corelisters.NewPersistentVolumeLister(volumes), w.Node)
}

func placementOf(w *simulate.World, pp *state.PodPlan, c simulate.Choice) *Placement {
	rec := pp.Record(w.Snap, c.Node, c.Site, c.Load, nil)
	return &Placement{Site: rec.Site, Node: c.Node, Score: rec.Score, RTTs: pp.SourceRTTs(c.Site), Dependencies: pp.DependencyRTTs(c.Site),
		Cost: state.Finite(pp.Plan.SiteCost(c.Site)), Egress: egressOf(&pp.Plan, c.Site)}
}

// egressOf is the egress part of site i's hourly cost, nil when none.
func egressOf(pl *scoring.Plan, i int) *float64 {
	if e := pl.SiteEgress(i); e > 0 {
		return state.Finite(e)
	}
	return nil
}

// verdicts judges every site for the pod.
func verdicts(w *simulate.World, pp *state.PodPlan, spread *scoring.SpreadVerdict, alt state.Alternative, chosen simulate.Choice, placeable bool,
	probes *probeplan.Plan) ([]SiteVerdict, []RuleCount) {
	ws := &w.Snap.World.Sites
	var out []SiteVerdict
	site := func(i int) SiteVerdict {
		v := SiteVerdict{Site: ws.Names[i], Tier: ws.Tier[i].String(), Country: scoring.CountryCode(ws.Country[i]),
			HourlyCost: state.Finite(pp.Plan.SiteCost(i)), EgressHourly: egressOf(&pp.Plan, i), Free: freeOf(w.SiteFree(i))}
		if pp.HasLatency() {
			v.LatencyMilliseconds = state.Finite(pp.Plan.SiteLatency(i))
		}
		if len(pp.Rules.Sources) > 0 {
			v.WorstRTTMilliseconds = state.Finite(pp.Plan.SiteWorstRTT(i))
		}
		v.Dependencies = pp.DependencyRTTs(i)
		return v
	}
	var chosenTotal float64
	if placeable {
		chosenTotal = pp.Plan.SiteTerms(chosen.Site, chosen.Load).Total()
	}
	for rank, r := range pp.Plan.Ranked() {
		i := int(r)
		v := site(i)
		v.Rank = rank + 1
		a := pp.Alternative(i, alt)
		v.Score = &a.Score
		switch {
		case placeable && i == chosen.Site:
			t := pp.Plan.SiteTerms(i, chosen.Load)
			v.Score = &placementv1alpha1.ScoreTerms{Latency: t.Latency, Cost: t.Cost, Load: t.Load, Total: t.Total()}
			v.Verdict = "chosen"
		case spread != nil && spread.Reason(r) != scoring.SpreadAllowed:
			v.Verdict = fmt.Sprintf("kept off by %s: %d of the workload's pods here, %d site(s) used", spread.Reason(r), spread.Pods(r), spread.UsedSites())
		case a.Lost != "":
			v.Verdict = a.Lost
		case !placeable || a.Score.Total < chosenTotal:
			v.Verdict = state.LostLowerScore
		default:
			v.Verdict = state.LostOtherPlugins
		}
		out = append(out, v)
	}
	for i := range ws.Len() {
		if r := pp.Plan.SiteReason(i); r != scoring.Feasible {
			v := site(i)
			v.Verdict = "excluded: " + r.String()
			switch r {
			case scoring.ReasonMaxRTT:
				v.OverBound = overBound(w, pp, i, probes)
			case scoring.ReasonDependencyRTT:
				v.DependencyOverBound = dependencyOverBound(pp, i)
			}
			out = append(out, v)
		}
	}
	var final []RuleCount
	for r := scoring.ReasonResidency; r < scoring.NumReasons; r++ {
		var rc RuleCount
		for i := range ws.Len() {
			if pp.Plan.SiteReason(i) == r {
				rc.Rule = r.String()
				rc.Count++
				rc.Sites = append(rc.Sites, ws.Names[i])
			}
		}
		if rc.Count > 0 {
			final = append(final, rc)
		}
	}
	return out, final
}

// suggest finds the smallest changes that would let a pending pod schedule:
// room in the best feasible site, or relaxing one hard rule.
func suggest(w *simulate.World, pp *state.PodPlan, pod *v1.Pod, placeable bool, c simulate.Choice, probes *probeplan.Plan) []string {
	ws := &w.Snap.World.Sites
	if placeable {
		return []string{fmt.Sprintf("site %s has room now (node %s): the scheduler places the pod at its next attempt", ws.Names[c.Site], c.Node)}
	}
	var out []string
	if pp.Plan.NumFeasible() > 0 {
		// Feasible sites, no node with room: how much is missing in the
		// best one.
		best := int(pp.Plan.Ranked()[0])
		cpu, mem := w.LargestFree(best)
		needCPU, needMem := pp.CPUMilli(), pp.Requests.Memory().Value()
		var parts []string
		if needCPU > cpu {
			parts = append(parts, resource.NewMilliQuantity(needCPU-max(cpu, 0), resource.DecimalSI).String()+" more CPU")
		}
		if needMem > mem {
			parts = append(parts, resource.NewQuantity(needMem-max(mem, 0), resource.BinarySI).String()+" more memory")
		}
		switch {
		case len(w.Snap.NodesIn(best)) == 0:
			out = append(out, fmt.Sprintf("add nodes to site %s: it has none", ws.Names[best]))
		case len(parts) > 0:
			out = append(out, fmt.Sprintf("%s free on one node of site %s (most free on a node: %s CPU, %s memory)", joinAnd(parts), ws.Names[best],
				resource.NewMilliQuantity(max(cpu, 0), resource.DecimalSI), resource.NewQuantity(max(mem, 0), resource.BinarySI)))
		default:
			out = append(out, fmt.Sprintf("no node of site %s passes the policy's hardware or load rule, or the pod's node selector, tolerations or pod slots", ws.Names[best]))
		}
	}
	// Relax one hard rule at a time.
	relax := []struct {
		reason scoring.Reason
		apply  func(*scoring.Policy)
		say    func(*scoring.Plan, int) string
	}{
		{scoring.ReasonMaxRTT, func(p *scoring.Policy) { p.MaxRTT = 0 }, func(pl *scoring.Plan, i int) string {
			worst := pl.SiteWorstRTT(i)
			if math.IsInf(worst, 0) || math.IsNaN(worst) {
				// Under estimates: Reject (or an RTT nobody can estimate)
				// no bound admits the site; only a measurement does.
				return "declare or measure the RTTs from the policy's sources to the site (latency.estimates rejects estimated ones)"
			}
			return fmt.Sprintf("raise latency.maxRTTMilliseconds to %s ms", strconv.FormatFloat(math.Ceil(worst), 'f', 0, 64))
		}},
		{scoring.ReasonDependencyRTT, func(p *scoring.Policy) {
			p.Dependencies = slices.Clone(p.Dependencies)
			for k := range p.Dependencies {
				p.Dependencies[k].MaxRTT = 0
			}
		}, func(_ *scoring.Plan, i int) string {
			return "raise the bound of dependency " + dependencyOverBound(pp, i)
		}},
		{scoring.ReasonMaxCost, func(p *scoring.Policy) { p.MaxHourly = 0 }, func(pl *scoring.Plan, i int) string {
			return fmt.Sprintf("raise cost.maxHourly to %s", strconv.FormatFloat(math.Ceil(pl.SiteCost(i)*1e4)/1e4, 'f', -1, 64))
		}},
		{scoring.ReasonTier, func(p *scoring.Policy) { p.Tiers = 0 }, func(_ *scoring.Plan, i int) string {
			return fmt.Sprintf("allow tier %s", ws.Tier[i])
		}},
		{scoring.ReasonResidency, func(p *scoring.Policy) { p.HasResidency, p.AllowAll = false, true }, func(_ *scoring.Plan, i int) string {
			return fmt.Sprintf("allow country %s in residency (a legal decision, not a tuning knob)", scoring.CountryCode(ws.Country[i]))
		}},
		{scoring.ReasonStale, func(p *scoring.Policy) {
			p.RejectStaleRTT, p.RejectStalePrice, p.RejectStaleHealth = false, false, false
		}, func(*scoring.Plan, int) string { return "use declared values when telemetry is stale (freshness)" }},
	}
	counts := pp.Plan.ReasonCounts()
	for _, r := range relax {
		if counts[r.reason] == 0 {
			continue
		}
		rules := pp.Rules
		r.apply(&rules)
		var plan scoring.Plan
		plan.Evaluate(w.Snap.World, &rules)
		for _, s := range plan.Ranked() {
			i := int(s)
			if pp.Plan.SiteFeasible(i) || !siteHasCandidate(w, &plan, pp, pod, i) {
				continue
			}
			if r.reason == scoring.ReasonMaxRTT {
				if m := measureFirst(w, pp, i, probes); m != "" {
					out = append(out, m)
				}
			}
			out = append(out, fmt.Sprintf("%s: admits site %s, which has room", r.say(&plan, i), ws.Names[i]))
			break
		}
	}
	if counts[scoring.ReasonUnhealthy] > 0 {
		out = append(out, fmt.Sprintf("%d site(s) are unhealthy; the pod can use them once they recover", counts[scoring.ReasonUnhealthy]))
	}
	if len(out) == 0 {
		out = append(out, "no single change to the policy's hard rules admits a site with room")
	}
	return out
}

// measureFirst suggests measuring before loosening: when only estimated
// RTTs exclude site i, measurements within the bound admit it.
func measureFirst(w *simulate.World, pp *state.PodPlan, i int, probes *probeplan.Plan) string {
	pairs := overBound(w, pp, i, probes)
	if len(pairs) == 0 {
		return ""
	}
	var parts []string
	for _, p := range pairs {
		if !p.Estimate {
			return ""
		}
		part := fmt.Sprintf("%s (estimated %s ms, upper bound %s ms", p.Source, ms(p.RTTMilliseconds), ms(p.UpperMilliseconds))
		switch p.Probe {
		case "":
			part += ")"
		case "deferred":
			part += "; wanted by the probe plan, deferred by its budget)"
		default:
			part += "; planned for probing)"
		}
		parts = append(parts, part)
	}
	return fmt.Sprintf("measure the RTT from %s to site %s before loosening the SLO: within %s ms it admits site %s, which has room",
		strings.Join(parts, ", "), w.Snap.World.Sites.Names[i], strconv.FormatFloat(pp.Rules.MaxRTT, 'f', -1, 64), w.Snap.World.Sites.Names[i])
}

// siteHasCandidate reports whether site i has a node with room for the pod
// under plan (a relaxed copy of pp's).
func siteHasCandidate(w *simulate.World, plan *scoring.Plan, pp *state.PodPlan, pod *v1.Pod, i int) bool {
	relaxed := *pp
	relaxed.Plan = *plan
	for _, name := range w.Snap.NodesIn(i) {
		if ni := w.Nodes[name]; ni != nil {
			if _, ok := w.Candidate(&relaxed, ni); ok {
				return true
			}
		}
	}
	return false
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return parts[0] + " and " + parts[1]
}

// changesSince compares the scheduler's record of a bound pod with the same
// placement recomputed on w.
func changesSince(w *simulate.World, pp *state.PodPlan, rec *placementv1alpha1.PlacementRecord, node string) []string {
	var out []string
	ni := w.Nodes[node]
	if ni == nil {
		return []string{fmt.Sprintf("node %s no longer exists", node)}
	}
	site, ok := w.Snap.SiteOfNode(ni.Node())
	if !ok {
		return []string{fmt.Sprintf("node %s is in no known Site now (it was in %s)", node, rec.Site)}
	}
	now := pp.Record(w.Snap, node, site, math.NaN(), nil)
	if now.Site != rec.Site {
		return []string{fmt.Sprintf("node %s is in site %s now (it was in %s)", node, now.Site, rec.Site)}
	}
	// The record keeps the RTTs of the sources that weighed most at
	// binding (every source in version 1): those are compared with the
	// same RTTs now, wherever they rank now.
	sources := rec.SourceCount
	if rec.Version < 2 {
		sources = len(rec.RTTs)
	}
	if sources != now.SourceCount {
		out = append(out, fmt.Sprintf("the policy has %d latency source(s), it had %d", now.SourceCount, sources))
	}
	for _, old := range rec.RTTs {
		j, ok := w.Snap.SourceIndex(old.Source)
		if !ok {
			out = append(out, fmt.Sprintf("TrafficSource %s no longer exists", old.Source))
			continue
		}
		r := state.RecordedRTT(w.Snap.World, site, j)
		if ms(old.Milliseconds) != ms(r.Milliseconds) || old.Provenance != r.Provenance {
			out = append(out, fmt.Sprintf("RTT from %s was %s, now %s", r.Source, state.DescribeRTT(old), state.DescribeRTT(r)))
		}
	}
	if money(rec.HourlyCost) != money(now.HourlyCost) {
		out = append(out, fmt.Sprintf("hourly cost was %s, now %s", money(rec.HourlyCost), money(now.HourlyCost)))
	}
	if rec.FeasibleSites != now.FeasibleSites || rec.TotalSites != now.TotalSites {
		out = append(out, fmt.Sprintf("%d of %d sites met the hard rules, now %d of %d", rec.FeasibleSites, rec.TotalSites, now.FeasibleSites, now.TotalSites))
	}
	return out
}
