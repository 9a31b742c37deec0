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
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	listers "github.com/proxima-sched/proxima/pkg/generated/listers/placement/v1alpha1"

	"github.com/proxima-sched/proxima/pkg/rttmodel"
)

// part is a piece of the world that one kind of change invalidates; it is
// the Model's workqueue key, so a burst of changes to one part costs one
// rebuild.
type part string

const (
	// partSites is the site table: Sites, TrafficSources and live telemetry.
	partSites part = "sites"
	// partPolicies is the policy index.
	partPolicies part = "policies"
	// partNodes is the site-to-nodes index.
	partNodes part = "nodes"
	// partLive is live telemetry: the site table is rebuilt only when the
	// RTT, price or health signal changed; a change of node load alone
	// publishes the same table with the new telemetry.
	partLive part = "live"
	// partFit is a finished RTT fit: the site table is rebuilt from the
	// same objects and telemetry with it.
	partFit part = "fit"
)

// NodeSettle is how long a node event waits before the site-to-nodes index
// is rebuilt: the most a joining node waits to be used, and the least time
// between two rebuilds of the index while a fleet joins.
const NodeSettle = 100 * time.Millisecond

// Informers are the shared informers a Model reads. Sites, Sources and
// Policies hold placement.proxima.dev objects; Nodes holds Nodes.
type Informers struct {
	Sites, Sources, Policies, Nodes cache.SharedIndexInformer
}

// Options tune a Model.
type Options struct {
	// Live returns the latest live telemetry (nil for none yet); nil for a
	// world of declared values only. Call Model.LiveChanged when it changes.
	Live func() *Live
	// AcceptLegacySiteLabel: a node without the site label may name its
	// site with the legacy one (NodeSite), which the node itself can set.
	// For the time it takes to relabel nodes on upgrade; off by default.
	AcceptLegacySiteLabel bool
}

// Model keeps a Snapshot of the world current from shared informers. See
// the package doc.
type Model struct {
	sites    listers.SiteLister
	sources  listers.TrafficSourceLister
	policies listers.PlacementPolicyLister
	nodes    corelisters.NodeLister
	// crdsSynced report whether the Site, TrafficSource and PlacementPolicy
	// informers have delivered their initial lists; nodesSynced likewise
	// for Nodes (the site-to-nodes index waits for it).
	crdsSynced  []cache.InformerSynced
	nodesSynced cache.InformerSynced
	live        func() *Live
	// acceptLegacy: NodeSite reads the legacy site label too.
	acceptLegacy bool

	queue workqueue.TypedRateLimitingInterface[part]

	// mu serializes updates and guards the parts and subscribers.
	mu        sync.Mutex
	table     *siteTable
	policyIdx *policyIndex
	nodeIdx   *nodeIndex
	// siteOfNode is the site nodeIdx lists each node in, by name; with
	// nodeChanges it lets a node event update the index from that node
	// alone.
	siteOfNode  map[string]string
	nodeChanges nodeChanges
	liveNow     *Live // the telemetry of the current snapshot
	// loadGeneration counts the changes of live node load.
	loadGeneration uint64
	generation     uint64
	subscribers    []func(klog.Logger, *Snapshot)

	// fitter fits the RTT model beside the worker once the first
	// snapshot is out (until then the worker fits, so the first snapshot
	// has the fit).
	fitter *fitter

	current atomic.Pointer[Snapshot]
	// synced is set once WaitForCacheSync has published a complete world.
	synced atomic.Bool
}

// NewModel registers the Model's event handlers on the informers; start the
// informers, then call WaitForCacheSync and Run. Until then Load returns an
// empty world.
func NewModel(inf Informers, opts Options) (*Model, error) {
	m := &Model{
		sites:        listers.NewSiteLister(inf.Sites.GetIndexer()),
		sources:      listers.NewTrafficSourceLister(inf.Sources.GetIndexer()),
		policies:     listers.NewPlacementPolicyLister(inf.Policies.GetIndexer()),
		nodes:        corelisters.NewNodeLister(inf.Nodes.GetIndexer()),
		crdsSynced:   []cache.InformerSynced{inf.Sites.HasSynced, inf.Sources.HasSynced, inf.Policies.HasSynced},
		nodesSynced:  inf.Nodes.HasSynced,
		live:         opts.Live,
		acceptLegacy: opts.AcceptLegacySiteLabel,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[part](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[part]{Name: "proxima-world"}),
		table:     buildSiteTable(nil, nil, nil, nil, nil),
		policyIdx: buildPolicyIndex(nil),
	}
	m.nodeChanges.everything() // the first index lists every node
	m.fitter = &fitter{fit: rttmodel.FitRTT, done: func() { m.enqueue(partFit) }}
	m.current.Store(m.compose())
	for _, reg := range []func() error{
		func() error { return handleSites(inf.Sites, m.enqueue) },
		func() error { return handleSources(inf.Sources, m.enqueue) },
		func() error { return handlePolicies(inf.Policies, m.enqueue) },
		func() error { return handleNodes(inf.Nodes, m.acceptLegacy, m.nodeChanged) },
	} {
		if err := reg(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Load returns the current snapshot. Take it once per decision.
func (m *Model) Load() *Snapshot { return m.current.Load() }

// OnPublish calls fn, in the Model's worker, after each snapshot it
// publishes from then on.
func (m *Model) OnPublish(fn func(klog.Logger, *Snapshot)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subscribers = append(m.subscribers, fn)
}

// LiveChanged queues an update of the world with the latest telemetry.
func (m *Model) LiveChanged() { m.enqueue(partLive) }

func (m *Model) enqueue(p part) { m.queue.Add(p) }

// nodeChanged notes that the named node joined, left or changed site, and
// queues the site-to-nodes index after NodeSettle.
func (m *Model) nodeChanged(name string) {
	m.nodeChanges.add(name)
	m.queue.AddAfter(partNodes, NodeSettle)
}

// WaitForCacheSync waits at most timeout for the Site, TrafficSource and
// PlacementPolicy informers' initial lists, then builds and publishes the
// first complete snapshot (with the node index if the node list is
// complete too). It does not wait for the node informer: a large fleet
// takes a while to list, and the index follows as soon as it is whole.
func (m *Model) WaitForCacheSync(ctx context.Context, timeout time.Duration) error {
	syncCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), m.crdsSynced...) {
		return fmt.Errorf("Site, TrafficSource and PlacementPolicy caches did not sync within %s: are the placement.proxima.dev CRDs installed, and may this component list and watch them?", timeout)
	}
	logger := klog.FromContext(ctx)
	for _, p := range []part{partSites, partPolicies, partNodes} { // partSites reads the telemetry too
		if err := m.rebuild(logger, p); err != nil && !errors.Is(err, errNodesNotListed) {
			return err
		}
	}
	m.synced.Store(true)
	return nil
}

// HasSynced reports whether WaitForCacheSync has published a snapshot of
// every Site, TrafficSource and PlacementPolicy; until then Load returns an
// empty or partial world. It is a cache.InformerSynced.
func (m *Model) HasSynced() bool { return m.synced.Load() }

// Run rebuilds and publishes the world as its inputs change, until ctx is
// done.
func (m *Model) Run(ctx context.Context) {
	defer m.queue.ShutDown()
	go wait.UntilWithContext(ctx, m.work, time.Second)
	<-ctx.Done()
}

func (m *Model) work(ctx context.Context) {
	logger := klog.FromContext(ctx)
	for {
		p, quit := m.queue.Get()
		if quit {
			return
		}
		err := m.rebuild(logger, p)
		switch {
		case errors.Is(err, errNodesNotListed):
			// The informer fills its cache one node at a time: look again
			// after a settle rather than index part of the fleet.
			m.queue.Forget(p)
			m.queue.AddAfter(p, NodeSettle)
		case err != nil:
			logger.Error(err, "Rebuilding the world model; keeping the previous snapshot", "part", p)
			m.queue.AddRateLimited(p)
		default:
			m.queue.Forget(p)
		}
		m.queue.Done(p)
	}
}

var errNodesNotListed = errors.New("the node informer has not delivered its initial list")

// rebuild rebuilds one part from the listers and publishes a snapshot.
func (m *Model) rebuild(logger klog.Logger, p part) error {
	s, subscribers, err := m.update(p)
	if s == nil {
		return err
	}
	logger.V(4).Info("Published the world model", "part", p, "generation", s.Generation,
		"sites", s.World.Sites.Len(), "sources", s.World.NumSources(), "policies", s.NumPolicies(), "labelledNodes", s.NumNodesIndexed())
	// Subscribers run outside the lock: they may take their time (the
	// scheduler judges its waiting pods), and the next rebuild need not
	// wait for them. One worker publishes, so they see snapshots in order.
	for _, fn := range subscribers {
		fn(logger, s)
	}
	return nil
}

// update rebuilds one part from the listers and stores the new snapshot
// (rebuild then tells the subscribers); nil when nothing changed.
func (m *Model) update(p part) (*Snapshot, []func(klog.Logger, *Snapshot), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prevLive := m.liveNow
	switch p {
	case partSites:
		sites, err := m.sites.List(labels.Everything())
		if err != nil {
			return nil, nil, err
		}
		sources, err := m.sources.List(labels.Everything())
		if err != nil {
			return nil, nil, err
		}
		m.liveNow = m.latestLive()
		m.table = buildSiteTable(sites, sources, m.liveNow, m.table, m.backgroundFit())
	case partLive:
		live := m.latestLive()
		if live == m.liveNow {
			return nil, nil, nil
		}
		if t := m.table.live; !sameSiteSignals(t, live) {
			sites, sources := m.table.sites, m.table.sources
			m.table = buildSiteTable(sites, sources, live, m.table, m.backgroundFit())
		}
		m.liveNow = live
	case partFit:
		if !m.table.fitPending {
			return nil, nil, nil
		}
		m.table = buildSiteTable(m.table.sites, m.table.sources, m.table.live, m.table, m.fitter)
	case partPolicies:
		policies, err := m.policies.List(labels.Everything())
		if err != nil {
			return nil, nil, err
		}
		m.policyIdx = buildPolicyIndex(policies)
	case partNodes:
		if !m.nodesSynced() {
			return nil, nil, errNodesNotListed
		}
		changed, err := m.updateNodeIndex()
		if err != nil {
			return nil, nil, err
		}
		if !changed {
			return nil, nil, nil // the informer's initial adds, or a node that came back: nothing moved
		}
	default:
		return nil, nil, fmt.Errorf("unknown part %q", p)
	}
	if m.liveNow != prevLive && (m.liveNow == nil || prevLive == nil || !m.liveNow.NodeLoad.Equal(&prevLive.NodeLoad)) {
		m.loadGeneration++
	}
	m.generation++
	s := m.compose()
	m.current.Store(s)
	return s, slices.Clone(m.subscribers), nil
}

// updateNodeIndex brings nodeIdx up to date with the node informer and
// reports whether it changed; m.mu must be held. On an error it lists
// every node next time (the worker retries the part). It reads only the nodes
// that changed since the last update (nodeChanges), so node churn costs
// the sites it touches, not the fleet; the first update, and one after a
// burst of more than maxNodeChanges nodes, lists every node.
func (m *Model) updateNodeIndex() (bool, error) {
	names, all := m.nodeChanges.take()
	if all || m.siteOfNode == nil {
		nodes, err := m.nodes.List(labels.Everything())
		if err != nil {
			m.nodeChanges.everything()
			return false, err
		}
		idx := buildNodeIndex(nodes, m.acceptLegacy)
		unchanged := idx.equal(m.nodeIdx)
		if !unchanged || m.siteOfNode == nil {
			m.siteOfNode = idx.siteOf()
		}
		if !unchanged {
			m.nodeIdx = idx
		}
		return !unchanged, nil
	}
	var moves []nodeMove
	for _, name := range names {
		from, had := m.siteOfNode[name]
		to, has := "", false
		if n, err := m.nodes.Get(name); err == nil { // else: deleted
			to, has = NodeSite(n.Labels, m.acceptLegacy)
		}
		if had == has && from == to {
			continue
		}
		moves = append(moves, nodeMove{name: name, from: from, to: to, had: had, has: has})
		if has {
			m.siteOfNode[name] = to
		} else {
			delete(m.siteOfNode, name)
		}
	}
	if len(moves) == 0 {
		return false, nil
	}
	m.nodeIdx = m.nodeIdx.apply(moves)
	return true, nil
}

// backgroundFit is the fitter once the first snapshot is out; nil (fit in
// the worker) before.
func (m *Model) backgroundFit() *fitter {
	if !m.synced.Load() {
		return nil
	}
	return m.fitter
}

// compose makes a snapshot of the current parts; m.mu must be held (or m
// not yet shared).
func (m *Model) compose() *Snapshot {
	return &Snapshot{World: m.table.world, Generation: m.generation, table: m.table, policies: m.policyIdx, nodes: m.nodeIdx,
		live: m.liveNow, loadGeneration: m.loadGeneration, acceptLegacy: m.acceptLegacy, probes: &probeMemo{}}
}

func (m *Model) latestLive() *Live {
	if m.live == nil {
		return nil
	}
	return m.live()
}

// sameSiteSignals reports whether two reads of telemetry agree on what the
// site table overlays: RTT, price, health and site RTT.
func sameSiteSignals(a, b *Live) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.RTT.Equal(&b.RTT) && a.Price.Equal(&b.Price) && a.Health.Equal(&b.Health) && a.SiteRTT.Equal(&b.SiteRTT)
}
