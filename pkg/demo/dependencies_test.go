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
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

// sceneTestWorld: the scene's classes on four sites: a cloud region in
// Frankfurt, a point of presence in Paris, and stores in Munich (8 CPUs)
// and Lisbon.
func sceneTestWorld(t *testing.T) (*sceneWorld, *Scenario) {
	t.Helper()
	m, err := LoadMeasurements()
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) *resource.Quantity { return ptr.To(resource.MustParse(s)) }
	sc := &Scenario{
		Sites: []SiteSpec{
			{Name: "cloud-frankfurt", City: "Frankfurt", Tier: placementv1alpha1.TierCloud, Country: "DE", Jurisdictions: []string{"EU"}, Nodes: 2, CPU: 16,
				Pricing: placementv1alpha1.SitePricing{CPUCoreHour: q("0.03"), MemoryGiBHour: q("0.004"), EgressGiB: q("0.05")}},
			{Name: "pop-paris", City: "Paris", Tier: placementv1alpha1.TierRegional, Country: "FR", Jurisdictions: []string{"EU"}, Nodes: 1, CPU: 16,
				Pricing: placementv1alpha1.SitePricing{CPUCoreHour: q("0.045"), MemoryGiBHour: q("0.006"), EgressGiB: q("0.02")}},
			{Name: "store-munich", City: "Munich", Tier: placementv1alpha1.TierEdge, Country: "DE", Jurisdictions: []string{"EU"}, Nodes: 1, CPU: 8,
				Pricing: placementv1alpha1.SitePricing{CPUCoreHour: q("0.078"), MemoryGiBHour: q("0.010"), EgressGiB: q("0.05")}},
			{Name: "store-lisbon", City: "Lisbon", Tier: placementv1alpha1.TierEdge, Country: "PT", Jurisdictions: []string{"EU"}, Nodes: 1, CPU: 8,
				Pricing: placementv1alpha1.SitePricing{CPUCoreHour: q("0.076"), MemoryGiBHour: q("0.010"), EgressGiB: q("0.05")}},
		},
		Sources: []SourceSpec{{Name: "eu-strasbourg", City: "Strasbourg", Demand: 3}, {Name: "eu-nuremberg", City: "Nuremberg", Demand: 3},
			{Name: "eu-venice", City: "Venice", Demand: 2}, {Name: "eu-graz", City: "Graz", Demand: 1}, {Name: "eu-brno", City: "Brno", Demand: 1}},
		Classes: DependencyScene(),
	}
	if err := sc.Validate(m); err != nil {
		t.Fatal(err)
	}
	return newSceneWorld(sc, m), sc
}

// judge is what the report reads of a pod of class c at site a with its
// dependencies placed as placed says: the scheduler's plan for it on the
// truth.
type judge struct {
	t *testing.T
	w *sceneWorld
}

func (j judge) plan(c ClassSpec, placed map[string][]string) *state.PodPlan {
	j.t.Helper()
	pp, err := j.w.plan(c, placed)
	if err != nil {
		j.t.Fatal(err)
	}
	return pp
}

func (j judge) egress(c ClassSpec, a string, placed map[string][]string) float64 {
	_, e := j.w.cost(j.plan(c, placed), a)
	return e
}

func (j judge) feasible(c ClassSpec, a string, placed map[string][]string) bool {
	return j.w.feasible(c, j.plan(c, placed), a)
}

func (j judge) latency(c ClassSpec, a string, placed map[string][]string) float64 {
	i, _ := j.w.snap.SiteIndex(a)
	return j.plan(c, placed).Plan.SiteLatency(i)
}

func (j judge) optimum(classes []ClassSpec) map[string][]string {
	j.t.Helper()
	opt, err := j.w.optimum(classes)
	if err != nil {
		j.t.Fatal(err)
	}
	return opt
}

func class(t *testing.T, sc *Scenario, name string) ClassSpec {
	t.Helper()
	i := slices.IndexFunc(sc.Classes, func(c ClassSpec) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("no class %s", name)
	}
	return sc.Classes[i]
}

func TestSceneEgress(t *testing.T) {
	tw, sc := sceneTestWorld(t)
	w := judge{t, tw}
	stream := class(t, sc, "stream-analytics")
	placed := map[string][]string{"camera-ingest": {"store-munich"}}
	if got := w.egress(stream, "store-munich", placed); got != 0 {
		t.Errorf("next to its data: egress %v, want 0", got)
	}
	// 40 GiB an hour leave Munich at 0.05.
	if got := w.egress(stream, "cloud-frankfurt", placed); math.Abs(got-2) > 1e-9 {
		t.Errorf("in Frankfurt: egress %v, want 2", got)
	}
	// Ingest split over two sites: half the traffic leaves each.
	placed["camera-ingest"] = []string{"store-munich", "pop-paris"}
	if got := w.egress(stream, "store-munich", placed); math.Abs(got-40*0.02/2) > 1e-9 {
		t.Errorf("half next to its data: egress %v, want %v", got, 40*0.02/2)
	}
	// No traffic declared, no egress; nothing placed, none either.
	if got := w.egress(class(t, sc, "store-api"), "store-lisbon", map[string][]string{"orders-db": {"cloud-frankfurt"}}); got != 0 {
		t.Errorf("store-api egress %v, want 0", got)
	}
	if got := w.egress(stream, "cloud-frankfurt", map[string][]string{"camera-ingest": {""}}); got != 0 {
		t.Errorf("unplaced ingest: egress %v, want 0", got)
	}
}

func TestSceneFeasibleAndLatency(t *testing.T) {
	tw, sc := sceneTestWorld(t)
	w := judge{t, tw}
	cache := class(t, sc, "feature-cache")
	placed := map[string][]string{"orders-db": {"cloud-frankfurt", "cloud-frankfurt"}}
	if !w.feasible(cache, "pop-paris", placed) {
		t.Error("Paris is a regional site within 30 ms of Frankfurt, yet infeasible for the cache")
	}
	if w.feasible(cache, "store-munich", placed) {
		t.Error("a store is not a regional site, yet feasible for the cache")
	}
	ingest := class(t, sc, "camera-ingest")
	if w.feasible(ingest, "store-lisbon", nil) || !w.feasible(ingest, "store-munich", nil) {
		t.Error("camera-ingest is pinned to store-munich")
	}
	api := class(t, sc, "store-api")
	// The cache 20 ms bound: Lisbon is further than that from Paris.
	far := map[string][]string{"feature-cache": {"pop-paris"}, "orders-db": {"cloud-frankfurt"}}
	if ms := tw.siteRTT("store-lisbon", "pop-paris"); ms <= 20 {
		t.Fatalf("Lisbon–Paris is %.1f ms; the test needs it above 20", ms)
	}
	if w.feasible(api, "store-lisbon", far) {
		t.Error("Lisbon is beyond the cache bound, yet feasible for store-api")
	}
	// The latency objective weighs sources by demand and dependencies by
	// weight (cache 3, database 1), one mean over both.
	var sum, weight float64
	for _, s := range sc.Sources {
		ms, _ := tw.m.TrueRTT(s.City, "Munich")
		sum += float64(s.Demand) * ms
		weight += float64(s.Demand)
	}
	sum += 3*tw.siteRTT("store-munich", "pop-paris") + tw.siteRTT("store-munich", "cloud-frankfurt")
	weight += 4
	if got, want := w.latency(api, "store-munich", far), sum/weight; math.Abs(got-want) > 1e-9 {
		t.Errorf("store-api latency at Munich %v, want %v", got, want)
	}
}

func TestSceneOptimum(t *testing.T) {
	tw, sc := sceneTestWorld(t)
	opt := judge{t, tw}.optimum(sc.Classes)
	// The database is cost-led and cloud-only; the cache regional; the
	// stream analytics cost-led: next to their data, as 2 an hour of
	// egress costs more than the store's dearer CPU.
	if got := opt["orders-db"]; !slices.Equal(got, []string{"cloud-frankfurt", "cloud-frankfurt"}) {
		t.Errorf("orders-db at %v", got)
	}
	if got := opt["feature-cache"]; !slices.Equal(got, []string{"pop-paris", "pop-paris", "pop-paris"}) {
		t.Errorf("feature-cache at %v", got)
	}
	if got := opt["stream-analytics"]; !slices.Equal(got, []string{"store-munich", "store-munich"}) {
		t.Errorf("stream-analytics at %v, want next to camera-ingest in store-munich", got)
	}
	// store-api: 6 pods of 1 CPU at the edge or a point of presence;
	// Munich (8 CPUs) holds ingest and the two stream pods (3 CPUs), so at
	// most 5 fit there; none in Lisbon (beyond the cache bound) nor in
	// the cloud region; the rest in Paris.
	api := opt["store-api"]
	if len(api) != 6 || slices.Contains(api, "") || slices.Contains(api, "store-lisbon") || slices.Contains(api, "cloud-frankfurt") {
		t.Errorf("store-api at %v", api)
	}
	n := 0
	for _, s := range api {
		if s == "store-munich" {
			n++
		}
	}
	if n > 5 {
		t.Errorf("%d store-api pods in Munich, beyond its 8 CPUs", n)
	}
}

func TestDependencyReport(t *testing.T) {
	w, sc := sceneTestWorld(t)
	r := &DependencyReport{Classes: sc.Classes, world: w, Placements: map[string]map[string][]string{
		ProximaScheduler: judge{t, w}.optimum(sc.Classes),
		DefaultScheduler: {
			"orders-db": {"cloud-frankfurt", "cloud-frankfurt"}, "feature-cache": {"store-lisbon", "pop-paris", ""},
			"camera-ingest": {"store-munich"}, "stream-analytics": {"cloud-frankfurt", "store-lisbon"},
			"store-api": {"store-lisbon", "store-lisbon", "pop-paris", "pop-paris", "store-munich", "store-munich"},
		},
	}}
	r.Placements["optimum"] = r.Placements[ProximaScheduler]
	if err := r.evaluate(); err != nil {
		t.Fatal(err)
	}
	var cacheToDB, streamToIngest *EdgeReport
	for i := range r.Edges {
		switch e := &r.Edges[i]; e.Caller + ">" + e.Callee {
		case "feature-cache>orders-db":
			cacheToDB = e
		case "stream-analytics>camera-ingest":
			streamToIngest = e
		}
	}
	if cacheToDB == nil || streamToIngest == nil || len(r.Edges) != 4 {
		t.Fatalf("edges %+v", r.Edges)
	}
	want := (w.siteRTT("store-lisbon", "cloud-frankfurt") + w.siteRTT("pop-paris", "cloud-frankfurt")) / 2
	if got := cacheToDB.RTT[DefaultScheduler]; math.Abs(got-want) > 1e-9 || cacheToDB.Over[DefaultScheduler] != 1 {
		t.Errorf("default cache → db: %v ms, %d over; want %v, 1 over (Lisbon)", got, cacheToDB.Over[DefaultScheduler], want)
	}
	if got := streamToIngest.RTT[ProximaScheduler]; got != 0.5 {
		t.Errorf("optimum stream → ingest %v ms, want 0.5 (one site)", got)
	}
	for _, c := range r.Costs {
		switch c.Class {
		case "feature-cache":
			if c.Unplaced[DefaultScheduler] != 1 {
				t.Errorf("feature-cache unplaced under default: %d, want 1", c.Unplaced[DefaultScheduler])
			}
		case "stream-analytics":
			// One pod in Frankfurt, one in Lisbon: 40 GiB each from Munich.
			if got := c.Egress[DefaultScheduler]; math.Abs(got-4) > 1e-9 {
				t.Errorf("stream-analytics egress under default %v, want 4", got)
			}
			if c.Egress[ProximaScheduler] != 0 {
				t.Errorf("stream-analytics egress next to its data %v, want 0", c.Egress[ProximaScheduler])
			}
		}
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"stream-analytics → camera-ingest", "(1 over)", "(1 unplaced)", "store-munich×2", "unplaced"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := r.WriteChart(t.TempDir()); err != nil {
		t.Error(err)
	}
}
