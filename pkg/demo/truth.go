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
	"strconv"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/state"
)

// objects are the Sites and TrafficSources the scenario creates. A source
// declares the measured RTT to each site, rounded up (a declared RTT never
// understates the measured one, so a pod within its SLO by declaration is
// within it by measurement); pairs nobody measured are left to the
// scheduler's estimate, and so are the measured pairs the scenario does not
// declare (SetDeclared). measured of total pairs were measured.
func (s *Scenario) objects(m *Measurements) (sites []*placementv1alpha1.Site, sources []*placementv1alpha1.TrafficSource, measured, total int) {
	location := func(city string) placementv1alpha1.GeoLocation {
		c := m.Cities[city]
		return placementv1alpha1.GeoLocation{Latitude: strconv.FormatFloat(c.Lat, 'f', 4, 64), Longitude: strconv.FormatFloat(c.Lon, 'f', 4, 64)}
	}
	for _, site := range s.Sites {
		sites = append(sites, &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: site.Name}, Spec: placementv1alpha1.SiteSpec{
			Tier: site.Tier, Country: site.Country, Jurisdictions: site.Jurisdictions,
			Location: location(site.City), Pricing: ptr.To(site.Pricing),
		}})
	}
	type pair struct {
		source int
		site   string
		ms     float64
	}
	var pairs []pair
	for _, src := range s.Sources {
		obj := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: src.Name},
			Spec: placementv1alpha1.TrafficSourceSpec{Location: ptr.To(location(src.City))}}
		if src.Demand > 0 {
			obj.Spec.Demand = ptr.To(src.Demand)
		}
		for _, site := range s.Sites {
			total++
			if ms, ok := m.RTT(src.City, site.City); ok {
				measured++
				pairs = append(pairs, pair{len(sources), site.Name, ms})
			}
		}
		sources = append(sources, obj)
	}
	for i, declare := range s.declared(len(pairs)) {
		if p := pairs[i]; declare {
			sources[p.source].Spec.RTTs = append(sources[p.source].Spec.RTTs,
				placementv1alpha1.SiteRTT{Site: p.site, Milliseconds: int32(math.Ceil(p.ms))})
		}
	}
	return sites, sources, measured, total
}

// truth is the scenario's world as the scheduler's world model builds it
// from the scenario's objects, with every RTT replaced by the true one
// (measured where measured, else the distance estimate): the report judges
// placements with the scheduler's own rules and scores, on the truth.
type truth struct {
	snap  *state.Snapshot
	world *scoring.World
}

func newTruth(sc *Scenario, m *Measurements) *truth {
	sites, sources, _, _ := sc.objects(m)
	snap := state.Build(state.Objects{Sites: sites, Sources: sources, Policies: classPolicies(sc.Classes)})
	w := *snap.World
	// The truth has no uncertainty: every pair is judged at its value.
	w.RTTUpper = nil
	w.RTT = make([]float64, len(snap.World.RTT))
	w.RTTProvenance = make([]scoring.Provenance, len(snap.World.RTTProvenance))
	site := make(map[string]SiteSpec, len(sc.Sites))
	for _, s := range sc.Sites {
		site[s.Name] = s
	}
	source := make(map[string]SourceSpec, len(sc.Sources))
	for _, s := range sc.Sources {
		source[s.Name] = s
	}
	for si, s := range snap.Sites() {
		for j, src := range snap.Sources() {
			ms, estimated := m.TrueRTT(source[src.Name].City, site[s.Name].City)
			k := si*w.NumSources() + j
			w.RTT[k] = ms
			if estimated {
				w.RTTProvenance[k] = scoring.Estimated
			}
		}
	}
	return &truth{snap: snap, world: &w}
}

// siteIndex is the position of a scenario site in the truth world.
func (t *truth) siteIndex(name string) int {
	i, ok := t.snap.SiteIndex(name)
	if !ok {
		return -1
	}
	return i
}

// classModel is a class's policy evaluated by the core against the truth:
// each hard rule on its own (so a placement is counted against every rule
// it breaks), all of them together, and the demand-weighted mean RTT.
type classModel struct {
	spec       ClassSpec
	hasLatency bool
	// wLatency and wCost are the score's shares of latency and cost.
	wLatency, wCost float64
	hardware        *nodeaffinity.NodeSelector
	all, residency  scoring.Plan
	slo, cost, mean scoring.Plan
}

// classPolicies are the classes' PlacementPolicies, one per class, named
// after it.
func classPolicies(classes []ClassSpec) []*placementv1alpha1.PlacementPolicy {
	var out []*placementv1alpha1.PlacementPolicy
	for _, c := range classes {
		out = append(out, &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: c.Name}, Spec: c.Policy})
	}
	return out
}

// classPolicy is class c's policy as snap resolved it (classPolicies).
func classPolicy(snap *state.Snapshot, c ClassSpec) (*state.ResolvedPolicy, error) {
	for _, p := range snap.Policies("") {
		if p.Name == c.Name {
			return &p, nil
		}
	}
	return nil, fmt.Errorf("class %s has no policy", c.Name)
}

func (t *truth) model(c ClassSpec) (*classModel, error) {
	policy, err := classPolicy(t.snap, c)
	if err != nil {
		return nil, err
	}
	if policy.HardwareErr != nil {
		return nil, fmt.Errorf("class %s: hardware rule: %w", c.Name, policy.HardwareErr)
	}
	// The requests of the class's pods, as the scheduler reads them with
	// the default args (the shipped configuration sets no gpuResources).
	reqs := state.RequestsOf(state.PodRequests(pod(c, 0, "", "")),
		state.NewGPUResources(configv1.DefaultGPUResources))
	var rules scoring.Policy
	if err := t.snap.CorePolicy(&policy.Spec, reqs, &rules); err != nil {
		return nil, fmt.Errorf("class %s: %w", c.Name, err)
	}
	cm := &classModel{spec: c, hardware: policy.Hardware}
	var total float64
	for _, w := range rules.Weights {
		total += w
	}
	cm.hasLatency = len(rules.Sources) > 0 && total > 0
	latency, cost, load := state.Weights(&policy.Spec)
	cm.wLatency, cm.wCost, _ = scoring.NormalizeWeights(latency, cost, load, cm.hasLatency)

	cm.all.Evaluate(t.world, &rules)
	residency := rules
	residency.MaxRTT, residency.MaxHourly = 0, 0
	cm.residency.Evaluate(t.world, &residency)
	slo := scoring.Policy{AllowAll: true, Sources: rules.Sources, Weights: rules.Weights, Objective: rules.Objective, MaxRTT: rules.MaxRTT}
	cm.slo.Evaluate(t.world, &slo)
	costCap := scoring.Policy{AllowAll: true, Cores: rules.Cores, MemGiB: rules.MemGiB, GPUs: rules.GPUs, MaxHourly: rules.MaxHourly}
	cm.cost.Evaluate(t.world, &costCap)
	mean := scoring.Policy{AllowAll: true, Sources: rules.Sources, Weights: rules.Weights, Cores: rules.Cores, MemGiB: rules.MemGiB, GPUs: rules.GPUs}
	cm.mean.Evaluate(t.world, &mean)
	return cm, nil
}

// rtt is the class's demand-weighted mean RTT at site s.
func (cm *classModel) rtt(s int) float64 { return cm.mean.SiteLatency(s) }

// hourly is the hourly price of one of the class's pods at site s.
func (cm *classModel) hourly(s int) float64 { return cm.mean.SiteCost(s) }

// breaks reports which hard rules a pod of the class breaks on a node with
// these labels in site s.
func (cm *classModel) breaks(s int, nodeLabels map[string]string) (residency, hardware, slo, costCap bool) {
	hardware = cm.hardware != nil && !cm.hardware.Match(&v1.Node{ObjectMeta: metav1.ObjectMeta{Labels: nodeLabels}})
	return !cm.residency.SiteFeasible(s), hardware, !cm.slo.SiteFeasible(s), !cm.cost.SiteFeasible(s)
}
