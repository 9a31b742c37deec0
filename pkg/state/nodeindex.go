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
	"maps"
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// nodeIndex lists node names by their site (NodeSite), so that a
// scheduling cycle touches only the nodes of the sites it considers. It is
// keyed by label value, not site index, so that a Site created after its
// nodes needs no node rebuild. Names are sorted within a site, so that the
// same world narrows a pod to the same nodes whatever order the informer
// listed them in. A published index is never modified: a change makes a
// new one (nodeIndex.apply) that shares the sites it did not touch.
type nodeIndex struct {
	bySite   map[string][]string
	labelled int
	// sets holds a site's names as a set (site label value to
	// sets.Set[string]), made on first use (nodeIndex.set) and never
	// modified: narrowing hands the best site's nodes to the framework
	// whole without inserting them one by one.
	sets sync.Map
}

// set is the names of the site's nodes as a set, shared: callers must not
// modify it.
func (idx *nodeIndex) set(site string) sets.Set[string] {
	if v, ok := idx.sets.Load(site); ok {
		return v.(sets.Set[string])
	}
	v, _ := idx.sets.LoadOrStore(site, sets.New(idx.bySite[site]...))
	return v.(sets.Set[string])
}

func buildNodeIndex(nodes []*v1.Node, acceptLegacy bool) *nodeIndex {
	idx := &nodeIndex{bySite: map[string][]string{}}
	for _, n := range nodes {
		if site, ok := NodeSite(n.Labels, acceptLegacy); ok {
			idx.bySite[site] = append(idx.bySite[site], n.Name)
			idx.labelled++
		}
	}
	for _, names := range idx.bySite {
		slices.Sort(names)
	}
	return idx
}

// siteOf returns the site the index lists the named node in.
func (idx *nodeIndex) siteOf() map[string]string {
	m := make(map[string]string, idx.labelled)
	for site, names := range idx.bySite {
		for _, n := range names {
			m[n] = site
		}
	}
	return m
}

// nodeMove is a node that joined a site (to), left one (from), or both.
type nodeMove struct {
	name     string
	from, to string
	had, has bool
}

// apply returns the index with the moves made, sharing every site they
// did not touch (the work is in the sites touched, not in the fleet); idx
// is left as it was. Each move must start where idx has the node.
func (idx *nodeIndex) apply(moves []nodeMove) *nodeIndex {
	if len(moves) == 0 {
		return idx
	}
	next := &nodeIndex{bySite: maps.Clone(idx.bySite), labelled: idx.labelled}
	owned := map[string]bool{} // sites whose slice next owns
	own := func(site string) []string {
		if !owned[site] {
			owned[site] = true
			next.bySite[site] = slices.Clone(next.bySite[site])
		}
		return next.bySite[site]
	}
	for _, mv := range moves {
		if mv.had {
			names := own(mv.from)
			if i, found := slices.BinarySearch(names, mv.name); found {
				names = slices.Delete(names, i, i+1)
				next.labelled--
			}
			if len(names) == 0 {
				delete(next.bySite, mv.from)
				delete(owned, mv.from)
			} else {
				next.bySite[mv.from] = names
			}
		}
		if mv.has {
			names := own(mv.to)
			if i, found := slices.BinarySearch(names, mv.name); !found {
				names = slices.Insert(names, i, mv.name)
				next.labelled++
			}
			next.bySite[mv.to] = names
		}
	}
	// The sets of the sites no move touched stay true.
	touched := make(map[string]bool, len(moves))
	for _, mv := range moves {
		touched[mv.from], touched[mv.to] = touched[mv.from] || mv.had, touched[mv.to] || mv.has
	}
	idx.sets.Range(func(site, set any) bool {
		if !touched[site.(string)] {
			next.sets.Store(site, set)
		}
		return true
	})
	return next
}

// equal reports whether two indexes list the same nodes in the same sites.
func (idx *nodeIndex) equal(o *nodeIndex) bool {
	if idx == nil || o == nil {
		return idx == o
	}
	if idx.labelled != o.labelled || len(idx.bySite) != len(o.bySite) {
		return false
	}
	for site, names := range idx.bySite {
		if !slices.Equal(names, o.bySite[site]) {
			return false
		}
	}
	return true
}

// nodeChanges collects the names of the nodes that joined, left or
// changed site since the index was last updated, so that the update reads
// those nodes only. Past maxNodeChanges names (a fleet joining, an
// informer relisting) the update reads the whole list instead.
type nodeChanges struct {
	mu    sync.Mutex
	names map[string]struct{}
	all   bool
}

// maxNodeChanges is how many changed nodes an update looks up one by one
// before it lists every node instead.
const maxNodeChanges = 1024

func (c *nodeChanges) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all {
		return
	}
	if c.names == nil {
		c.names = map[string]struct{}{}
	}
	c.names[name] = struct{}{}
	if len(c.names) > maxNodeChanges {
		c.all, c.names = true, nil
	}
}

// everything makes the next update list every node.
func (c *nodeChanges) everything() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all, c.names = true, nil
}

// take returns and forgets the changes: the names, or all.
func (c *nodeChanges) take() (names []string, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names, all = slices.Sorted(maps.Keys(c.names)), c.all
	c.names, c.all = nil, false
	return names, all
}
