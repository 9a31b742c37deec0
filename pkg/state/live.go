package state

import "time"

// Live is the latest live telemetry, with each signal's freshness. Values of
// a stale signal are kept only to mark which declared values stand in for
// them; a snapshot applies fresh signals and flags stale ones.
type Live struct {
	// RTT in milliseconds per (source, site) name.
	RTT      map[SourceSite]float64
	RTTFresh bool
	// PriceMultiplier per site scales its declared prices (spot markets).
	PriceMultiplier map[string]float64
	PriceFresh      bool
	// Up per site: false when the site's health signal says it is down.
	Up          map[string]bool
	HealthFresh bool
	// NodeLoad is CPU utilization in 0..1 per node name.
	NodeLoad      map[string]float64
	NodeLoadFresh bool
	// At is when the values were read.
	At time.Time
}

// SourceSite keys a live RTT.
type SourceSite struct{ Source, Site string }

// NodeLoad returns a node's live utilization, whether there is one, and
// whether it is stale.
func (s *Snapshot) NodeLoad(node string) (load float64, live, stale bool) {
	if s.live == nil {
		return 0, false, false
	}
	load, live = s.live.NodeLoad[node]
	return load, live, live && !s.live.NodeLoadFresh
}
