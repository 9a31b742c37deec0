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
// minCandidates nodes the pod can use (fit says what the caller knows of
// a node: PodPlan.NodeFit on its node snapshot). The best
// site with such a node is kept whole; a later site that completes the
// count gives only the usable nodes it needs. It reads only the nodes of
// the sites it takes, through the snapshot's site-to-nodes index.
// kubectl proxima narrows the same way.
//
// The count is exact because kube-scheduler stops filtering once it has
// found max(100, percentageOfNodesToScore of the candidates) feasible
// nodes, starting at a rotating offset: with more than 100 usable
// candidates it could pass over the best site's last free node and place
// the pod in a worse site. With at most 100 (the default) every usable
// candidate is examined; unusable nodes of the sites taken are kept too
// (they cannot pass the filters, so they do not count, and preemption may
// use them).
//
// Narrowing never strands a pod: when no node is usable anywhere, and when
// wide is set (the pod's previous narrowed attempt failed: a filter
// NodeFit does not model rejected every candidate, or preemption was kept
// out of sites left out), every feasible site's nodes are candidates.
// narrowed reports whether the candidates leave out usable nodes of
// feasible sites, or a site whose nodes only lack room (preemption could
// make it there). No candidate at all means the feasible sites have no
// nodes (NoNodesMessage).
//
// memo (nil for none) spares the walk over sites known to have no room:
// when the replicas of a workload fill the best sites, each later replica
// would otherwise look at every full node ranked above the first with
// room. A site memo.NoRoom names is passed over as a site with no usable
// node (so the result is narrowed, and a failed attempt widens); a site
// whose every node the walk found NodeFull is told to memo.FoundNoRoom. If
// nothing usable is found with sites passed over, the walk is made again
// without the memo, so that the memo can never leave a pod without
// candidates.
//
// names may be shared (the snapshot's set of one site's nodes, when they
// are the answer exactly): callers must not modify it.
func (p *PodPlan) Narrow(snap *Snapshot, minCandidates int, wide bool, fit func(name string) NodeFit, memo RoomMemo) (names sets.Set[string], narrowed bool) {
	if memo == nil || wide {
		names, narrowed, _, _ = p.narrow(snap, minCandidates, wide, fit, nil)
		return names, narrowed
	}
	names, narrowed, passed, found := p.narrow(snap, minCandidates, wide, fit, memo)
	if passed && !found {
		names, narrowed, _, _ = p.narrow(snap, minCandidates, wide, fit, nil)
	}
	return names, narrowed
}

// RoomMemo remembers, across the narrowings of pods of one plan, which
// feasible sites had no node with room for their requests (Narrow).
type RoomMemo interface {
	// NoRoom reports whether no node of site i has room for the pod's
	// requests, as far as the memo knows.
	NoRoom(site int) bool
	// FoundNoRoom tells that the walk found every node of site i
	// NodeFull.
	FoundNoRoom(site int)
}

// narrow is Narrow's walk; passed reports whether memo made it pass over a
// site without looking at its nodes, found whether it found a usable node.
func (p *PodPlan) narrow(snap *Snapshot, minCandidates int, wide bool, fit func(name string) NodeFit, memo RoomMemo) (names sets.Set[string], narrowed, passed, found bool) {
	ranked := p.Plan.Ranked()
	// newSet is the set for an answer other than one site's nodes exactly,
	// sized for the usual one, the best site whole or minCandidates nodes,
	// whichever is more (the framework clones it too); the unusable nodes
	// are usually none.
	newSet := func() sets.Set[string] {
		hint := minCandidates
		if len(ranked) > 0 {
			hint = max(hint, len(snap.NodesIn(int(ranked[0]))))
		}
		return make(sets.Set[string], hint)
	}
	if wide {
		names = newSet()
	}
	var (
		full    []string // unusable nodes
		unknown []string // the first site's nodes fit does not know
	)
	have := 0
	// skipped: a feasible site left out because none of its nodes is
	// usable, though some only lack room (preemption might make it).
	skipped := false
	for r, site := range ranked {
		if memo != nil && memo.NoRoom(int(site)) {
			skipped, passed = true, true
			continue
		}
		// The first site taken is kept whole; its names are inserted
		// only if the answer is more than its nodes exactly, which is
		// otherwise the index's shared set of them.
		first := have == 0 && !wide
		start, usable, short, whole := len(full), 0, false, have == 0 || wide
		unknown = unknown[:0]
		allFull := memo != nil
		nodes := snap.NodesIn(int(site))
		for _, name := range nodes {
			f := fit(name)
			allFull = allFull && f == NodeFull
			if f == NodeUnknown {
				unknown = append(unknown, name)
				continue
			}
			if f != NodeUsable {
				full = append(full, name)
				short = short || f == NodeFull
				continue
			}
			usable++
			// The best site is kept whole; a later one gives only the
			// usable nodes still needed.
			if whole || have < minCandidates {
				if !first {
					names.Insert(name)
				}
				have++
			} else {
				narrowed = true
			}
		}
		if usable == 0 && !wide {
			// Its nodes stay in full for the fallback. Preemption could
			// still make room there: a failed attempt widens (narrowed).
			skipped = skipped || short
			if allFull && len(full) > start {
				memo.FoundNoRoom(int(site))
			}
			continue
		}
		switch {
		case first && len(unknown) == 0 && have >= minCandidates:
			names = snap.nodes.set(snap.table.sites[site].Name)
		case first:
			names = newSet()
			names.Insert(nodes...)
			names.Delete(unknown...)
		default:
			names.Insert(full[start:]...)
		}
		if !wide && have >= minCandidates {
			narrowed = narrowed || r < len(ranked)-1
			break
		}
	}
	if have == 0 {
		// Nothing usable anywhere: every feasible site's nodes, so that
		// the usual filters say why and preemption can act.
		if names == nil {
			names = newSet()
		}
		names.Insert(full...)
	}
	return names, narrowed || skipped && have > 0, passed, have > 0
}
