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

func fuzzWorld(src *byteSource) *World {
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
		w.Sites.PriceStale = append(w.Sites.PriceStale, src.u8()%5 == 0)
		w.Sites.HealthStale = append(w.Sites.HealthStale, src.u8()%5 == 0)
	}
	for j := range m {
		w.SourceNames = append(w.SourceNames, string(rune('A'+j)))
		w.SourceDemand = append(w.SourceDemand, src.f64())
	}
	for range n * m {
		w.RTT = append(w.RTT, src.f64())
		w.RTTFlags = append(w.RTTFlags, src.u8()&7)
	}
	for i := range nodes {
		w.Nodes.Names = append(w.Nodes.Names, string(rune('n'+i)))
		w.Nodes.Site = append(w.Nodes.Site, int32(src.u8()%uint8(n+2))-1)
		w.Nodes.Load = append(w.Nodes.Load, src.f64())
		w.Nodes.LoadLive = append(w.Nodes.LoadLive, src.u8()%2 == 0)
		w.Nodes.LoadStale = append(w.Nodes.LoadStale, src.u8()%4 == 0)
	}
	return w
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

// FuzzCompileScore checks that compiling and scoring never panic, scores
// stay in 0..100, and a node in an infeasible site (or none) never scores.
func FuzzCompileScore(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{4, 2, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{8, 4, 16, 0, 1, 2, 0, 1, 2, 0, 1, 2, 255, 254, 253, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{b: data}
		w := fuzzWorld(src)
		p := fuzzPolicy(src, w.NumSources())
		var pl Plan
		for range 2 { // a reused plan must give the same answer
			pl.Compile(w, p)
			out := make([]int64, w.Nodes.Len())
			pl.ScoreAll(out)
			for i, v := range out {
				if v < 0 || v > MaxScore {
					t.Fatalf("node %d score %d outside 0..%d", i, v, MaxScore)
				}
				s := int(w.Nodes.Site[i])
				if !pl.SiteFeasible(s) && v != 0 {
					t.Fatalf("node %d in infeasible site %d scored %d", i, s, v)
				}
				if pl.NodeFeasible(i) && !pl.SiteFeasible(s) {
					t.Fatalf("node %d feasible in infeasible site %d", i, s)
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
