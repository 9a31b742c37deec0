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

package integration

import (
	"maps"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// perSite counts app's bound pods per site.
func (e *rebalanceEnv) perSite(app string) map[string]int {
	out := map[string]int{}
	for _, site := range e.placed(app) {
		out[site]++
	}
	return out
}

// TestSpreadOverFeasibleSites: six replicas of a Deployment under
// spread.minSites 2 land 3/3 in the two feasible French sites, although
// each site alone has room for all six and near alone scores best; de,
// the nearest site but outside the policy's residency, takes none and
// does not count as an empty site. The scheduler batches replicas of one
// signature, so the count includes the pods it has assumed but not bound.
func TestSpreadOverFeasibleSites(t *testing.T) {
	e := newRebalanceEnv(t, false)
	e.site(siteSpec{name: "de", country: "DE", nodes: 1, cpus: "8"})
	e.site(siteSpec{name: "near", country: "FR", nodes: 1, cpus: "8"})
	e.site(siteSpec{name: "mid", country: "FR", nodes: 1, cpus: "8"})
	e.source("users", map[string]int32{"de": 2, "near": 5, "mid": 20})
	spec := latencyPolicy("users")
	spec.Residency = onlyIn("FR")
	spec.Spread = &placementv1alpha1.SpreadPolicy{MinSites: ptr.To[int32](2)}
	e.policy("web", spec)
	e.deployment("web", "web", 6, "500m")
	e.eventually("6 replicas placed", time.Minute, func() bool { return len(e.placed("web")) == 6 })
	if got, want := e.perSite("web"), map[string]int{"near": 3, "mid": 3}; !maps.Equal(got, want) {
		t.Errorf("replicas per site %v, want %v", got, want)
	}

	// Without spread, the same replicas all go to near.
	e.policy("packed", latencyPolicyIn("FR", "users"))
	e.deployment("packed", "packed", 6, "500m")
	e.eventually("6 packed replicas placed", time.Minute, func() bool { return len(e.placed("packed")) == 6 })
	if got, want := e.perSite("packed"), map[string]int{"near": 6}; !maps.Equal(got, want) {
		t.Errorf("replicas per site without spread %v, want %v", got, want)
	}
}

func latencyPolicyIn(country placementv1alpha1.CountryCode, sources ...string) placementv1alpha1.PlacementPolicySpec {
	spec := latencyPolicy(sources...)
	spec.Residency = onlyIn(country)
	return spec
}

// TestSpreadSurvivesSiteOutage: a Deployment spread 3/3 over near and
// mid keeps serving from mid when near's health signal reports it down.
// The rebalancer moves near's pods, and they land in mid (spread's
// minSites cannot be met with near down and is waived: the pods are not
// stranded); mid's pods are never evicted.
func TestSpreadSurvivesSiteOutage(t *testing.T) {
	e := newRebalanceEnv(t, true)
	for _, name := range []string{"near", "mid", "far"} {
		e.site(siteSpec{name: name, country: "FR", nodes: 1, cpus: "8"})
		e.exp.Up.WithLabelValues(name).Set(1)
	}
	e.source("users", map[string]int32{"near": 5, "mid": 10, "far": 200})
	spec := latencyPolicy("users")
	spec.Latency.MaxRTTMilliseconds = ptr.To[int32](50) // far is excluded
	spec.Spread = &placementv1alpha1.SpreadPolicy{MinSites: ptr.To[int32](2)}
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 1, 0)
	spec.Rebalance.OnUnhealthySite = placementv1alpha1.UnhealthySiteMove
	e.policy("web", spec)
	e.deployment("web", "web", 6, "500m")
	e.eventually("6 replicas placed", time.Minute, func() bool { return len(e.placed("web")) == 6 })
	if got, want := e.perSite("web"), map[string]int{"near": 3, "mid": 3}; !maps.Equal(got, want) {
		t.Fatalf("replicas per site %v, want %v", got, want)
	}
	inMid := map[string]bool{}
	for pod, site := range e.placed("web") {
		if site == "mid" {
			inMid[pod] = true
		}
	}
	w := e.watchPods("web", 6)

	e.exp.Up.WithLabelValues("near").Set(0)
	e.eventually("near's replicas moved to mid", 2*time.Minute, func() bool {
		got := e.perSite("web")
		return got["mid"] == 6 && len(got) == 1
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	for pod := range inMid {
		if _, evicted := w.evictedAge[pod]; evicted {
			t.Errorf("pod %s in mid, the site left serving, was evicted", pod)
		}
	}
	for pod, node := range w.boundTo {
		if strings.HasPrefix(node, "far") {
			t.Errorf("pod %s was bound in far, which the policy's max RTT excludes", pod)
		}
	}
}
