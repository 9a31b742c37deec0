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
	"sync"
	"time"

	fwk "k8s.io/kube-scheduler/framework"

	"github.com/proxima-sched/proxima/pkg/state"
)

// roomMemoTTL bounds how long the memo trusts what it found: a node
// deleted and added again under its name gets a new NodeInfo, whose room
// the memo would otherwise not see until the world changes.
const roomMemoTTL = time.Second

// roomMemo is narrowing's state.RoomMemo for the replicas of one workload:
// the pods that share one evaluation of their policy (a state.PlanCache
// gives them the same PodPlan.Shared). When replicas fill the best sites,
// each later one would walk every full node ranked above the first with
// room; the memo lets it pass over a site whose every node was found
// without room, for as long as none of those nodes has changed in the
// scheduler's node snapshot (the framework gives a NodeInfo a new
// generation with every pod added to or removed from it and every update
// of its node) and for at most roomMemoTTL. It only ever narrows the walk
// over sites already known to be full; Narrow walks again without it when
// nothing usable is found.
type roomMemo struct {
	mu     sync.Mutex
	shared uint64 // the evaluation the sites are known for; 0 for none
	since  time.Time
	sites  map[int][]nodeGen
	now    func() time.Time
}

type nodeGen struct {
	ni  fwk.NodeInfo
	gen int64
}

func newRoomMemo() *roomMemo { return &roomMemo{now: time.Now} }

// roomView is the memo as one narrowing sees it.
type roomView struct {
	m      *roomMemo
	shared uint64
	snap   *state.Snapshot
	infos  fwk.NodeInfoLister
}

// forPlan is the memo for a narrowing of pp's pod on snap against the
// scheduler's node snapshot infos; nil (no memo) for a plan no cache
// shares.
func (m *roomMemo) forPlan(snap *state.Snapshot, pp *state.PodPlan, infos fwk.NodeInfoLister) state.RoomMemo {
	if m == nil || pp.Shared() == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := m.now(); m.shared != pp.Shared() || now.Sub(m.since) > roomMemoTTL {
		// The map is made when a site is first found full: most
		// evaluations never fill one.
		m.shared, m.since, m.sites = pp.Shared(), now, nil
	}
	return roomView{m: m, shared: pp.Shared(), snap: snap, infos: infos}
}

// NoRoom: every node of site i was found without room and none has changed
// since.
func (v roomView) NoRoom(site int) bool {
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	nodes, ok := v.m.sites[site]
	if !ok || v.m.shared != v.shared {
		return false
	}
	for _, n := range nodes {
		if n.ni.GetGeneration() != n.gen {
			delete(v.m.sites, site)
			return false
		}
	}
	return true
}

// FoundNoRoom notes the NodeInfos of site i as the walk found them.
func (v roomView) FoundNoRoom(site int) {
	names := v.snap.NodesIn(site)
	nodes := make([]nodeGen, 0, len(names))
	for _, name := range names {
		ni, err := v.infos.Get(name)
		if err != nil || ni.Node() == nil {
			return
		}
		nodes = append(nodes, nodeGen{ni, ni.GetGeneration()})
	}
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	if v.m.shared == v.shared {
		if v.m.sites == nil {
			v.m.sites = map[int][]nodeGen{}
		}
		v.m.sites[site] = nodes
	}
}
