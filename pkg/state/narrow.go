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

import "k8s.io/apimachinery/pkg/util/sets"

// Narrow is the candidate narrowing of the scheduler's PreFilter: the nodes
// of the best-ranked feasible sites, taken in order until they hold
// minCandidates nodes with room for the pod (room reports whether the
// caller knows the node and whether it has room: CPU, memory and pod slots,
// after hardware; NodeHasRoom). The best site is kept whole; a later site
// that completes the count gives only the nodes with room it needs. It
// reads only the nodes of the sites it takes, through the snapshot's
// site-to-nodes index. kubectl proxima narrows the same way.
//
// The count is exact because kube-scheduler stops filtering once it has
// found max(100, percentageOfNodesToScore of the candidates) feasible
// nodes, starting at a rotating offset: with more than 100 candidates with
// room it could pass over the best site's last free node and place the pod
// in a worse site. With at most 100 (the default) every candidate with room
// is examined; nodes without room are kept too (they cannot pass the
// filters, so they do not count, and preemption may use them). When no node
// has room anywhere, every feasible site's nodes stay candidates, so the
// usual filters report why and preemption can act.
func (p *PodPlan) Narrow(snap *Snapshot, minCandidates int, room func(name string) (known, fits bool)) sets.Set[string] {
	names := make(sets.Set[string], 2*minCandidates)
	full := make([]string, 0, 2*minCandidates) // nodes without room
	have := 0
	for _, site := range p.Plan.Ranked() {
		start, withRoom, whole := len(full), 0, have == 0
		for _, name := range snap.NodesIn(int(site)) {
			known, fits := room(name)
			if !known {
				continue
			}
			if !fits {
				full = append(full, name)
				continue
			}
			withRoom++
			// The best site is kept whole; a later one gives only the
			// nodes with room still needed.
			if whole || have < minCandidates {
				names.Insert(name)
				have++
			}
		}
		if withRoom == 0 {
			continue // its nodes stay in full for the no-room fallback
		}
		names.Insert(full[start:]...)
		if have >= minCandidates {
			break
		}
	}
	if have == 0 {
		// No room anywhere: every feasible site's nodes, so that the usual
		// filters say why and preemption can act.
		names.Insert(full...)
	}
	return names
}
