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

// Package bench holds Proxima's benchmarks: the scoring core and the plugin,
// each side by side with a baseline measured in the same run.
package bench

import (
	"math/rand/v2"
	"strconv"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// SyntheticNodes are nodes as the plugin's Filter and Score see them: each
// node's site index and its live, fresh CPU utilization.
type SyntheticNodes struct {
	Names []string
	Site  []int32
	Load  []float64
}

// SyntheticWorld builds a reproducible world: sites spread over tiers and
// 20 countries (half tagged EU), RTTs of 1–150 ms, prices that fall from
// edge to cloud, and nodes spread evenly over the sites with random live
// load.
func SyntheticWorld(nodes, sites, sources int, seed uint64) (*scoring.World, *SyntheticNodes) {
	r := rand.New(rand.NewPCG(seed, 42))
	w := &scoring.World{Tags: []string{"EU"}}
	countries := []string{"DE", "FR", "IT", "ES", "NL", "PL", "SE", "AT", "BE", "IE",
		"US", "CA", "GB", "CH", "NO", "JP", "SG", "AU", "BR", "IN"}
	s := &w.Sites
	for i := range sites {
		s.Names = append(s.Names, "site-"+strconv.Itoa(i))
		tier := scoring.Tier(i % 4)
		s.Tier = append(s.Tier, tier)
		ci := r.IntN(len(countries))
		c, _ := scoring.CountryIndex(countries[ci])
		s.Country = append(s.Country, c)
		var tags scoring.TagSet
		if ci < 10 {
			tags.Add(0)
		}
		s.Tags = append(s.Tags, tags)
		s.ResidencyUnknown = append(s.ResidencyUnknown, false)
		base := 0.02 + 0.02*float64(tier)
		s.CPUPrice = append(s.CPUPrice, base*(0.8+0.4*r.Float64()))
		s.MemPrice = append(s.MemPrice, base/8)
		s.GPUPrice = append(s.GPUPrice, 2+float64(tier))
		s.Healthy = append(s.Healthy, r.IntN(50) != 0)
		s.PriceProvenance = append(s.PriceProvenance, scoring.Declared)
		s.HealthStale = append(s.HealthStale, false)
	}
	for j := range sources {
		w.SourceNames = append(w.SourceNames, "src-"+strconv.Itoa(j))
		w.SourceDemand = append(w.SourceDemand, float64(1+r.IntN(5)))
	}
	w.RTT = make([]float64, sites*sources)
	w.RTTProvenance = make([]scoring.Provenance, sites*sources)
	for k := range w.RTT {
		w.RTT[k] = 1 + 149*r.Float64()
	}
	// Every RTT is declared, so each is its own upper bound, as the world
	// model writes them.
	w.RTTUpper = append([]float64(nil), w.RTT...)
	n := &SyntheticNodes{}
	for i := range nodes {
		n.Names = append(n.Names, "node-"+strconv.Itoa(i))
		n.Site = append(n.Site, int32(i%sites))
		n.Load = append(n.Load, r.Float64())
	}
	return w, n
}

// SyntheticPolicy is an EU-resident, latency-led policy over every source
// with a cost term and a loose RTT bound, the common shape of a real one.
func SyntheticPolicy(w *scoring.World) *scoring.Policy {
	p := &scoring.Policy{HasResidency: true, MaxRTT: 140, Cores: 2, MemGiB: 4,
		WLatency: 3, WCost: 1, WLoad: 1}
	p.AllowTags.Add(0)
	for j := range w.NumSources() {
		p.Sources = append(p.Sources, j)
		p.Weights = append(p.Weights, w.SourceDemand[j])
	}
	return p
}
