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
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
)

// maxCachedPlans bounds a PlanCache: the distinct (policy, requests) pairs
// kept for one snapshot. A full cache starts again empty, so that it
// follows the workloads being scheduled now.
const maxCachedPlans = 256

// PlanCache is PlanPod for many pods of few workloads: a policy's plan
// depends on the snapshot, the resolved policy and the pod's effective
// requests only, so the replicas of one Deployment planned on one snapshot
// share one evaluation of the policy over every site, and each gets its
// own copy of the PodPlan with its own node admission. The cache holds the
// latest snapshot's plans; a newer snapshot replaces them, and a plan on an
// older one is made and not kept. Safe for concurrent use. A cached plan is
// read-only, as every PodPlan is once made.
type PlanCache struct {
	gpus    GPUResources
	cluster Cluster

	mu    sync.Mutex
	snap  *Snapshot
	plans map[planKey]*PodPlan
}

// evaluations numbers the plans PlanCache makes (PodPlan.Shared).
var evaluations atomic.Uint64

type planKey struct {
	policy   *ResolvedPolicy
	requests string
	// dependencies is where the policy's dependencies run
	// (DependencyPlacement.key), empty for none.
	dependencies string
}

// NewPlanCache returns a cache planning with gpus and finding dependencies
// in cluster (PlanPod's).
func NewPlanCache(gpus GPUResources, cluster Cluster) *PlanCache {
	return &PlanCache{gpus: gpus, cluster: cluster}
}

// PlanPod is snap.PlanPod(pod, gpus, cluster), sharing the evaluation with
// earlier pods of the same policy and requests on the same snapshot whose
// dependencies ran where this pod's do.
func (c *PlanCache) PlanPod(snap *Snapshot, pod *v1.Pod) (*PodPlan, error) {
	policy, err := snap.PolicyFor(pod)
	if err != nil || policy == nil {
		return nil, err
	}
	placed, err := snap.placeFor(policy, pod, c.cluster)
	if err != nil {
		return nil, err
	}
	reqs := PodRequests(pod)
	key := planKey{policy: policy, requests: requestsKey(reqs)}
	if len(placed) > 0 {
		var b strings.Builder
		for i := range placed {
			placed[i].key(&b)
		}
		key.dependencies = b.String()
	}
	c.mu.Lock()
	if c.snap != snap && (c.snap == nil || snap.Generation > c.snap.Generation) {
		c.snap, c.plans = snap, make(map[planKey]*PodPlan)
	}
	shared := c.snap == snap
	cached := c.plans[key]
	c.mu.Unlock()
	if cached == nil || !shared {
		p, err := snap.PlanPolicy(policy, reqs, c.gpus, placed)
		if err != nil {
			return nil, err
		}
		if shared {
			p.shared = evaluations.Add(1)
			c.mu.Lock()
			if c.snap == snap {
				if len(c.plans) >= maxCachedPlans {
					clear(c.plans)
				}
				c.plans[key] = p
			}
			c.mu.Unlock()
		}
		cached = p
	}
	own := *cached
	own.Admission = AdmissionOf(pod)
	return &own, nil
}

// requestsKey is a canonical form of requests: "cpu=3,memory=1Gi".
func requestsKey(reqs v1.ResourceList) string {
	names := make([]string, 0, len(reqs))
	for name := range reqs {
		names = append(names, string(name))
	}
	slices.Sort(names)
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		q := reqs[v1.ResourceName(name)]
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(q.String())
	}
	return b.String()
}
