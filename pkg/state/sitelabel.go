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
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// NodeSite is the name of the Site a node belongs to, from the node's
// labels; false for a node in no site. It is the one place that decides
// site membership: the node index, SiteOfNode, the node event handler, the
// status controller and the scheduler plugin all ask it.
//
// The site is the value of placementv1alpha1.SiteLabel, which a kubelet
// cannot set on its own Node. With acceptLegacy (while an upgrade
// relabels nodes), a node without it may instead name its site with
// placementv1alpha1.LegacySiteLabel; SiteLabel wins when both are set.
// Without acceptLegacy the legacy label is ignored: a node cannot move
// itself into a site by labelling itself.
func NodeSite(labels map[string]string, acceptLegacy bool) (string, bool) {
	if site, ok := labels[placementv1alpha1.SiteLabel]; ok {
		return site, true
	}
	if acceptLegacy {
		if site, ok := labels[placementv1alpha1.LegacySiteLabel]; ok {
			return site, true
		}
	}
	return "", false
}

// sameSite reports whether two label sets put a node in the same site (or
// both in none).
func sameSite(a, b map[string]string, acceptLegacy bool) bool {
	sa, oka := NodeSite(a, acceptLegacy)
	sb, okb := NodeSite(b, acceptLegacy)
	return oka == okb && sa == sb
}
