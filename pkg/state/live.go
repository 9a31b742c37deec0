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
	"time"
)

// Live is the latest live telemetry: per signal, whether it is read at all,
// whether its last successful read is fresh, and that read's values. A
// snapshot applies fresh values and marks the declared values that stand in
// for stale or missing ones (see scoring.Provenance).
type Live struct {
	// RTT in milliseconds per (source, site) name.
	RTT Signal[SourceSite, float64]
	// Price is a multiplier per site that scales its declared prices (spot
	// markets).
	Price Signal[string, float64]
	// Health per site: false when the site's health signal says it is down.
	Health Signal[string, bool]
	// NodeLoad is CPU utilization in 0..1 per node name.
	NodeLoad Signal[string, float64]
	// SiteRTT in milliseconds per pair of Sites (PairOfSites: one key for
	// both directions).
	SiteRTT Signal[SitePair, float64]
	// At is when freshness was computed.
	At time.Time
}

// StaleSignals names the enabled signals of l (nil: none) whose last
// successful read is not fresh, or that were never read, by the names of
// EdgePlacement's telemetry args: nodeUtilization, rtt, price, health, siteRTT.
func StaleSignals(l *Live) []string {
	if l == nil {
		return nil
	}
	var out []string
	for _, sig := range []struct {
		name           string
		enabled, fresh bool
	}{{"nodeUtilization", l.NodeLoad.Enabled, l.NodeLoad.Fresh}, {"rtt", l.RTT.Enabled, l.RTT.Fresh},
		{"price", l.Price.Enabled, l.Price.Fresh}, {"health", l.Health.Enabled, l.Health.Fresh},
		{"siteRTT", l.SiteRTT.Enabled, l.SiteRTT.Fresh}} {
		if sig.enabled && !sig.fresh {
			out = append(out, sig.name)
		}
	}
	return out
}

// Signal is one live signal as last read.
type Signal[K, V comparable] struct {
	// Enabled is set when the signal is read at all (it has a query). A
	// disabled signal expects nothing: every value is declared, and a
	// policy that rejects stale values has nothing to reject.
	Enabled bool
	// Fresh is set when the last successful read is within the signal's
	// maximum age.
	Fresh bool
	// Values of the last successful read; nil before the first. A key
	// missing here has no live value.
	Values map[K]V
}

// Freshness is the state of one live value, for one key of one signal.
type Freshness uint8

// Freshness of a live value.
const (
	// LiveDisabled: the signal is not read; the declared value is the
	// value, and nothing is missing.
	LiveDisabled Freshness = iota
	// LiveMissing: the signal is read but has no value for the key — it
	// was never read successfully, or its last read had no series for the
	// key (the series is gone, or its value was out of range and dropped).
	LiveMissing
	// LiveStale: the key had a value in the last successful read, which is
	// older than the signal's maximum age.
	LiveStale
	// LiveFresh: the key has a value in a read within the maximum age.
	LiveFresh
)

// Missed reports whether a fresh live value was expected and is not there
// (missing or stale): the declared value stands in, and a policy that
// rejects stale values rejects it.
func (f Freshness) Missed() bool { return f == LiveMissing || f == LiveStale }

// Get is the live value for key and its freshness. It does not allocate.
func (s *Signal[K, V]) Get(key K) (V, Freshness) {
	if !s.Enabled {
		var none V
		return none, LiveDisabled
	}
	v, ok := s.Values[key]
	switch {
	case !ok:
		return v, LiveMissing
	case !s.Fresh:
		return v, LiveStale
	}
	return v, LiveFresh
}

// Equal reports whether two reads of a signal say the same.
func (s *Signal[K, V]) Equal(o *Signal[K, V]) bool {
	return s.Enabled == o.Enabled && s.Fresh == o.Fresh && maps.Equal(s.Values, o.Values)
}

// SourceSite keys a live RTT.
type SourceSite struct{ Source, Site string }

// SitePair names two Sites, the lesser name first (PairOfSites): an RTT
// between them is one value whichever way it was measured.
type SitePair struct{ A, B string }

// PairOfSites is the SitePair of sites a and b, in either order.
func PairOfSites(a, b string) SitePair {
	if a > b {
		a, b = b, a
	}
	return SitePair{a, b}
}
