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

package cli

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/simulate"
)

// SiteList is `kubectl proxima sites`' answer.
type SiteList struct {
	Version int          `json:"version"`
	Sites   []SiteStatus `json:"sites"`
	World   WorldSummary `json:"world"`
}

// SiteStatus is one site as the scheduler sees it.
type SiteStatus struct {
	Site          string   `json:"site"`
	Tier          string   `json:"tier"`
	Country       string   `json:"country"`
	Jurisdictions []string `json:"jurisdictions,omitempty"`
	// Free capacity over the ready, schedulable nodes.
	Free FreeCapacity `json:"free"`
	// Health: "healthy", or "unhealthy" when the health signal says the
	// site is down; HealthLive says whether that signal was fresh.
	Health string `json:"health"`
	// Telemetry freshness per signal for the site: price ("fresh",
	// "stale", "missing" or "notRead") and health ("fresh", "stale" — which
	// includes missing — or "notRead"), and how many of the site's RTT
	// pairs are live.
	PriceLive  string `json:"priceLive"`
	HealthLive string `json:"healthLive"`
	LiveRTTs   int    `json:"liveRTTs"`
	// Ready is the status controller's Ready condition ("" when unset).
	Ready string `json:"ready,omitempty"`
	// Pods per policy ("namespace/name") bound to the site's nodes; pods no
	// policy governs count under "".
	Pods map[string]int `json:"pods"`
}

// Sites lists the sites of the world that keep selects, every site when
// keep is nil, in the world's site order.
func Sites(w *simulate.World, keep func(*placementv1alpha1.Site) bool) *SiteList {
	ws := &w.Snap.World.Sites
	out := &SiteList{Version: OutputVersion, World: summary(w), Sites: []SiteStatus{}}
	kept := make([]bool, ws.Len())
	for i, site := range w.Snap.Sites() {
		kept[i] = keep == nil || keep(site)
	}
	bySite := map[string]map[string]int{}
	for _, pod := range w.Pods {
		ni := w.Nodes[pod.Spec.NodeName]
		if ni == nil || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			continue
		}
		i, ok := w.Snap.SiteOfNode(ni.Node())
		if !ok || !kept[i] {
			continue
		}
		key := ""
		if rp, err := w.Snap.PolicyFor(pod); err == nil && rp != nil {
			key = rp.Namespace + "/" + rp.Name
		} else if name, ok := pod.Labels[placementv1alpha1.PolicyLabel]; ok {
			key = pod.Namespace + "/" + name
		}
		m := bySite[ws.Names[i]]
		if m == nil {
			m = map[string]int{}
			bySite[ws.Names[i]] = m
		}
		m[key]++
	}
	m := w.Snap.World.NumSources()
	for i, site := range w.Snap.Sites() {
		if !kept[i] {
			continue
		}
		s := SiteStatus{Site: ws.Names[i], Tier: ws.Tier[i].String(), Country: scoring.CountryCode(ws.Country[i]),
			Jurisdictions: slices.Clone(site.Spec.Jurisdictions), Free: freeOf(w.SiteFree(i)), Health: "healthy",
			Pods: bySite[ws.Names[i]]}
		if s.Pods == nil {
			s.Pods = map[string]int{}
		}
		if !ws.Healthy[i] {
			s.Health = "unhealthy"
		}
		_, s.PriceLive = priceLive(ws.PriceProvenance[i])
		s.HealthLive = placementv1alpha1.LiveNotRead
		if live := w.Settings.Live; live != nil && live.Health.Enabled {
			s.HealthLive = placementv1alpha1.LiveFreshValue
			if ws.HealthStale[i] {
				s.HealthLive = placementv1alpha1.LiveStaleValue
			}
		}
		for j := range m {
			if _, p := w.Snap.World.RTTAt(i, j); p&scoring.Live != 0 {
				s.LiveRTTs++
			}
		}
		if c := meta.FindStatusCondition(site.Status.Conditions, placementv1alpha1.ConditionReady); c != nil {
			s.Ready = string(c.Status)
		}
		out.Sites = append(out.Sites, s)
	}
	return out
}

func priceLive(p scoring.Provenance) (string, string) {
	switch {
	case p&scoring.Live != 0:
		return placementv1alpha1.ProvenanceLive, placementv1alpha1.LiveFreshValue
	case p&(scoring.Stale|scoring.Absent) == scoring.Stale|scoring.Absent:
		return placementv1alpha1.ProvenanceDeclared, placementv1alpha1.LiveMissingValue
	case p&scoring.Stale != 0:
		return placementv1alpha1.ProvenanceDeclared, placementv1alpha1.LiveStaleValue
	}
	return placementv1alpha1.ProvenanceDeclared, placementv1alpha1.LiveNotRead
}
