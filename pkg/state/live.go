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

import "time"

// Live is the latest live telemetry, with each signal's freshness. Values of
// a stale signal are kept only to mark which declared values stand in for
// them; a snapshot applies fresh signals and marks stale ones (see
// scoring.Provenance).
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
