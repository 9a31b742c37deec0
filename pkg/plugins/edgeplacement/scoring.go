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

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// PreScore skips scoring for pods without a policy. The site scores were
// computed for every site in one pass in PreFilter.
func (pl *EdgePlacement) PreScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	if _, err := getPreFilterState(cs); err != nil {
		return fwk.NewStatus(fwk.Skip)
	}
	return nil
}

// Score reads the node's site score and adds its load term — live CPU
// utilization when fresh, else the share of the node's CPU that would be
// requested with this pod on it — on the core's fine 0..1,000,000 scale;
// NormalizeScore brings it to 0..100.
func (pl *EdgePlacement) Score(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := getPreFilterState(cs)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	site, ok := s.snap.SiteOfNode(ni.Node())
	if !ok {
		return 0, nil
	}
	return s.plan.SiteNodeScoreFine(site, s.snap.ScoreLoad(ni, s.podCPU)), nil
}

// ScoreExtensions returns the plugin itself.
func (pl *EdgePlacement) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps this pod's candidates to 0..100 by min-max: the best
// candidate gets 100 and the worst 0 (all 100 when they tie), so the
// policy's objective separates the candidate sites however close they are
// compared with the whole world.
func (pl *EdgePlacement) NormalizeScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, scores framework.NodeScoreList) *fwk.Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi == lo {
			scores[i].Score = framework.MaxNodeScore
			continue
		}
		scores[i].Score = (scores[i].Score - lo) * framework.MaxNodeScore / (hi - lo)
	}
	return nil
}
