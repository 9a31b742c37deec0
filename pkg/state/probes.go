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

package state

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// probeMemo holds a snapshot's probe candidates, made on first use.
type probeMemo struct {
	once sync.Once
	c    *probeplan.Candidates
}

// ProbeCandidates are the (source, site) pairs worth measuring on this
// snapshot, ranked (package probeplan): made on first use, then shared.
func (s *Snapshot) ProbeCandidates() *probeplan.Candidates {
	if s.probes == nil {
		return probeplan.Find(s.probeInput())
	}
	s.probes.once.Do(func() { s.probes.c = probeplan.Find(s.probeInput()) })
	return s.probes.c
}

// ProbePlan is one round's probes within the budget (probeplan.Plan).
func (s *Snapshot) ProbePlan(b probeplan.Budget, round uint64) *probeplan.Plan {
	return s.ProbeCandidates().Plan(b, round)
}

// ProbePlanWith is ProbePlan with the pairs of sites the policies'
// dependencies need measured (probeplan.Link), where c says the
// dependencies run. Links are planned only while the snapshot reads site
// RTTs live (the siteRTT signal): nothing would read what they measure
// otherwise. A policy whose dependencies c cannot locate now (a Service it
// cannot read) plans no links this round; its error is returned with the
// plan.
func (s *Snapshot) ProbePlanWith(c Cluster, b probeplan.Budget, round uint64) (*probeplan.Plan, error) {
	cands := s.ProbeCandidates()
	if c == nil || !s.ReadsSiteRTTs() {
		return cands.Plan(b, round), nil
	}
	in, err := s.linkInput(c)
	return cands.WithLinks(in, s.probeable()).Plan(b, round), err
}

// ReadsSiteRTTs reports whether the snapshot reads RTTs between sites from
// telemetry (the siteRTT signal is configured).
func (s *Snapshot) ReadsSiteRTTs() bool { return s.table.live != nil && s.table.live.SiteRTT.Enabled }

// linkInput is every policy with dependencies as probeInput puts it, with
// the dependencies placed where c says their pods run, and the pairs of
// sites as they would be without a live measurement.
func (s *Snapshot) linkInput(c Cluster) (probeplan.LinkInput, error) {
	in := probeplan.LinkInput{Unmeasured: s.unmeasuredSiteRTT, Current: func(a, b int) (float64, scoring.Provenance) {
		v, _, p := s.SiteRTT(a, b)
		return v, p
	}}
	var errs []error
	for _, pol := range s.sortedPolicies() {
		if len(pol.Spec.Dependencies) == 0 {
			continue
		}
		placed, err := s.PlaceDependencies(pol, nil, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("PlacementPolicy %s/%s: %w", pol.Namespace, pol.Name, err))
			continue
		}
		rules := &scoring.Policy{}
		if err := s.CorePolicy(&pol.Spec, Requests{}, rules); err != nil {
			continue // its pods are not placed at all (fail closed)
		}
		s.dependencyRules(&pol.Spec, placed, rules)
		lp := probeplan.LinkPolicy{Name: pol.Namespace + "/" + pol.Name, Rules: rules}
		for i := range placed {
			if !placed[i].Placed() {
				continue // dependencyRules left it out
			}
			d := probeplan.LinkDependency{Name: placed[i].Name}
			if placed[i].Unlocated == 0 {
				d.Sites, d.Pods = placed[i].Sites, placed[i].Pods
			}
			lp.Dependencies = append(lp.Dependencies, d)
		}
		in.Policies = append(in.Policies, lp)
	}
	return in, errors.Join(errs...)
}

// sortedPolicies are the snapshot's policies by namespace, then name.
func (s *Snapshot) sortedPolicies() []*ResolvedPolicy {
	namespaces := make([]string, 0, len(s.policies.byNamespace))
	for ns := range s.policies.byNamespace {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	var out []*ResolvedPolicy
	for _, ns := range namespaces {
		list := s.policies.byNamespace[ns]
		start := len(out)
		for i := range list {
			out = append(out, &list[i])
		}
		slices.SortFunc(out[start:], func(a, b *ResolvedPolicy) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// probeInput puts the snapshot in the planner's terms: every policy as it
// judges a pod with no requests (a pair never decides a cost cap), and
// each pair's RTT as it would be without a live measurement.
func (s *Snapshot) probeInput() probeplan.Input {
	w := s.World
	in := probeplan.Input{World: w}
	in.Central, in.Upper, in.Margin = s.table.unmeasured()
	for _, pol := range s.sortedPolicies() {
		rules := &scoring.Policy{}
		if err := s.CorePolicy(&pol.Spec, Requests{}, rules); err != nil {
			continue // its pods are not placed at all (fail closed)
		}
		in.Policies = append(in.Policies, probeplan.Policy{Name: pol.Namespace + "/" + pol.Name, Rules: rules})
	}
	in.Probeable = s.probeable()
	return in
}

// probeable marks the sites with nodes (probeplan.Input.Probeable); nil
// before the nodes are indexed.
func (s *Snapshot) probeable() []bool {
	if s.nodes == nil {
		return nil
	}
	out := make([]bool, s.World.Sites.Len())
	for i := range out {
		out[i] = len(s.NodesIn(i)) > 0
	}
	return out
}

// unmeasured is each pair's RTT and upper bound as they would be without a
// live measurement, and the estimate's margin (probeplan.Input): an
// estimated pair's own values; for a live pair the fitted model's
// estimate, with a bound no tighter than the distance prior's (the fit has
// seen the measurement, so its own bound for the pair is optimistic); NaN
// for a pair a TrafficSource declares, whose declared value stands in when
// a live one goes.
func (t *siteTable) unmeasured() (central, upper, margin []float64) {
	w := t.world
	n, m := w.Sites.Len(), w.NumSources()
	central, upper, margin = make([]float64, n*m), make([]float64, n*m), make([]float64, n*m)
	declared := make([]bool, n*m)
	for j, src := range t.sources {
		for _, r := range src.Spec.RTTs {
			if s, ok := t.siteIndex[r.Site]; ok && r.Milliseconds >= 0 {
				declared[int(s)*m+j] = true
			}
		}
	}
	for k := range central {
		p := w.RTTProvenance[k]
		switch {
		case declared[k]:
			central[k], upper[k], margin[k] = math.NaN(), math.NaN(), math.NaN()
		case p.IsEstimate():
			central[k], upper[k] = w.RTT[k], w.RTTUpperAt(k/m, k%m)
			margin[k] = upper[k] - central[k]
		case p&scoring.Live != 0 && t.rtt != nil && !math.IsNaN(t.rtt.dist[k]):
			d := t.rtt.dist[k]
			est, up := t.rtt.fit.Estimate(k/m, k%m, d)
			central[k], upper[k], margin[k] = est, max(up, rttmodel.EstimatePriorUpper(rttmodel.Prior(d))), up-est
		case p&scoring.Live != 0:
			central[k], upper[k], margin[k] = scoring.UnknownRTT, scoring.UnknownRTT, 0
		default:
			central[k], upper[k], margin[k] = math.NaN(), math.NaN(), math.NaN()
		}
	}
	return central, upper, margin
}
