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

package edgeplacement

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// PreScore skips scoring for pods without a policy. The site scores were
// computed for every site in one pass in PreFilter.
func (pl *EdgePlacement) PreScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	if _, err := getPreFilterState(cs); err != nil {
		return fwk.NewStatus(fwk.Skip)
	}
	return nil
}

// Score reads the node's site part and its load part — from live CPU
// utilization when fresh, else the share of the node's CPU that would be
// requested with this pod on it — as the core's packed NodeScore;
// NormalizeScore turns it into 0..100 over the pod's candidates.
func (pl *EdgePlacement) Score(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := getPreFilterState(cs)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	site, ok := s.snap.SiteOfNode(ni.Node())
	if !ok {
		return 0, nil
	}
	return int64(s.plan.NodeScore(site, s.snap.ScoreLoad(ni, s.podCPU))), nil
}

// ScoreExtensions returns the plugin itself.
func (pl *EdgePlacement) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps this pod's candidates to 0..100 with the core's
// CandidateScore: the site part is stretched over the candidates' sites
// (the best candidate site gets the whole site share, the worst none), so
// the policy's objective separates the candidate sites however close they
// are compared with the whole world; the load part keeps its absolute
// scale, so the nodes of one site differ only in proportion to their load
// and the default score plugins still break ties within a site.
func (pl *EdgePlacement) NormalizeScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	s, err := getPreFilterState(cs)
	if err != nil {
		return fwk.AsStatus(err)
	}
	if len(scores) == 0 {
		return nil
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, ns := range scores {
		site := scoring.NodeScore(ns.Score).Site()
		lo, hi = min(lo, site), max(hi, site)
	}
	for i := range scores {
		scores[i].Score = s.plan.CandidateScore(scoring.NodeScore(scores[i].Score), lo, hi)
	}
	return nil
}
