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
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// Probing is how placement converges when Proxima plans its own probes: a
// scenario that declares only a share of its measured RTTs, placed round
// after round with the scheduler's own world model and choice
// (pkg/simulate), where each round measures the pairs the previous round's
// probe plan asked for (their true RTT, live and fresh) and nothing else —
// a pair the plan drops is no longer measured.
type Probing struct {
	Budget probeplan.Budget
	// Hidden is the number of measured pairs the scenario does not declare.
	Hidden int
	// Rounds: round 0 has no live RTT (today's figures without probing).
	Rounds []ProbeRound
	// AllDeclared is the placement with every measured pair declared.
	AllDeclared []ClassReport
}

// ProbeRound is one round: the pairs measured in it, and each class's
// placement.
type ProbeRound struct {
	Measured int
	// Planned counts the next round's probes by tier.
	Planned [probeplan.NumTiers]int
	Classes []ClassReport
}

// SimulateProbing places the scenario's pods rounds+1 times (round 0
// without any live RTT), planning probes within budget after each.
func SimulateProbing(sc *Scenario, m *Measurements, budget probeplan.Budget, rounds int) (*Probing, error) {
	out := &Probing{Budget: budget}
	full := *sc
	full.declaredSet = false
	ref, err := simulateRound(&full, m, nil)
	if err != nil {
		return nil, err
	}
	out.AllDeclared = ref.classes
	for _, e := range EstimatorErrors(sc, m) {
		out.Hidden = e.Pairs
	}
	var live map[state.SourceSite]float64
	for r := 0; r <= rounds; r++ {
		res, err := simulateRound(sc, m, live)
		if err != nil {
			return nil, err
		}
		plan := res.snap.ProbePlan(budget, uint64(r))
		round := ProbeRound{Measured: len(live), Classes: res.classes}
		live = map[state.SourceSite]float64{}
		for _, p := range plan.Pairs {
			round.Planned[p.Tier]++
			src, site := res.snap.Sources()[p.Source], res.snap.Sites()[p.Site]
			ms, _ := m.TrueRTT(res.sourceCity[src.Name], res.siteCity[site.Name])
			live[state.SourceSite{Source: src.Name, Site: site.Name}] = ms
		}
		out.Rounds = append(out.Rounds, round)
	}
	return out, nil
}

type roundResult struct {
	snap                 *state.Snapshot
	classes              []ClassReport
	siteCity, sourceCity map[string]string
}

// simulateRound places every class's pods, interleaved as the demo creates
// them, on the scenario's world with these live RTTs (nil: none read).
func simulateRound(sc *Scenario, m *Measurements, rtts map[state.SourceSite]float64) (*roundResult, error) {
	sites, sources, _, _ := sc.objects(m)
	var policies []*placementv1alpha1.PlacementPolicy
	for _, c := range sc.Classes {
		policies = append(policies, &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: c.Name}, Spec: c.Policy})
	}
	var nodes []*v1.Node
	for _, s := range sc.Sites {
		for i := range s.Nodes {
			nodes = append(nodes, node(s, i))
		}
	}
	settings := simulate.Settings{GPUs: state.NewGPUResources(configv1.DefaultGPUResources)}
	if rtts != nil {
		settings.Live = &state.Live{RTT: state.Signal[state.SourceSite, float64]{Enabled: true, Fresh: true, Values: rtts}}
	}
	w := simulate.NewWorld(sites, sources, policies, nodes, nil, settings)
	res := &roundResult{snap: w.Snap, siteCity: map[string]string{}, sourceCity: map[string]string{}}
	for _, s := range sc.Sites {
		res.siteCity[s.Name] = s.City
	}
	for _, s := range sc.Sources {
		res.sourceCity[s.Name] = s.City
	}
	var placements []Placement
	next := make([]int, len(sc.Classes))
	for left := true; left; {
		left = false
		for ci, c := range sc.Classes {
			if next[ci] >= c.Pods {
				continue
			}
			left = true
			p := pod(c, next[ci], "", "")
			next[ci]++
			pl := Placement{Class: c.Name}
			pp, err := w.PlanPod(p)
			if err != nil {
				return nil, fmt.Errorf("class %s: %w", c.Name, err)
			}
			if pp != nil {
				if choice, ok := w.Place(pp, p); ok {
					pl.Site, pl.Node = w.Snap.World.Sites.Names[choice.Site], choice.Node
					pl.NodeLabels = w.Node(choice.Node).Labels
				}
			}
			placements = append(placements, pl)
		}
	}
	r := &Report{Scenario: sc, measurements: m, Runs: []RunResult{{Scheduler: ProximaScheduler, Placements: placements}}}
	if err := r.evaluate(); err != nil {
		return nil, err
	}
	res.classes = r.Classes
	return res, nil
}

// Converged judges a round against the all-declared placement, per class
// with traffic sources: the ratio of mean measured RTTs, the pods left
// Pending that the all-declared run placed, and SLO violations on measured
// RTT.
func (p *Probing) Converged(round int) []ClassConvergence {
	var out []ClassConvergence
	for i, c := range p.Rounds[round].Classes {
		ref := p.AllDeclared[i]
		if !c.HasLatency {
			continue
		}
		a, b := c.Rows[0], ref.Rows[0]
		out = append(out, ClassConvergence{Class: c.Class, Ratio: a.MeanRTT / b.MeanRTT,
			Missed: max(0, a.Unschedulable-b.Unschedulable), SLO: a.SLO})
	}
	return out
}

// ClassConvergence is one class of one round against the all-declared run.
type ClassConvergence struct {
	Class string
	// Ratio is the mean measured RTT ÷ the all-declared run's (NaN when
	// either placed no pod).
	Ratio float64
	// Missed are the pods left Pending that the all-declared run placed;
	// SLO the pods placed over their max RTT on measured RTT.
	Missed, SLO int
}

// Good reports whether a class is within tolerance of the all-declared
// placement: ratio at most 1+tol, no missed pod, no SLO violation.
func (c ClassConvergence) Good(tol float64) bool {
	return c.Missed == 0 && c.SLO == 0 && (c.Ratio <= 1+tol || math.IsNaN(c.Ratio))
}
