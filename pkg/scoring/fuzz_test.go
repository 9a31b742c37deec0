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

package scoring

import (
	"encoding/binary"
	"math"
	"testing"
)

// byteSource turns fuzz input into values; it yields zeros when exhausted.
type byteSource struct{ b []byte }

func (s *byteSource) u8() uint8 {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

// f64 returns any float64, NaN, ±Inf and huge values included.
func (s *byteSource) f64() float64 {
	switch s.u8() % 8 {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	case 3:
		return 0
	case 4:
		if len(s.b) < 8 {
			return -1
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(s.b))
		s.b = s.b[8:]
		return v
	default:
		return float64(s.u8()) * float64(s.u8())
	}
}

// fuzzNode is a node as Score sees it: its site (-1 or beyond the sites: a
// node in no known site) and its load.
type fuzzNode struct {
	site int
	load NodeLoad
}

func fuzzWorld(src *byteSource) (*World, []fuzzNode) {
	n, m, nodes := int(src.u8()%9), int(src.u8()%5), int(src.u8()%17)
	w := &World{Tags: []string{"EU", "EEA"}}
	for s := range n {
		w.Sites.Names = append(w.Sites.Names, string(rune('a'+s)))
		w.Sites.Tier = append(w.Sites.Tier, Tier(src.u8()%uint8(numTiers)))
		w.Sites.Country = append(w.Sites.Country, uint16(src.u8())*3%676)
		var tags TagSet
		if src.u8()%2 == 0 {
			tags.Add(int(src.u8() % 2))
		}
		w.Sites.Tags = append(w.Sites.Tags, tags)
		w.Sites.ResidencyUnknown = append(w.Sites.ResidencyUnknown, src.u8()%7 == 0)
		w.Sites.CPUPrice = append(w.Sites.CPUPrice, src.f64())
		w.Sites.MemPrice = append(w.Sites.MemPrice, src.f64())
		w.Sites.GPUPrice = append(w.Sites.GPUPrice, src.f64())
		w.Sites.Healthy = append(w.Sites.Healthy, src.u8()%5 != 0)
		w.Sites.PriceProvenance = append(w.Sites.PriceProvenance, Provenance(src.u8()&15))
		w.Sites.HealthStale = append(w.Sites.HealthStale, src.u8()%5 == 0)
	}
	for j := range m {
		w.SourceNames = append(w.SourceNames, string(rune('A'+j)))
		w.SourceDemand = append(w.SourceDemand, src.f64())
	}
	for range n * m {
		w.RTT = append(w.RTT, src.f64())
		w.RTTProvenance = append(w.RTTProvenance, Provenance(src.u8()&15))
	}
	ns := make([]fuzzNode, nodes)
	for i := range ns {
		ns[i] = fuzzNode{site: int(src.u8()%uint8(n+2)) - 1,
			load: NodeLoad{Value: src.f64(), Live: src.u8()%2 == 0, Stale: src.u8()%4 == 0}}
	}
	return w, ns
}

func fuzzPolicy(src *byteSource, m int) *Policy {
	p := &Policy{
		AllowAll:     src.u8()%2 == 0,
		HasResidency: src.u8()%2 == 0,
		Tiers:        TierMask(src.u8() % 16),
		Objective:    Objective(src.u8() % 2),
		MaxRTT:       src.f64(),
		MaxHourly:    src.f64(),
		Cores:        src.f64(),
		MemGiB:       src.f64(),
		GPUs:         src.f64(),
		WLatency:     src.f64(),
		WCost:        src.f64(),
		WLoad:        src.f64(),
		MaxLoad:      src.f64(),

		RejectStaleRTT:    src.u8()%2 == 0,
		RejectStalePrice:  src.u8()%2 == 0,
		RejectStaleHealth: src.u8()%2 == 0,
		RejectStaleLoad:   src.u8()%2 == 0,
	}
	p.AllowCountries.Add(uint16(src.u8()) * 3 % 676)
	p.DenyCountry.Add(uint16(src.u8()) * 5 % 676)
	p.AllowTags.Add(int(src.u8() % 2))
	for range src.u8() % 6 {
		// Out-of-range source indices must be tolerated.
		p.Sources = append(p.Sources, int(src.u8()%uint8(m+2))-1)
		p.Weights = append(p.Weights, src.f64())
	}
	return p
}

// FuzzEvaluateScore checks that evaluating and scoring never panic, scores
// stay in 0..100, a node in an infeasible site (or none) never scores, and
// the load rule rejects only live loads.
func FuzzEvaluateScore(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{4, 2, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{8, 4, 16, 0, 1, 2, 0, 1, 2, 0, 1, 2, 255, 254, 253, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{b: data}
		w, nodes := fuzzWorld(src)
		p := fuzzPolicy(src, w.NumSources())
		var pl Plan
		for range 2 { // a reused plan must give the same answer
			pl.Evaluate(w, p)
			for i, n := range nodes {
				fine := pl.NodeScore(n.site, n.load.Value)
				v := pl.CandidateScore(fine, 0, FineMaxScore)
				if v < 0 || v > MaxScore || fine.Site() < 0 || fine.Site() > FineMaxScore || fine.Load() < 0 || fine.Load() > FineMaxScore {
					t.Fatalf("node %d scores %d (site %d, load %d) outside 0..%d and 0..%d", i, v, fine.Site(), fine.Load(), MaxScore, FineMaxScore)
				}
				if !pl.SiteFeasible(n.site) && fine != 0 {
					t.Fatalf("node %d in infeasible site %d scored %d", i, n.site, v)
				}
				if pl.LoadRule(n.load) != LoadAllowed && !n.load.Live && !n.load.Stale {
					t.Fatalf("node %d of a load signal not read rejected by the load rule", i)
				}
			}
			var counted int32
			for _, c := range pl.ReasonCounts() {
				counted += c
			}
			if int(counted) != w.Sites.Len() || pl.NumFeasible() != len(pl.Ranked()) {
				t.Fatalf("reason counts %v do not add up to %d sites", pl.ReasonCounts(), w.Sites.Len())
			}
			for _, s := range pl.Ranked() {
				if !pl.SiteFeasible(int(s)) {
					t.Fatalf("ranked site %d is infeasible", s)
				}
				if p.HasResidency && w.Sites.ResidencyUnknown[s] {
					t.Fatalf("site %d with unknown residency data is feasible for a residency policy", s)
				}
			}
		}
	})
}
