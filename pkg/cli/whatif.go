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
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// WhatIf is `kubectl proxima what-if`'s answer: where the scheduler would
// put Replicas pods of the policy, one after the other, against the
// current free capacity.
type WhatIf struct {
	Version   int    `json:"version"`
	Namespace string `json:"namespace"`
	Policy    string `json:"policy"`
	Replicas  int    `json:"replicas"`
	// Requests of each simulated pod.
	Requests v1.ResourceList `json:"requests"`
	// Existing is set when a policy of that name exists today; Today then
	// counts its bound pods per site.
	Existing bool `json:"existing"`
	// Sites with a simulated pod or a pod of the policy today, most pods
	// first.
	Sites         []WhatIfSite `json:"sites"`
	Placed        int          `json:"placed"`
	Unschedulable int          `json:"unschedulable"`
	// UnschedulableReason says why the first unplaced pod found no node.
	UnschedulableReason string `json:"unschedulableReason,omitempty"`
	// MeanRTTMilliseconds and P95RTTMilliseconds are over the placed pods'
	// latency objective (absent for a policy without sources).
	MeanRTTMilliseconds *float64 `json:"meanRTTMilliseconds,omitempty"`
	P95RTTMilliseconds  *float64 `json:"p95RTTMilliseconds,omitempty"`
	// HourlyCost of all placed pods.
	HourlyCost float64      `json:"hourlyCost"`
	Excluded   []RuleCount  `json:"excluded,omitempty"`
	Error      string       `json:"error,omitempty"`
	World      WorldSummary `json:"world"`
}

// WhatIfSite is one site's share of a what-if.
type WhatIfSite struct {
	Site string `json:"site"`
	Pods int    `json:"pods"`
	// Today is how many of the policy's pods are bound there now, and Delta
	// Pods - Today (existing policies only).
	Today               int      `json:"today"`
	Delta               int      `json:"delta"`
	LatencyMilliseconds *float64 `json:"latencyMilliseconds,omitempty"`
	HourlyCostPerPod    *float64 `json:"hourlyCostPerPod,omitempty"`
}

// Simulate places replicas pods requesting requests under policy (added to
// the world, or replacing the policy of the same name) one by one with
// the scheduler's plan and score, each pod taking its node's capacity for
// the next. For an existing policy, the requests of today's pods of the
// policy come off their nodes first (its pods are placed again under the
// new rules), and replicas <= 0 means as many as today; else replicas <= 0
// means 1. The world is not changed.
func Simulate(w *simulate.World, policy *placementv1alpha1.PlacementPolicy, replicas int, requests v1.ResourceList) *WhatIf {
	out := &WhatIf{Version: OutputVersion, Namespace: policy.Namespace, Policy: policy.Name, Replicas: replicas, Requests: requests}
	today := map[string]int{}
	for _, p := range w.Policies {
		if p.Namespace == policy.Namespace && p.Name == policy.Name {
			out.Existing = true
		}
	}
	sim := w.WithPolicy(policy).Clone()
	if out.Existing {
		// Today's pods of the policy are placed again under its new
		// rules: their requests come off their nodes first.
		n := 0
		for _, pod := range w.Pods {
			if pod.Namespace != policy.Namespace || pod.Spec.NodeName == "" || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
				continue
			}
			if rp, err := w.Snap.PolicyFor(pod); err == nil && rp != nil && rp.Name == policy.Name {
				if ni := sim.Nodes[pod.Spec.NodeName]; ni != nil {
					n++
					_ = ni.RemovePod(klog.Background(), pod)
					if i, ok := w.Snap.SiteOfNode(ni.Node()); ok {
						today[w.Snap.World.Sites.Names[i]]++
					}
				}
			}
		}
		if replicas <= 0 {
			replicas = n
		}
	}
	if replicas <= 0 {
		replicas = 1
	}
	out.Replicas = replicas
	out.World = summary(sim)
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: policy.Namespace, Name: "what-if", Labels: map[string]string{placementv1alpha1.PolicyLabel: policy.Name}},
		Spec:       v1.PodSpec{SchedulerName: sim.Settings.SchedulerName, Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: requests}}}},
	}
	pp, err := sim.PlanPod(pod)
	if err != nil || pp == nil {
		if err == nil {
			err = fmt.Errorf("no policy resolves for the simulated pods")
		}
		out.Error = err.Error()
		out.Unschedulable = replicas
		out.UnschedulableReason = err.Error()
		out.Sites = siteRows(map[string]int{}, today, nil)
		return out
	}
	_, out.Excluded = verdicts(sim, pp, nil, nil, simulate.Choice{}, false, nil)
	placed := map[string]int{}
	var rtts []float64
	for k := range replicas {
		p := pod.DeepCopy()
		p.Name = fmt.Sprintf("what-if-%d", k)
		c, ok := sim.Place(pp, p)
		if !ok {
			out.Unschedulable++
			if out.UnschedulableReason == "" {
				if pp.Plan.NumFeasible() == 0 {
					out.UnschedulableReason = pp.NoFeasibleSiteMessage()
				} else {
					out.UnschedulableReason = fmt.Sprintf("no node with room in the %d feasible site(s)", pp.Plan.NumFeasible())
				}
			}
			continue
		}
		out.Placed++
		placed[sim.Snap.World.Sites.Names[c.Site]]++
		if cost := pp.Plan.SiteCost(c.Site); !math.IsInf(cost, 0) {
			out.HourlyCost += cost
		}
		if len(pp.Rules.Sources) > 0 {
			rtts = append(rtts, pp.Plan.SiteLatency(c.Site))
		}
	}
	if len(rtts) > 0 && !slices.ContainsFunc(rtts, func(v float64) bool { return math.IsInf(v, 0) }) {
		slices.Sort(rtts)
		mean, p95 := stat.Mean(rtts, nil), stat.Quantile(0.95, stat.Empirical, rtts, nil)
		out.MeanRTTMilliseconds, out.P95RTTMilliseconds = &mean, &p95
	}
	out.Sites = siteRows(placed, today, func(name string) (lat, cost *float64) {
		i, ok := sim.Snap.SiteIndex(name)
		if !ok {
			return nil, nil
		}
		if len(pp.Rules.Sources) > 0 {
			lat = state.Finite(pp.Plan.SiteLatency(i))
		}
		return lat, state.Finite(pp.Plan.SiteCost(i))
	})
	return out
}

func siteRows(placed, today map[string]int, info func(string) (lat, cost *float64)) []WhatIfSite {
	names := map[string]bool{}
	for s := range placed {
		names[s] = true
	}
	for s := range today {
		names[s] = true
	}
	var rows []WhatIfSite
	for s := range names {
		r := WhatIfSite{Site: s, Pods: placed[s], Today: today[s], Delta: placed[s] - today[s]}
		if info != nil {
			r.LatencyMilliseconds, r.HourlyCostPerPod = info(s)
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(a, b int) bool {
		if rows[a].Pods != rows[b].Pods {
			return rows[a].Pods > rows[b].Pods
		}
		return rows[a].Site < rows[b].Site
	})
	return rows
}
