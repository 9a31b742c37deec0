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

	v1 "k8s.io/api/core/v1"
)

// nodeIndex lists node names by their site (NodeSite), so that a
// scheduling cycle touches only the nodes of the sites it considers. It is
// keyed by label value, not site index, so that a Site created after its
// nodes needs no node rebuild. Names are sorted within a site, so that the
// same world narrows a pod to the same nodes whatever order the informer
// listed them in.
type nodeIndex struct {
	bySite   map[string][]string
	labelled int
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
