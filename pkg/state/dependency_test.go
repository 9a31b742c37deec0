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
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// listCluster is a Cluster over fixed lists.
type listCluster struct {
	pods     []*v1.Pod
	nodes    map[string]*v1.Node
	services []*v1.Service
}

func (c listCluster) Service(namespace, name string) (*v1.Service, error) {
	for _, s := range c.services {
		if s.Namespace == namespace && s.Name == name {
			return s, nil
		}
	}
	return nil, nil
}

func (c listCluster) SelectPods(namespace string, sel labels.Selector) ([]*v1.Pod, error) {
	var out []*v1.Pod
	for _, p := range c.pods {
		if p.Namespace == namespace && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (c listCluster) Node(name string) *v1.Node { return c.nodes[name] }

// dependencyWorld: Paris, Frankfurt and New York, with Paris–Frankfurt
// declared at 9 ms on Paris and 11 ms on Frankfurt (the larger counts), and
// one node per site.
func dependencyWorld(policies ...*placementv1alpha1.PlacementPolicy) (*Snapshot, listCluster) {
	par := site("paris", placementv1alpha1.TierRegional, "FR", "48.8566", "2.3522", "", "EU")
	par.Spec.RTTs = []placementv1alpha1.SiteRTT{{Site: "frankfurt", Milliseconds: 9}, {Site: "nowhere", Milliseconds: 1}}
	fra := site("frankfurt", placementv1alpha1.TierCloud, "DE", "50.1109", "8.6821", "", "EU")
	fra.Spec.RTTs = []placementv1alpha1.SiteRTT{{Site: "paris", Milliseconds: 11}}
	nyc := site("newyork", placementv1alpha1.TierCloud, "US", "40.7128", "-74.0060", "")
	c := listCluster{nodes: map[string]*v1.Node{}}
	var nodes []*v1.Node
	for _, s := range []string{"paris", "frankfurt", "newyork"} {
		n := st.MakeNode().Name(s+"-1").Label(placementv1alpha1.SiteLabel, s).Obj()
		nodes = append(nodes, n)
		c.nodes[n.Name] = n
	}
	snap := Build(Objects{Sites: []*placementv1alpha1.Site{par, fra, nyc}, Policies: policies, Nodes: nodes})
	return snap, c
}

func dependencyNodes() map[string]*v1.Node {
	out := map[string]*v1.Node{}
	for _, s := range []string{"paris", "frankfurt", "newyork"} {
		out[s+"-1"] = st.MakeNode().Name(s+"-1").Label(placementv1alpha1.SiteLabel, s).Obj()
	}
	return out
}

func dbPod(name, node string) *v1.Pod {
	return st.MakePod().Namespace("shop").Name(name).UID(name).Label("app", "db").Node(node).Obj()
}

func TestSiteRTT(t *testing.T) {
	snap, _ := dependencyWorld()
	idx := func(name string) int { i, _ := snap.SiteIndex(name); return i }
	par, fra, nyc := idx("paris"), idx("frankfurt"), idx("newyork")
	if v, u, f := snap.SiteRTT(par, fra); v != 11 || u != 11 || f != scoring.Declared {
		t.Errorf("paris-frankfurt = %v (upper %v, %v), want the larger declaration, 11 ms declared", v, u, f)
	}
	if v, _, _ := snap.SiteRTT(fra, par); v != 11 {
		t.Errorf("frankfurt-paris = %v, want 11 either way", v)
	}
	if v, u, f := snap.SiteRTT(par, par); v != 0 || u != 0 || f.IsEstimate() {
		t.Errorf("within a site = %v (upper %v, %v), want 0", v, u, f)
	}
	v, u, f := snap.SiteRTT(par, nyc)
	prior := rttmodel.EstimateRTT(48.8566, 2.3522, 40.7128, -74.0060)
	if !f.IsEstimate() || math.Abs(v-prior) > 1e-9 || u != rttmodel.EstimatePriorUpper(prior) {
		t.Errorf("paris-newyork = %v (upper %v, %v), want the distance prior %v with its bound", v, u, f, prior)
	}
}

func TestDependencies(t *testing.T) {
	db := placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec: placementv1alpha1.PlacementPolicySpec{
			PodSelector:  &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "api"}},
			Weights:      &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", PodSelector: &db, MaxRTTMilliseconds: ptr.To[int32](20)}},
		}}
	api := st.MakePod().Namespace("shop").Name("api-0").UID("api-0").Label("app", "api").Obj()
	snap, c := dependencyWorld(policy)
	idx := func(name string) int { i, _ := snap.SiteIndex(name); return i }

	t.Run("not placed yet: no bound, no objective", func(t *testing.T) {
		c := c
		c.pods = []*v1.Pod{dbPod("db-pending", ""), st.MakePod().Namespace("other").Name("db").Label("app", "db").Node("paris-1").Obj()}
		pp, err := snap.PlanPod(api, GPUResources{}, c)
		if err != nil {
			t.Fatal(err)
		}
		if pp.Plan.NumFeasible() != 3 || pp.Dependencies[0].Placed() {
			t.Errorf("feasible %d, placed %v: want every site and the dependency not placed", pp.Plan.NumFeasible(), pp.Dependencies)
		}
	})

	t.Run("placed: its sites weighted by pods, the bound on evidence", func(t *testing.T) {
		c := c
		finished := dbPod("db-done", "newyork-1")
		finished.Status.Phase = v1.PodSucceeded
		deleting := dbPod("db-going", "newyork-1")
		deleting.DeletionTimestamp = &metav1.Time{}
		c.pods = []*v1.Pod{dbPod("db-0", "paris-1"), dbPod("db-1", "paris-1"), dbPod("db-2", "frankfurt-1"), finished, deleting}
		pp, err := snap.PlanPod(api, GPUResources{}, c)
		if err != nil {
			t.Fatal(err)
		}
		want := DependencyPlacement{Name: "db", Sites: []int32{int32(idx("frankfurt")), int32(idx("paris"))}, Pods: []int32{1, 2}}
		if diff := cmp.Diff([]DependencyPlacement{want}, pp.Dependencies); diff != "" {
			t.Errorf("placement (-want +got):\n%s", diff)
		}
		d := pp.Rules.Dependencies[0]
		// paris: 2/3·0 + 1/3·11; frankfurt: 2/3·11 + 1/3·0
		if got := d.RTT[idx("paris")]; math.Abs(got-11.0/3) > 1e-9 {
			t.Errorf("paris: %v, want 11/3", got)
		}
		if got := d.RTT[idx("frankfurt")]; math.Abs(got-22.0/3) > 1e-9 {
			t.Errorf("frankfurt: %v, want 22/3", got)
		}
		for _, s := range []string{"paris", "frankfurt"} {
			if f := d.Provenance[idx(s)]; f.IsEstimate() || pp.Plan.SiteReason(idx(s)) != scoring.Feasible {
				t.Errorf("%s: %v, %v; want declared and feasible", s, f, pp.Plan.SiteReason(idx(s)))
			}
		}
		ny := idx("newyork")
		if !d.Provenance[ny].IsEstimate() || pp.Plan.SiteReason(ny) != scoring.ReasonDependencyRTT || pp.Plan.SiteBreachProven(ny) {
			t.Errorf("newyork: %v, %v, proven %v; want an estimate over the bound, not proven", d.Provenance[ny], pp.Plan.SiteReason(ny), pp.Plan.SiteBreachProven(ny))
		}
		if r := pp.Plan.Ranked(); snap.World.Sites.Names[r[0]] != "paris" {
			t.Errorf("ranked %v, want paris first", r)
		}
	})

	t.Run("a pod on a node in no known site fails the bound closed", func(t *testing.T) {
		for _, node := range []string{"gone-1", "nowhere-1"} {
			c := c
			c.nodes = map[string]*v1.Node{"nowhere-1": st.MakeNode().Name("nowhere-1").Obj()}
			for k, v := range dependencyNodes() {
				c.nodes[k] = v
			}
			c.pods = []*v1.Pod{dbPod("db-0", "paris-1"), dbPod("db-lost", node)}
			pp, err := snap.PlanPod(api, GPUResources{}, c)
			if err != nil {
				t.Fatal(err)
			}
			if got := pp.Dependencies[0]; got.Unlocated != 1 || !got.Placed() {
				t.Errorf("%s: placement %+v, want one pod unlocated", node, got)
			}
			if n := pp.Plan.NumFeasible(); n != 0 || pp.Plan.ReasonCounts()[scoring.ReasonDependencyRTT] != 3 {
				t.Errorf("%s: %d feasible sites (%s), want none: the RTT to the dependency is unknown", node, n, pp.Plan.ExcludedSummary())
			}
			if r := pp.DependencyRTTs(0)[0]; r.Milliseconds != nil || r.Provenance != placementv1alpha1.ProvenanceUnknown || r.Sites != 2 {
				t.Errorf("%s: %+v, want unknown over 2 sites", node, r)
			}
		}
	})

	t.Run("the pod itself is not its own dependency", func(t *testing.T) {
		c := c
		self := dbPod("api-0", "newyork-1")
		c.pods = []*v1.Pod{self}
		pp, err := snap.PlanPod(self, GPUResources{}, c)
		if err != nil || pp != nil {
			// self has no policy (app=db): nothing to plan
			t.Fatalf("got %v, %v", pp, err)
		}
		labelled := self.DeepCopy()
		labelled.Labels[placementv1alpha1.PolicyLabel] = "api"
		pp, err = snap.PlanPod(labelled, GPUResources{}, c)
		if err != nil || pp.Dependencies[0].Placed() {
			t.Errorf("got %v, %v; want the dependency not placed", pp.Dependencies, err)
		}
	})

	t.Run("without a cluster the policy cannot be evaluated", func(t *testing.T) {
		_, err := snap.PlanPod(api, GPUResources{}, nil)
		if !errors.Is(err, ErrNoCluster) || !Unresolvable(err) {
			t.Errorf("got %v, want ErrNoCluster, unresolvable", err)
		}
	})

	t.Run("the plan cache keys on where the dependency runs", func(t *testing.T) {
		c := c
		c.pods = []*v1.Pod{dbPod("db-0", "paris-1")}
		plans := NewPlanCache(GPUResources{}, &c)
		a, err := plans.PlanPod(snap, api)
		if err != nil {
			t.Fatal(err)
		}
		c.pods = []*v1.Pod{dbPod("db-0", "newyork-1")}
		b, err := plans.PlanPod(snap, api)
		if err != nil {
			t.Fatal(err)
		}
		if a.Shared() == b.Shared() {
			t.Error("a plan made with the dependency in Paris was reused after it moved to New York")
		}
		if r := b.Plan.Ranked(); snap.World.Sites.Names[r[0]] != "newyork" {
			t.Errorf("after the move: ranked %v, want newyork first", r)
		}
	})
}

// BenchmarkPlanDependencies: planning a pod whose policy calls a
// dependency running at 1 or 8 of 10,000 sites, against the same policy
// without it; the work grows with the sites times the dependency's sites.
func BenchmarkPlanDependencies(b *testing.B) {
	const nSites = 10000
	sites := make([]*placementv1alpha1.Site, nSites)
	c := listCluster{nodes: map[string]*v1.Node{}}
	for i := range sites {
		name := fmt.Sprintf("site-%05d", i)
		sites[i] = site(name, placementv1alpha1.TierEdge, "DE", strconv.FormatFloat(35+float64(i%100)/5, 'f', 2, 64),
			strconv.FormatFloat(-5+float64(i/100)/4, 'f', 2, 64), "")
		n := st.MakeNode().Name(name+"-1").Label(placementv1alpha1.SiteLabel, name).Obj()
		c.nodes[n.Name] = n
	}
	db := placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}
	with := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec: placementv1alpha1.PlacementPolicySpec{Weights: &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", PodSelector: &db, MaxRTTMilliseconds: ptr.To[int32](30)}}}}
	without := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "plain"},
		Spec: placementv1alpha1.PlacementPolicySpec{Weights: &placementv1alpha1.ObjectiveWeights{Cost: ptr.To[int32](1)}}}
	snap := Build(Objects{Sites: sites, Policies: []*placementv1alpha1.PlacementPolicy{with, without}})
	pod := func(policy string) *v1.Pod {
		return st.MakePod().Namespace("shop").Name("p").UID("p").Label(placementv1alpha1.PolicyLabel, policy).Obj()
	}
	for _, tc := range []struct {
		name   string
		policy string
		at     int
	}{{"NoDependency", "plain", 0}, {"DependencyAt1Site", "api", 1}, {"DependencyAt8Sites", "api", 8}} {
		c := c
		c.pods = nil
		for k := range tc.at {
			c.pods = append(c.pods, dbPod(fmt.Sprintf("db-%d", k), fmt.Sprintf("site-%05d-1", k*1237%nSites)))
		}
		p := pod(tc.policy)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := snap.PlanPod(p, GPUResources{}, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDependencyEgress: the traffic a pod declares with a dependency is
// priced where it leaves a site: what it sends at its own site's egress
// price, except the share that goes to the dependency's pods beside it;
// what it receives at the price of each site the dependency runs at,
// weighted by its pods there, except its own site.
func TestDependencyEgress(t *testing.T) {
	db := placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec: placementv1alpha1.PlacementPolicySpec{
			PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "api"}},
			Weights:     &placementv1alpha1.ObjectiveWeights{Cost: ptr.To[int32](1)},
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", PodSelector: &db, Traffic: &placementv1alpha1.Traffic{
				SentGiBPerHour: ptr.To(resource.MustParse("3")), ReceivedGiBPerHour: ptr.To(resource.MustParse("6"))}}},
		}}
	api := st.MakePod().Namespace("shop").Name("api-0").UID("api-0").Label("app", "api").Obj()
	snap, c := dependencyWorld(policy)
	for name, price := range map[string]float64{"paris": 0.02, "frankfurt": 0.05, "newyork": 0.01} {
		i, _ := snap.SiteIndex(name)
		snap.World.Sites.EgressPrice[i] = price
	}
	idx := func(name string) int { i, _ := snap.SiteIndex(name); return i }

	c.pods = []*v1.Pod{dbPod("db-0", "paris-1"), dbPod("db-1", "paris-1"), dbPod("db-2", "frankfurt-1")}
	pp, err := snap.PlanPod(api, GPUResources{}, c)
	if err != nil {
		t.Fatal(err)
	}
	// paris: 3·(1/3)·0.02 sent + 6·(1/3)·0.05 from frankfurt; frankfurt:
	// 3·(2/3)·0.05 + 6·(2/3)·0.02 from paris; newyork: 3·0.01 + 0.08 + 0.1.
	for site, want := range map[string]float64{"paris": 0.12, "frankfurt": 0.18, "newyork": 0.21} {
		if got := pp.Plan.SiteEgress(idx(site)); math.Abs(got-want) > 1e-9 {
			t.Errorf("egress at %s = %v, want %v", site, got, want)
		}
		if got := pp.Plan.SiteCost(idx(site)); math.Abs(got-want) > 1e-9 {
			t.Errorf("cost at %s = %v, want the egress %v (no prices for capacity)", site, got, want)
		}
	}
	if best := pp.Plan.Ranked()[0]; int(best) != idx("paris") {
		t.Errorf("cheapest site %s, want paris, next to most of the database", snap.World.Sites.Names[best])
	}

	// An unknown egress price at a site the dependency sends from makes
	// the cost unknown everywhere but there.
	snap.World.Sites.EgressPrice[idx("frankfurt")] = math.NaN()
	c.pods = []*v1.Pod{dbPod("db-2", "frankfurt-1")}
	pp, err = snap.PlanPod(api, GPUResources{}, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := pp.Plan.SiteEgress(idx("frankfurt")); got != 0 {
		t.Errorf("egress at frankfurt beside the whole database = %v, want 0", got)
	}
	for _, site := range []string{"paris", "newyork"} {
		if got := pp.Plan.SiteEgress(idx(site)); !math.IsInf(got, 1) {
			t.Errorf("egress at %s, receiving from frankfurt at an unknown price = %v, want +Inf", site, got)
		}
	}

	// A database pod in no known site: unknown everywhere.
	c.pods = []*v1.Pod{dbPod("db-0", "paris-1"), dbPod("db-x", "nowhere-1")}
	pp, err = snap.PlanPod(api, GPUResources{}, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"paris", "frankfurt", "newyork"} {
		if got := pp.Plan.SiteEgress(idx(site)); !math.IsInf(got, 1) {
			t.Errorf("egress at %s with an unlocated dependency pod = %v, want +Inf", site, got)
		}
	}
}

// TestSiteRTTLive: a fresh live site RTT overrides the declared one, in
// either direction; when the signal is read but has no fresh value for a
// pair, the declared or estimated value stands in and is marked stale
// (and absent when missing), so that a policy rejecting stale RTTs
// rejects it and the rebalancer does not act on it.
func TestSiteRTTLive(t *testing.T) {
	snap, _ := dependencyWorld()
	sites, nodes := snap.Sites(), []*v1.Node{}
	for _, n := range dependencyNodes() {
		nodes = append(nodes, n)
	}
	build := func(enabled, fresh bool, values map[SitePair]float64) *Snapshot {
		return Build(Objects{Sites: sites, Nodes: nodes, Live: &Live{SiteRTT: Signal[SitePair, float64]{Enabled: enabled, Fresh: fresh, Values: values}}})
	}
	idx := func(s *Snapshot, name string) int { i, _ := s.SiteIndex(name); return i }
	for _, tc := range []struct {
		name      string
		live      *Snapshot
		a, b      string
		want      float64
		wantProv  scoring.Provenance
		estimated bool
	}{
		{"fresh live overrides declared", build(true, true, map[SitePair]float64{PairOfSites("frankfurt", "paris"): 14}),
			"paris", "frankfurt", 14, scoring.Live, false},
		{"either direction", build(true, true, map[SitePair]float64{PairOfSites("paris", "frankfurt"): 14}),
			"frankfurt", "paris", 14, scoring.Live, false},
		{"stale: declared stands in", build(true, false, map[SitePair]float64{PairOfSites("frankfurt", "paris"): 14}),
			"paris", "frankfurt", 11, scoring.Declared | scoring.Stale, false},
		{"missing: declared stands in", build(true, true, map[SitePair]float64{}),
			"paris", "frankfurt", 11, scoring.Declared | scoring.Stale | scoring.Absent, false},
		{"missing: the estimate stands in", build(true, true, map[SitePair]float64{}),
			"paris", "newyork", -1, scoring.Estimated | scoring.Stale | scoring.Absent, true},
		{"fresh live replaces an estimate", build(true, true, map[SitePair]float64{PairOfSites("newyork", "paris"): 77}),
			"newyork", "paris", 77, scoring.Live, false},
		{"disabled: declared as it is", build(false, false, map[SitePair]float64{PairOfSites("frankfurt", "paris"): 14}),
			"paris", "frankfurt", 11, scoring.Declared, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, u, prov := tc.live.SiteRTT(idx(tc.live, tc.a), idx(tc.live, tc.b))
			if prov&^scoring.Fitted != tc.wantProv {
				t.Errorf("provenance %v, want %v", prov, tc.wantProv)
			}
			if tc.estimated {
				if !(u > v && v > 0) {
					t.Errorf("estimate %v (upper %v), want an estimate with its bound", v, u)
				}
			} else if v != tc.want || u != tc.want {
				t.Errorf("%s–%s = %v (upper %v), want %v", tc.a, tc.b, v, u, tc.want)
			}
		})
	}
}

// errCluster is a Cluster that cannot read Services.
type errCluster struct{ listCluster }

func (errCluster) Service(string, string) (*v1.Service, error) { return nil, ErrNoServices }

// TestDependencyOnService: a dependency may name a Service, whose selector
// picks its pods; a Service not created yet places nothing; one without a
// selector stands for endpoints nobody can locate, so the RTT to it is
// unknown and its bound fails everywhere; a cluster that cannot read
// Services fails the plan (closed).
func TestDependencyOnService(t *testing.T) {
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec: placementv1alpha1.PlacementPolicySpec{
			PodSelector:  &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "api"}},
			Weights:      &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", Service: ptr.To("orders-db"), MaxRTTMilliseconds: ptr.To[int32](20)}},
		}}
	api := st.MakePod().Namespace("shop").Name("api-0").UID("api-0").Label("app", "api").Obj()
	snap, c := dependencyWorld(policy)
	c.pods = []*v1.Pod{dbPod("db-0", "frankfurt-1"), dbPod("db-1", "frankfurt-1")}
	service := func(selector map[string]string) *v1.Service {
		return &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-db"}, Spec: v1.ServiceSpec{Selector: selector}}
	}
	idx := func(name string) int { i, _ := snap.SiteIndex(name); return i }

	c.services = []*v1.Service{service(map[string]string{"app": "db"})}
	pp, err := snap.PlanPod(api, GPUResources{}, c)
	if err != nil {
		t.Fatal(err)
	}
	if d := pp.Dependencies[0]; len(d.Sites) != 1 || int(d.Sites[0]) != idx("frankfurt") || d.Pods[0] != 2 {
		t.Errorf("placement %+v, want the Service's two pods in frankfurt", d)
	}
	if !pp.Plan.SiteFeasible(idx("frankfurt")) || pp.Plan.SiteFeasible(idx("newyork")) {
		t.Errorf("frankfurt feasible %v, newyork %v; want the bound judged against frankfurt",
			pp.Plan.SiteFeasible(idx("frankfurt")), pp.Plan.SiteFeasible(idx("newyork")))
	}
	if !policyOf(snap, api).DependsOn(st.MakePod().Namespace("shop").Name("x").Label("app", "other").Obj()) {
		t.Error("a pod of the namespace does not count as a possible dependency of a Service")
	}

	c.services = nil
	if pp, err = snap.PlanPod(api, GPUResources{}, c); err != nil || pp.Dependencies[0].Placed() || pp.Plan.NumFeasible() != 3 {
		t.Errorf("without the Service: %v, placed %v, %d feasible; want nothing placed and every site feasible", err, pp.Dependencies, pp.Plan.NumFeasible())
	}

	c.services = []*v1.Service{service(nil)}
	if pp, err = snap.PlanPod(api, GPUResources{}, c); err != nil || pp.Plan.NumFeasible() != 0 {
		t.Errorf("a Service without a selector: %v, %d feasible; want every site over the bound (unknown)", err, pp.Plan.NumFeasible())
	}

	if _, err := snap.PlanPod(api, GPUResources{}, errCluster{c}); !errors.Is(err, ErrNoServices) {
		t.Errorf("with Services unreadable: %v, want ErrNoServices", err)
	}
}

func policyOf(snap *Snapshot, pod *v1.Pod) *ResolvedPolicy {
	p, _ := snap.PolicyFor(pod)
	return p
}

// TestProbePlanLinks: while site RTTs are read live, the probe plan asks
// for the pairs of sites a dependency's bound rests on: from the sites the
// policy allows to where the dependency runs, estimated pairs only; none
// while site RTTs are not read, none for a dependency not placed, and a
// policy whose dependencies cannot be located is reported and planned no
// links.
func TestProbePlanLinks(t *testing.T) {
	base, c := dependencyWorld()
	idx := func(s *Snapshot, name string) int { i, _ := s.SiteIndex(name); return i }
	// A bound at the New York–Frankfurt estimate's central value: its
	// upper bound fails it, its lower side does not.
	central, upper, prov := base.SiteRTT(idx(base, "newyork"), idx(base, "frankfurt"))
	if !prov.IsEstimate() || !(upper > central) {
		t.Fatalf("newyork–frankfurt %v (upper %v, %v): want an estimate with a margin", central, upper, prov)
	}
	db := placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}
	policy := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec: placementv1alpha1.PlacementPolicySpec{
			PodSelector:  &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "api"}},
			Weights:      &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", PodSelector: &db, MaxRTTMilliseconds: ptr.To(int32(central))}},
		}}
	onService := policy.DeepCopy()
	onService.Name = "api-on-service"
	onService.Spec.Dependencies[0].PodSelector, onService.Spec.Dependencies[0].Service = nil, ptr.To("db")
	var nodes []*v1.Node
	for _, n := range c.nodes {
		nodes = append(nodes, n)
	}
	build := func(live *Live, policies ...*placementv1alpha1.PlacementPolicy) *Snapshot {
		return Build(Objects{Sites: base.Sites(), Policies: policies, Nodes: nodes, Live: live})
	}
	read := &Live{SiteRTT: Signal[SitePair, float64]{Enabled: true, Fresh: true, Values: map[SitePair]float64{}}}
	running := c
	running.pods = []*v1.Pod{dbPod("db-0", "frankfurt-1")}
	type link struct {
		site, peer string
		tier       probeplan.Tier
	}
	for _, tc := range []struct {
		name    string
		snap    *Snapshot
		cluster Cluster
		want    []link
		wantErr bool
	}{
		{"site RTTs not read: no links", build(nil, policy), running, nil, false},
		{"the dependency not placed yet: no links", build(read, policy), c, nil, false},
		{"the estimated pair the bound rests on", build(read, policy), running, []link{{"newyork", "frankfurt", probeplan.TierBound}}, false},
		{"a Service that cannot be read: reported, no links", build(read, onService), errCluster{running}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.snap.ProbePlanWith(tc.cluster, probeplan.DefaultBudget, 0)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			var got []link
			for _, l := range p.Links {
				got = append(got, link{tc.snap.World.Sites.Names[l.Site], tc.snap.World.Sites.Names[l.Peer], l.Tier})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("links %v, want %v", got, tc.want)
			}
			for _, l := range p.Links {
				if l.Policy != "shop/api" || l.Dependency != "db" || !l.Provenance.IsEstimate() || l.Upper != upper {
					t.Errorf("link %+v: want shop/api's db, estimated, upper bound %v", l, upper)
				}
			}
		})
	}
}
