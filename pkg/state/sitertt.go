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
	"sync"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// siteLinks are the round-trip times between sites that Sites declare
// (spec.rtts), keyed by the pair in either order, and the sites' locations
// for the pairs nobody declared. They are few next to the sites squared:
// a pair is read only for the sites where a dependency runs
// (Snapshot.SiteRTT).
type siteLinks struct {
	declared map[sitePair]float64
	locs     []latLon
}

// sitePair is a pair of site indexes, the lower first.
type sitePair struct{ a, b int32 }

func pairOf(a, b int32) sitePair {
	if a > b {
		a, b = b, a
	}
	return sitePair{a, b}
}

// buildSiteLinks reads the sites' declared RTTs to each other: a pair
// declared on both of its sites counts at the larger value (the
// conservative one), and a pair naming an unknown Site is left out.
func buildSiteLinks(sites []*placementv1alpha1.Site, index map[string]int32, locs []latLon) siteLinks {
	l := siteLinks{locs: locs}
	for i, site := range sites {
		for _, r := range site.Spec.RTTs {
			j, ok := index[r.Site]
			if !ok || r.Milliseconds < 0 {
				continue
			}
			if l.declared == nil {
				l.declared = map[sitePair]float64{}
			}
			k := pairOf(int32(i), j)
			if v, seen := l.declared[k]; !seen || float64(r.Milliseconds) > v {
				l.declared[k] = float64(r.Milliseconds)
			}
		}
	}
	return l
}

// SiteRTT is the round-trip time between sites a and b in milliseconds,
// its upper bound and its provenance: 0 within one site; the live value
// while the site RTT signal has a fresh one (Live); else the declared
// value (Site spec.rtts); else the RTT model's estimate from the sites'
// locations (rttmodel.RTTFit.EstimateSites), Estimated (and Fitted when
// the model is), with an upper bound never tighter than the distance
// prior's; scoring.UnknownRTT when a location is unknown. When the site
// RTT signal is read but has no fresh value for the pair, the declared or
// estimated value stands in for it and is marked so (Stale, and Absent
// when missing), as a source's RTT is.
func (s *Snapshot) SiteRTT(a, b int) (ms, upper float64, prov scoring.Provenance) {
	t := s.table
	if a == b {
		return 0, 0, scoring.Declared
	}
	if t.live != nil && t.live.SiteRTT.Enabled {
		names := t.world.Sites.Names
		v, f := t.live.SiteRTT.Get(PairOfSites(names[a], names[b]))
		if f == LiveFresh {
			return v, v, scoring.Live
		}
		prov = standIn(f)
	}
	ms, upper, p := s.unmeasuredSiteRTT(a, b)
	return ms, upper, p | prov
}

// unmeasuredSiteRTT is SiteRTT without the live measurement: the declared
// value, else the model's estimate (the probe plan judges a pair by it:
// probeplan.LinkInput).
func (s *Snapshot) unmeasuredSiteRTT(a, b int) (ms, upper float64, prov scoring.Provenance) {
	t := s.table
	if a == b {
		return 0, 0, scoring.Declared
	}
	if v, ok := t.links.declared[pairOf(int32(a), int32(b))]; ok {
		return v, v, scoring.Declared
	}
	la, lb := t.links.locs[a], t.links.locs[b]
	if !la.ok || !lb.ok {
		return scoring.UnknownRTT, scoring.UnknownRTT, scoring.Estimated
	}
	d := rttmodel.GreatCircleKilometres(la.lat, la.lon, lb.lat, lb.lon)
	fit := &rttmodel.RTTFit{}
	if t.rtt != nil && t.rtt.fit != nil {
		fit = t.rtt.fit
	}
	ms, upper = fit.EstimateSites(a, b, d)
	prov = scoring.Estimated
	if fit.Fitted {
		prov |= scoring.Fitted
	}
	return ms, upper, prov
}

// maxColumnPairs bounds the site pairs siteColumns keeps (17 bytes each):
// 2,000,000 is 200 columns at 10,000 sites. A full cache starts again
// empty, so that it follows the sites dependencies run at now.
const maxColumnPairs = 2_000_000

// siteColumns memoizes, for one site table, the RTTs from every site to
// the sites where dependencies run (SiteRTT for each pair), so that a
// dependency's RTT from every site is a weighted sum of columns rather
// than a distance and a model evaluation per site and pod. Safe for
// concurrent use; a column is read-only once made.
type siteColumns struct {
	mu    sync.Mutex
	cols  map[int32]*siteColumn
	pairs int
}

// siteColumn is SiteRTT from every site to one site.
type siteColumn struct {
	rtt, upper []float64
	prov       []scoring.Provenance
}

// siteColumn returns SiteRTT(a, t) for every site a, made on first use.
func (s *Snapshot) siteColumn(t int32) *siteColumn {
	c := s.table.columns
	c.mu.Lock()
	col := c.cols[t]
	c.mu.Unlock()
	if col != nil {
		return col
	}
	n := s.World.Sites.Len()
	col = &siteColumn{rtt: make([]float64, n), upper: make([]float64, n), prov: make([]scoring.Provenance, n)}
	for a := range n {
		col.rtt[a], col.upper[a], col.prov[a] = s.SiteRTT(a, int(t))
	}
	c.mu.Lock()
	if c.pairs+n > maxColumnPairs {
		clear(c.cols)
		c.pairs = 0
	}
	if c.cols == nil {
		c.cols = map[int32]*siteColumn{}
	}
	c.cols[t] = col
	c.pairs += n
	c.mu.Unlock()
	return col
}
