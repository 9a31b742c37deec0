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
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

const reserveStateKey fwk.StateKey = "Reserve" + Name

// reserveState is what Reserve saw of the chosen node and the runner-up
// site in the scheduling cycle's node snapshot, for the explanation Bind
// writes; and, after Bind, that explanation, for PostBind's event.
type reserveState struct {
	site int     // the node's site in the PreFilter snapshot; -1 for none
	load float64 // the node's utilization as its score used it
	alts map[int]altNodes
	// record is the explanation Bind wrote; nil before Bind.
	record *placementv1alpha1.PlacementRecord
}

type altNodes struct {
	load float64
	lost string // empty when a node has room
}

// Clone returns the state itself: the binding cycle that writes record
// runs after every reader of the scheduling cycle.
func (s *reserveState) Clone() fwk.StateData { return s }

func getReserveState(cs fwk.CycleState) *reserveState {
	c, err := cs.Read(reserveStateKey)
	if err != nil {
		return nil
	}
	s, _ := c.(*reserveState)
	return s
}

// reserveFor captures, from the scheduling cycle's node snapshot, the
// chosen node's load and the best node of the runner-up site (the
// best-ranked feasible site other than the node's own): one pass over that
// site's nodes.
func reserveFor(s *preFilterState, infos fwk.NodeInfoLister, nodeName string) *reserveState {
	r := &reserveState{site: -1, load: math.NaN(), alts: map[int]altNodes{}}
	if ni, err := infos.Get(nodeName); err == nil && ni.Node() != nil {
		r.load = s.snap.ScoreLoad(ni, s.podCPU)
		if site, ok := s.snap.SiteOfNode(ni.Node()); ok {
			r.site = site
		}
	}
	for _, site := range s.plan.Ranked() {
		if int(site) == r.site {
			continue
		}
		load, lost := s.pod.BestNodeIn(s.snap, int(site), func(name string) fwk.NodeInfo {
			if ni, err := infos.Get(name); err == nil {
				return ni
			}
			return nil
		})
		r.alts[int(site)] = altNodes{load: load, lost: lost}
		break
	}
	return r
}

// explainBinding explains the placement of the pod on node, as the node is
// now (the informer's copy, which may have been relabelled since the
// scheduling cycle), against the snapshot the pod was scored on; current
// is the world now, to say when the node's Site has been deleted since.
// node is nil when the scheduler no longer knows the node.
func explainBinding(s *preFilterState, r *reserveState, nodeName string, node *v1.Node, current *state.Snapshot) placementv1alpha1.PlacementRecord {
	site, known := -1, false
	if node != nil {
		site, known = s.snap.SiteOfNode(node)
	}
	if !known {
		rec := placementv1alpha1.PlacementRecord{Version: placementv1alpha1.PlacementRecordVersion, Policy: s.policy.Name, Node: nodeName,
			FeasibleSites: s.plan.NumFeasible(), TotalSites: s.snap.World.Sites.Len(), WorldGeneration: s.snap.Generation}
		if node == nil {
			rec.Notes = append(rec.Notes, "the scheduler's node cache no longer has the node at binding")
		} else if name, ok := s.snap.SiteName(node); ok {
			rec.Notes = append(rec.Notes, fmt.Sprintf("the node's Site %s was not in world generation %d", name, s.snap.Generation))
		} else {
			rec.Notes = append(rec.Notes, "the node is in no Site")
		}
		return rec
	}
	load := math.NaN()
	var alt state.Alternative
	if r != nil {
		load = r.load
		alt = func(i int) (float64, string) {
			a, ok := r.alts[i]
			if !ok {
				return 1, ""
			}
			return a.load, a.lost
		}
	}
	rec := s.pod.Record(s.snap, nodeName, site, load, alt)
	if r != nil && r.site >= 0 && r.site != site {
		rec.Notes = append(rec.Notes, fmt.Sprintf("the node moved from site %s to site %s between scoring and binding",
			s.snap.World.Sites.Names[r.site], rec.Site))
	}
	if current != nil {
		if _, ok := current.SiteIndex(rec.Site); !ok {
			rec.Notes = append(rec.Notes, fmt.Sprintf("Site %s has been deleted since world generation %d", rec.Site, s.snap.Generation))
		}
	}
	return rec
}
