package state

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// Publisher rebuilds the snapshot when its inputs change and publishes it
// with an atomic pointer: readers call Load and never wait for a rebuild.
// A change to Sites or TrafficSources rebuilds the site table and the RTT
// matrix; a change to Nodes only rebuilds the node arrays and reuses the rest.
type Publisher struct {
	mu         sync.Mutex // serializes rebuilds
	table      *siteTable
	current    atomic.Pointer[Snapshot]
	generation uint64
}

// NewPublisher starts with an empty world.
func NewPublisher() *Publisher {
	p := &Publisher{table: buildSiteTable(nil, nil, nil)}
	p.current.Store(p.table.build(nil, 0))
	return p
}

// Load returns the current snapshot.
func (p *Publisher) Load() *Snapshot { return p.current.Load() }

// Inputs lists the objects a rebuild reads.
type Inputs struct {
	Sites   []*placementv1alpha1.Site
	Sources []*placementv1alpha1.TrafficSource
	Nodes   []*v1.Node
	// Live telemetry to overlay; nil for declared values only.
	Live *Live
}

// Rebuild publishes a new snapshot; sitesChanged says whether Sites,
// TrafficSources or live telemetry changed since the last rebuild (else
// only nodes did).
func (p *Publisher) Rebuild(in Inputs, sitesChanged bool) *Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sitesChanged {
		p.table = buildSiteTable(in.Sites, in.Sources, in.Live)
	}
	p.generation++
	s := p.table.build(in.Nodes, p.generation)
	s.live = in.Live
	p.current.Store(s)
	return s
}
