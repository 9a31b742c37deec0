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
	"math"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// siteTable is the part of a snapshot that depends only on Sites and
// TrafficSources; node changes reuse it as is.
type siteTable struct {
	world       *scoring.World
	sites       []*placementv1alpha1.Site          // by site index
	sources     []*placementv1alpha1.TrafficSource // by source index
	siteIndex   map[string]int32
	sourceIndex map[string]int
	live        *Live
	// rtt is the fitted RTT model and the inputs it was fitted to.
	rtt *rttFitted
	// links are the RTTs between sites, and columns those in use.
	links   siteLinks
	columns *siteColumns
	// fitPending: rtt was fitted to other inputs (or is the prior), and a
	// fit for these is being made.
	fitPending bool
}

// buildSiteTable orders sites and sources by name, so that a snapshot does
// not depend on the order informers list objects in.
// prev, if not nil, is the table this one replaces: its RTT fit is reused
// when the declared and live RTTs it was fitted to have not changed. f,
// if not nil, makes a new fit in the background (fillEstimates).
func buildSiteTable(sites []*placementv1alpha1.Site, sources []*placementv1alpha1.TrafficSource, live *Live, prev *siteTable, f *fitter) *siteTable {
	sites = slices.SortedFunc(slices.Values(sites), func(a, b *placementv1alpha1.Site) int { return strings.Compare(a.Name, b.Name) })
	sources = slices.SortedFunc(slices.Values(sources), func(a, b *placementv1alpha1.TrafficSource) int { return strings.Compare(a.Name, b.Name) })
	w := &scoring.World{}
	t := &siteTable{world: w, sites: sites, sources: sources, live: live,
		siteIndex: make(map[string]int32, len(sites)), sourceIndex: make(map[string]int, len(sources))}
	n := len(sites)
	st := &w.Sites
	st.Names = make([]string, n)
	st.Tier = make([]scoring.Tier, n)
	st.Country = make([]uint16, n)
	st.Tags = make([]scoring.TagSet, n)
	st.ResidencyUnknown = make([]bool, n)
	st.CPUPrice = make([]float64, n)
	st.MemPrice = make([]float64, n)
	st.GPUPrice = make([]float64, n)
	st.PriceProvenance = make([]scoring.Provenance, n)
	st.EgressPrice = make([]float64, n)
	st.Healthy = make([]bool, n)
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
				if len(w.Tags) >= scoring.MaxTags {
					// Cannot represent the tag: fail closed for residency.
					st.ResidencyUnknown[i] = true
					continue
				}
				k = len(w.Tags)
				tagIndex[tag] = k
				w.Tags = append(w.Tags, tag)
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
		st.EgressPrice[i] = price(p.EgressGiB)
		st.Healthy[i] = true
		locs[i] = parseLocation(&site.Spec.Location)
	}

	t.links, t.columns = buildSiteLinks(sites, t.siteIndex, locs), &siteColumns{}

	m := len(sources)
	srcLocs := make([]latLon, m)
	w.SourceNames = make([]string, m)
	w.SourceDemand = make([]float64, m)
	w.RTT = make([]float64, n*m)
	w.RTTProvenance = make([]scoring.Provenance, n*m)
	for j, src := range sources {
		t.sourceIndex[src.Name] = j
		w.SourceNames[j] = src.Name
		w.SourceDemand[j] = 1
		if src.Spec.Demand != nil && *src.Spec.Demand > 0 {
			w.SourceDemand[j] = float64(*src.Spec.Demand)
		}
		var from latLon
		if src.Spec.Location != nil {
			from = parseLocation(src.Spec.Location)
		}
		srcLocs[j] = from
		for s := range n {
			k := s*m + j
			if est, ok := estimateBetween(from, locs[s]); ok {
				w.RTT[k], w.RTTProvenance[k] = est, scoring.Estimated
			} else {
				w.RTT[k], w.RTTProvenance[k] = scoring.UnknownRTT, scoring.Estimated
			}
		}
		for _, r := range src.Spec.RTTs {
			if s, ok := t.siteIndex[r.Site]; ok && r.Milliseconds >= 0 {
				k := int(s)*m + j
				w.RTT[k], w.RTTProvenance[k] = float64(r.Milliseconds), scoring.Declared
			}
		}
	}
	t.applyLive(live)
	var reuse *rttFitted
	if prev != nil {
		reuse = prev.rtt
	}
	t.rtt, t.fitPending = fillEstimates(w, locs, srcLocs, reuse, f)
	return t
}

// applyLive overlays fresh live values on the declared ones and marks the
// declared values that stand in for a live value that is stale or missing.
// Each signal that is read expects a value for every key: RTT for every
// (source, site) pair, price and health for every site. A key its last
// read had no series for is missing, like every key of a signal never read
// successfully; a signal not read expects nothing and marks nothing. One
// map lookup per key, at rebuild only.
func (t *siteTable) applyLive(live *Live) {
	if live == nil {
		return
	}
	w := t.world
	st, m := &w.Sites, w.NumSources()
	if live.RTT.Enabled {
		for s, site := range st.Names {
			for j, src := range w.SourceNames {
				k := s*m + j
				ms, f := live.RTT.Get(SourceSite{Source: src, Site: site})
				if f == LiveFresh {
					w.RTT[k], w.RTTProvenance[k] = ms, scoring.Live
				} else {
					w.RTTProvenance[k] |= standIn(f)
				}
			}
		}
	}
	if live.Price.Enabled {
		for s, site := range st.Names {
			mult, f := live.Price.Get(site)
			if f != LiveFresh {
				st.PriceProvenance[s] = standIn(f)
				continue
			}
			st.PriceProvenance[s] = scoring.Live
			st.CPUPrice[s] *= mult
			st.MemPrice[s] *= mult
			st.GPUPrice[s] *= mult
		}
	}
	if live.Health.Enabled {
		for s, site := range st.Names {
			up, f := live.Health.Get(site)
			if f == LiveFresh {
				st.Healthy[s] = up
			}
			st.HealthStale[s] = f.Missed()
		}
	}
}

// standIn is the provenance bits of a declared value standing in for a live
// one of freshness f.
func standIn(f Freshness) scoring.Provenance {
	switch f {
	case LiveStale:
		return scoring.Stale
	case LiveMissing:
		return scoring.Stale | scoring.Absent
	}
	return 0
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
