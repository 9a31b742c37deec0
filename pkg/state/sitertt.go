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
// its upper bound and its provenance: 0 within one site; the declared
// value (Site spec.rtts); else the RTT model's estimate from the sites'
// locations (rttmodel.RTTFit.EstimateSites), Estimated (and Fitted when
// the model is), with an upper bound never tighter than the distance
// prior's; scoring.UnknownRTT when a location is unknown.
func (s *Snapshot) SiteRTT(a, b int) (ms, upper float64, prov scoring.Provenance) {
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
