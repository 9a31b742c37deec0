// Package state builds Proxima's world snapshot — the scoring core's World
// plus name indexes — from Sites, TrafficSources and Nodes, and publishes it
// atomically so that a scheduling cycle reads one consistent, immutable view
// without locks.
package state

import (
	"math"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Snapshot is an immutable world: the core's arrays and the indexes that map
// object names to their positions.
type Snapshot struct {
	World *scoring.World

	siteIndex   map[string]int32
	sourceIndex map[string]int
	nodeIndex   map[string]int32
	live        *Live
	// Generation increases with every published snapshot.
	Generation uint64
}

// SiteIndex returns the position of a Site by name.
func (s *Snapshot) SiteIndex(name string) (int, bool) {
	i, ok := s.siteIndex[name]
	return int(i), ok
}

// SourceIndex returns the position of a TrafficSource by name.
func (s *Snapshot) SourceIndex(name string) (int, bool) {
	i, ok := s.sourceIndex[name]
	return i, ok
}

// NodeIndex returns the position of a Node by name.
func (s *Snapshot) NodeIndex(name string) (int, bool) {
	i, ok := s.nodeIndex[name]
	return int(i), ok
}

// siteTable is the part of a snapshot that depends only on Sites and
// TrafficSources; node changes reuse it as is.
type siteTable struct {
	sites       scoring.Sites
	tags        []string
	sourceNames []string
	demand      []float64
	rtt         []float64
	rttFlags    []uint8
	siteIndex   map[string]int32
	sourceIndex map[string]int
}

// buildSiteTable orders sites and sources by name, so that a snapshot does
// not depend on the order informers list objects in.
func buildSiteTable(sites []*placementv1alpha1.Site, sources []*placementv1alpha1.TrafficSource, live *Live) *siteTable {
	sites = slices.SortedFunc(slices.Values(sites), func(a, b *placementv1alpha1.Site) int { return strings.Compare(a.Name, b.Name) })
	sources = slices.SortedFunc(slices.Values(sources), func(a, b *placementv1alpha1.TrafficSource) int { return strings.Compare(a.Name, b.Name) })
	t := &siteTable{siteIndex: make(map[string]int32, len(sites)), sourceIndex: make(map[string]int, len(sources))}
	n := len(sites)
	st := &t.sites
	st.Names = make([]string, n)
	st.Tier = make([]scoring.Tier, n)
	st.Country = make([]uint16, n)
	st.Tags = make([]scoring.TagSet, n)
	st.ResidencyUnknown = make([]bool, n)
	st.CPUPrice = make([]float64, n)
	st.MemPrice = make([]float64, n)
	st.GPUPrice = make([]float64, n)
	st.Healthy = make([]bool, n)
	st.PriceStale = make([]bool, n)
	st.HealthStale = make([]bool, n)
	locs := make([]latLon, n)
	tagIndex := map[string]int{}
	for i, site := range sites {
		t.siteIndex[site.Name] = int32(i)
		st.Names[i] = site.Name
		st.Tier[i] = tierOf(site.Spec.Tier)
		c, ok := scoring.CountryIndex(site.Spec.Country)
		st.Country[i] = c
		st.ResidencyUnknown[i] = !ok
		for _, tag := range site.Spec.Jurisdictions {
			k, seen := tagIndex[tag]
			if !seen {
				if len(t.tags) >= scoring.MaxTags {
					// Cannot represent the tag: fail closed for residency.
					st.ResidencyUnknown[i] = true
					continue
				}
				k = len(t.tags)
				tagIndex[tag] = k
				t.tags = append(t.tags, tag)
			}
			st.Tags[i].Add(k)
		}
		p := site.Spec.Pricing
		if p == nil {
			p = &placementv1alpha1.SitePricing{}
		}
		st.CPUPrice[i] = price(p.CPUCoreHour)
		st.MemPrice[i] = price(p.MemoryGiBHour)
		st.GPUPrice[i] = price(p.GPUHour)
		st.Healthy[i] = true
		locs[i] = parseLocation(&site.Spec.Location)
	}

	m := len(sources)
	t.sourceNames = make([]string, m)
	t.demand = make([]float64, m)
	t.rtt = make([]float64, n*m)
	t.rttFlags = make([]uint8, n*m)
	for j, src := range sources {
		t.sourceIndex[src.Name] = j
		t.sourceNames[j] = src.Name
		t.demand[j] = 1
		if src.Spec.Demand != nil && *src.Spec.Demand > 0 {
			t.demand[j] = float64(*src.Spec.Demand)
		}
		var from latLon
		if src.Spec.Location != nil {
			from = parseLocation(src.Spec.Location)
		}
		for s := range n {
			k := s*m + j
			if est, ok := estimateBetween(from, locs[s]); ok {
				t.rtt[k], t.rttFlags[k] = est, scoring.RTTEstimated
			} else {
				t.rtt[k], t.rttFlags[k] = scoring.UnknownRTT, scoring.RTTEstimated
			}
		}
		for _, r := range src.Spec.RTTs {
			if s, ok := t.siteIndex[r.Site]; ok && r.Milliseconds >= 0 {
				k := int(s)*m + j
				t.rtt[k], t.rttFlags[k] = float64(r.Milliseconds), 0
			}
		}
	}
	t.applyLive(live)
	return t
}

// applyLive overlays fresh live values on the declared ones and flags the
// declared values that stand in for stale live ones.
func (t *siteTable) applyLive(live *Live) {
	if live == nil {
		return
	}
	st, m := &t.sites, len(t.sourceNames)
	for key, ms := range live.RTT {
		s, ok1 := t.siteIndex[key.Site]
		j, ok2 := t.sourceIndex[key.Source]
		if !ok1 || !ok2 {
			continue
		}
		k := int(s)*m + j
		if live.RTTFresh {
			t.rtt[k], t.rttFlags[k] = ms, scoring.RTTLive
		} else {
			t.rttFlags[k] |= scoring.RTTStale
		}
	}
	for site, mult := range live.PriceMultiplier {
		s, ok := t.siteIndex[site]
		if !ok {
			continue
		}
		if !live.PriceFresh {
			st.PriceStale[s] = true
			continue
		}
		st.CPUPrice[s] *= mult
		st.MemPrice[s] *= mult
		st.GPUPrice[s] *= mult
	}
	for site, up := range live.Up {
		s, ok := t.siteIndex[site]
		if !ok {
			continue
		}
		if !live.HealthFresh {
			st.HealthStale[s] = true
			continue
		}
		st.Healthy[s] = up
	}
}

// build combines a site table with nodes into a snapshot.
func (t *siteTable) build(nodes []*v1.Node, gen uint64) *Snapshot {
	w := &scoring.World{
		Sites:        t.sites,
		SourceNames:  t.sourceNames,
		SourceDemand: t.demand,
		RTT:          t.rtt,
		RTTFlags:     t.rttFlags,
		Tags:         t.tags,
	}
	nn := &w.Nodes
	nn.Names = make([]string, len(nodes))
	nn.Site = make([]int32, len(nodes))
	nn.Load = make([]float64, len(nodes))
	nn.LoadLive = make([]bool, len(nodes))
	nn.LoadStale = make([]bool, len(nodes))
	index := make(map[string]int32, len(nodes))
	for i, node := range nodes {
		index[node.Name] = int32(i)
		nn.Names[i] = node.Name
		nn.Site[i] = -1
		if s, ok := t.siteIndex[node.Labels[placementv1alpha1.SiteLabel]]; ok {
			nn.Site[i] = s
		}
		nn.Load[i] = math.NaN()
	}
	return &Snapshot{World: w, siteIndex: t.siteIndex, sourceIndex: t.sourceIndex, nodeIndex: index, Generation: gen}
}

// Live returns the telemetry the snapshot was built with (nil: none).
func (s *Snapshot) Live() *Live { return s.live }

// Build makes a snapshot from scratch.
func Build(sites []*placementv1alpha1.Site, sources []*placementv1alpha1.TrafficSource, nodes []*v1.Node) *Snapshot {
	return buildSiteTable(sites, sources, nil).build(nodes, 0)
}

func tierOf(t placementv1alpha1.SiteTier) scoring.Tier {
	switch t {
	case placementv1alpha1.TierCloud:
		return scoring.TierCloud
	case placementv1alpha1.TierRegional:
		return scoring.TierRegional
	case placementv1alpha1.TierEdge:
		return scoring.TierEdge
	default:
		return scoring.TierDevice
	}
}

// price is a declared price, 0 when absent (the site does not charge for
// the resource), NaN when unusable.
func price(q *resource.Quantity) float64 {
	if q == nil {
		return 0
	}
	v := q.AsApproximateFloat64()
	if v < 0 || math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

type latLon struct {
	lat, lon float64
	ok       bool
}

func parseLocation(l *placementv1alpha1.GeoLocation) latLon {
	lat, err1 := strconv.ParseFloat(l.Latitude, 64)
	lon, err2 := strconv.ParseFloat(l.Longitude, 64)
	ok := err1 == nil && err2 == nil && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
	return latLon{lat, lon, ok}
}
