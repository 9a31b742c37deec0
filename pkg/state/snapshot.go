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
	v1 "k8s.io/api/core/v1"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Snapshot is the world at one moment, immutable once published: the
// scoring core's World, the objects it was built from, the policy index, the
// site-to-nodes index and the live telemetry. See the package doc.
type Snapshot struct {
	// World is the site table, sources and RTT matrix in the core's form.
	World *scoring.World
	// Generation increases with every snapshot a Model publishes (0 for
	// Build).
	Generation uint64

	table    *siteTable
	policies *policyIndex
	nodes    *nodeIndex // nil until the node list is complete
	// live is the latest telemetry (nil for none): node load is read from
	// it directly, so a change of node load alone reuses the site table.
	live *Live
	// loadGeneration changes with live node load (a Model's count).
	loadGeneration uint64
	// acceptLegacy: NodeSite reads the legacy site label too.
	acceptLegacy bool
	// probes memoizes ProbeCandidates.
	probes *probeMemo
}

// SiteIndex returns the position of a Site by name.
func (s *Snapshot) SiteIndex(name string) (int, bool) {
	i, ok := s.table.siteIndex[name]
	return int(i), ok
}

// SourceIndex returns the position of a TrafficSource by name.
func (s *Snapshot) SourceIndex(name string) (int, bool) {
	i, ok := s.table.sourceIndex[name]
	return i, ok
}

// Sites are the Site objects by site index (ordered by name). Callers must
// not modify them.
func (s *Snapshot) Sites() []*placementv1alpha1.Site { return s.table.sites }

// Sources are the TrafficSource objects by source index (ordered by name).
// Callers must not modify them.
func (s *Snapshot) Sources() []*placementv1alpha1.TrafficSource { return s.table.sources }

// FitPending reports whether the RTT estimates come from a fit made for
// other inputs (or from the distance prior) while the fit for the current
// declared and live RTTs is being made beside the Model's worker: the next
// snapshot has it. Two processes may hold different estimates meanwhile,
// so the rebalancer does not act on such a snapshot.
func (s *Snapshot) FitPending() bool { return s.table.fitPending }

// Live is the telemetry the snapshot was built with; nil for none.
func (s *Snapshot) Live() *Live { return s.live }

// Change says which parts of the world differ between two snapshots.
type Change struct {
	// Sites: the site table (Sites, TrafficSources, or the live RTT, price
	// or health it overlays).
	Sites bool
	// Policies: the policy index.
	Policies bool
	// Nodes: the site-to-nodes index (a node joined, left or changed site).
	Nodes bool
	// NodeLoad: the live node utilization.
	NodeLoad bool
}

// ChangedSince says which parts of s differ from old (all of them when old
// is nil); both must come from one Model.
func (s *Snapshot) ChangedSince(old *Snapshot) Change {
	if old == nil {
		return Change{Sites: true, Policies: true, Nodes: true, NodeLoad: true}
	}
	// Node load is compared by the Model's count of its changes, not value
	// by value: callers compare many snapshots (one per waiting pod).
	return Change{Sites: s.table != old.table, Policies: s.policies != old.policies, Nodes: s.nodes != old.nodes,
		NodeLoad: s.loadGeneration != old.loadGeneration}
}

// NodeLoad is a node's live CPU utilization, as the policy's load rule and
// the load term of the score read it: Stale when the signal is read but
// has no fresh value for the node (expired, or missing as in a read with
// no series for the node). One map lookup; no allocation.
func (s *Snapshot) NodeLoad(node string) scoring.NodeLoad {
	live := s.live
	if live == nil {
		return scoring.NodeLoad{}
	}
	v, f := live.NodeLoad.Get(node)
	return scoring.NodeLoad{Value: v, Live: f == LiveFresh || f == LiveStale, Stale: f.Missed()}
}

// SiteOfNode is the index of the site a node belongs to (NodeSite, with
// the snapshot's acceptance of the legacy label); false for a node in no
// site or naming no known Site.
func (s *Snapshot) SiteOfNode(node *v1.Node) (int, bool) {
	name, ok := s.SiteName(node)
	if !ok {
		return 0, false
	}
	return s.SiteIndex(name)
}

// SiteName is the name of the site a node claims to be in (NodeSite, with
// the snapshot's acceptance of the legacy label), known Site or not.
func (s *Snapshot) SiteName(node *v1.Node) (string, bool) {
	return NodeSite(node.Labels, s.acceptLegacy)
}

// NodesIndexed reports whether the site-to-nodes index covers the whole
// node list. Until it does, NodesIn returns nothing: an index of part of a
// fleet would steer pods to the wrong sites.
func (s *Snapshot) NodesIndexed() bool { return s.nodes != nil }

// NodesIn returns the names of the nodes in site i. The slice is shared:
// callers must not modify it.
func (s *Snapshot) NodesIn(i int) []string {
	if s.nodes == nil || i < 0 || i >= len(s.table.sites) {
		return nil
	}
	return s.nodes.bySite[s.table.sites[i].Name]
}

// NumNodesIndexed is the number of nodes that carry a site label, known
// Site or not.
func (s *Snapshot) NumNodesIndexed() int {
	if s.nodes == nil {
		return 0
	}
	return s.nodes.labelled
}

// Objects are the inputs of Build.
type Objects struct {
	Sites    []*placementv1alpha1.Site
	Sources  []*placementv1alpha1.TrafficSource
	Policies []*placementv1alpha1.PlacementPolicy
	// Nodes are indexed by site; nil leaves the index empty (NodesIndexed
	// is then false).
	Nodes []*v1.Node
	// Live telemetry to overlay on the declared values; nil for none.
	Live *Live
	// AcceptLegacySiteLabel: a node without the site label may name its
	// site with the legacy one (NodeSite).
	AcceptLegacySiteLabel bool
}

// Build makes a snapshot from lists of objects, for one-shot use.
func Build(in Objects) *Snapshot {
	s := &Snapshot{table: buildSiteTable(in.Sites, in.Sources, in.Live, nil, nil), policies: buildPolicyIndex(in.Policies),
		live: in.Live, acceptLegacy: in.AcceptLegacySiteLabel, probes: &probeMemo{}}
	s.World = s.table.world
	if in.Nodes != nil {
		s.nodes = buildNodeIndex(in.Nodes, in.AcceptLegacySiteLabel)
	}
	return s
}
