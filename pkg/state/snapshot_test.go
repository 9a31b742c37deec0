package state

import (
	"math"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

func site(name string, tier placementv1alpha1.SiteTier, country, lat, lon, cpu string, tags ...string) *placementv1alpha1.Site {
	s := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
		Tier: tier, Country: country, Jurisdictions: tags,
		Location: placementv1alpha1.GeoLocation{Latitude: lat, Longitude: lon},
	}}
	if cpu != "" {
		s.Spec.Pricing = &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(cpu))}
	}
	return s
}

func TestBuild(t *testing.T) {
	sites := []*placementv1alpha1.Site{
		site("paris", placementv1alpha1.TierRegional, "FR", "48.8566", "2.3522", "0.05", "EU"),
		site("frankfurt", placementv1alpha1.TierCloud, "DE", "50.1109", "8.6821", "0.03", "EU", "EEA"),
	}
	sources := []*placementv1alpha1.TrafficSource{{
		ObjectMeta: metav1.ObjectMeta{Name: "shoppers"},
		Spec: placementv1alpha1.TrafficSourceSpec{
			Location: &placementv1alpha1.GeoLocation{Latitude: "48.8566", Longitude: "2.3522"},
			Demand:   ptr.To[int32](3),
			RTTs:     []placementv1alpha1.SiteRTT{{Site: "paris", Milliseconds: 2}, {Site: "nowhere", Milliseconds: 1}},
		},
	}, {
		ObjectMeta: metav1.ObjectMeta{Name: "anonymous"}, // no location, no RTTs to these sites
		Spec:       placementv1alpha1.TrafficSourceSpec{RTTs: []placementv1alpha1.SiteRTT{{Site: "nowhere", Milliseconds: 1}}},
	}}
	nodes := []*v1.Node{
		st.MakeNode().Name("n1").Label(placementv1alpha1.SiteLabel, "paris").Obj(),
		st.MakeNode().Name("n2").Label(placementv1alpha1.SiteLabel, "atlantis").Obj(),
		st.MakeNode().Name("n3").Obj(),
	}
	snap := Build(sites, sources, nodes)
	w := snap.World

	// Sites are ordered by name: frankfurt 0, paris 1.
	fra, ok1 := snap.SiteIndex("frankfurt")
	par, ok2 := snap.SiteIndex("paris")
	if !ok1 || !ok2 || fra != 0 || par != 1 {
		t.Fatalf("site indexes frankfurt=%d paris=%d, want 0 and 1", fra, par)
	}
	shoppers, _ := snap.SourceIndex("shoppers")
	anon, _ := snap.SourceIndex("anonymous")

	// Measured: shoppers → paris 2 ms, not estimated.
	if v, f := w.RTTAt(par, shoppers); v != 2 || f&scoring.RTTEstimated != 0 {
		t.Errorf("shoppers→paris = %v (flags %b), want measured 2", v, f)
	}
	// Estimated: Paris–Frankfurt is 479 km: 5 + 2·479·1.6/200 = 12.66 ms.
	if v, f := w.RTTAt(fra, shoppers); math.Abs(v-12.66) > 0.05 || f&scoring.RTTEstimated == 0 {
		t.Errorf("shoppers→frankfurt = %v (flags %b), want estimated ≈12.66", v, f)
	}
	// No location and no measurement: unknown.
	if v, _ := w.RTTAt(fra, anon); v != scoring.UnknownRTT {
		t.Errorf("anonymous→frankfurt = %v, want UnknownRTT", v)
	}
	if w.SourceDemand[shoppers] != 3 || w.SourceDemand[anon] != 1 {
		t.Errorf("demand = %v, want 3 for shoppers and default 1", w.SourceDemand)
	}
	// Prices and tags.
	if w.Sites.CPUPrice[fra] != 0.03 || w.Sites.MemPrice[fra] != 0 {
		t.Errorf("frankfurt prices cpu=%v mem=%v, want 0.03 and 0 (absent)", w.Sites.CPUPrice[fra], w.Sites.MemPrice[fra])
	}
	eu := w.TagIndex("EU")
	var euSet scoring.TagSet
	euSet.Add(eu)
	if eu < 0 || !w.Sites.Tags[par].Intersects(&euSet) || !w.Sites.Tags[fra].Intersects(&euSet) {
		t.Errorf("both sites should carry EU; tags %v", w.Tags)
	}
	// Nodes: n1 in paris; n2 names an unknown site and n3 none: both in no site.
	for name, want := range map[string]int32{"n1": int32(par), "n2": -1, "n3": -1} {
		i, ok := snap.NodeIndex(name)
		if !ok || w.Nodes.Site[i] != want {
			t.Errorf("node %s site = %d, want %d", name, w.Nodes.Site[i], want)
		}
	}
}

func TestPublisherReusesSiteTableOnNodeChange(t *testing.T) {
	p := NewPublisher()
	in := Inputs{
		Sites: []*placementv1alpha1.Site{site("paris", placementv1alpha1.TierEdge, "FR", "48.85", "2.35", "")},
		Nodes: []*v1.Node{st.MakeNode().Name("n1").Label(placementv1alpha1.SiteLabel, "paris").Obj()},
	}
	first := p.Rebuild(in, true)
	in.Nodes = append(in.Nodes, st.MakeNode().Name("n2").Label(placementv1alpha1.SiteLabel, "paris").Obj())
	second := p.Rebuild(in, false)
	if p.Load() != second || second.Generation != first.Generation+1 {
		t.Fatalf("Load() is not the latest snapshot (generations %d, %d)", first.Generation, second.Generation)
	}
	if &first.World.Sites.Tier[0] != &second.World.Sites.Tier[0] {
		t.Error("a node-only change rebuilt the site table")
	}
	if first.World.Nodes.Len() != 1 || second.World.Nodes.Len() != 2 {
		t.Errorf("node counts %d, %d; want 1, 2 (snapshots are immutable)", first.World.Nodes.Len(), second.World.Nodes.Len())
	}
	in.Sites = append(in.Sites, site("lyon", placementv1alpha1.TierEdge, "FR", "45.76", "4.83", ""))
	third := p.Rebuild(in, true)
	if third.World.Sites.Len() != 2 || first.World.Sites.Len() != 1 {
		t.Errorf("site counts after adding lyon: new %d, old %d; want 2, 1", third.World.Sites.Len(), first.World.Sites.Len())
	}
}

func TestGreatCircle(t *testing.T) {
	// New York – London: about 5,570 km.
	if d := GreatCircleKilometres(40.7128, -74.0060, 51.5074, -0.1278); math.Abs(d-5570) > 10 {
		t.Errorf("New York–London = %.0f km, want ≈5570", d)
	}
	if d := GreatCircleKilometres(10, 20, 10, 20); d != 0 {
		t.Errorf("distance to self = %v", d)
	}
}
