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
	"slices"
	"testing"
)

func TestJudgeSpread(t *testing.T) {
	// Four feasible sites, 0 best.
	feasible := []int32{0, 1, 2, 3}
	all := func(int32) bool { return true }
	full := func(sites ...int32) func(int32) bool {
		return func(s int32) bool { return !slices.Contains(sites, s) }
	}
	for _, tc := range []struct {
		name   string
		rule   Spread
		counts []SpreadCount
		room   func(int32) bool
		want   [4]SpreadReason
	}{
		{name: "nothing placed", rule: Spread{MinSites: 2}, room: all},
		{name: "minSites: the second pod goes to another site", rule: Spread{MinSites: 2},
			counts: []SpreadCount{{0, 1}}, room: all,
			want: [4]SpreadReason{SpreadMinSites}},
		{name: "minSites met: skew 1 keeps the used sites level", rule: Spread{MinSites: 2, MaxSkew: 1},
			counts: []SpreadCount{{1, 1}, {0, 2}}, room: all,
			want: [4]SpreadReason{SpreadMaxSkew}},
		{name: "level sites take one more each", rule: Spread{MinSites: 2, MaxSkew: 1},
			counts: []SpreadCount{{0, 2}, {1, 2}}, room: all},
		{name: "maxSkew 2", rule: Spread{MaxSkew: 2},
			counts: []SpreadCount{{0, 3}, {1, 1}}, room: all,
			want: [4]SpreadReason{SpreadMaxSkew}},
		{name: "skew defaults to 1", rule: Spread{MinSites: 1},
			counts: []SpreadCount{{0, 2}, {1, 1}}, room: all,
			want: [4]SpreadReason{SpreadMaxSkew}},
		{name: "the least-used site is full: skew counts from the least with room", rule: Spread{MaxSkew: 1},
			counts: []SpreadCount{{0, 3}, {1, 1}}, room: full(1)},
		{name: "every used site full: no skew bound", rule: Spread{MaxSkew: 1},
			counts: []SpreadCount{{0, 3}, {1, 1}}, room: full(0, 1)},
		{name: "minSites waived when no unused site has room", rule: Spread{MinSites: 3, MaxSkew: 5},
			counts: []SpreadCount{{0, 1}, {1, 1}}, room: full(2, 3)},
		{name: "minSites with only some unused sites full", rule: Spread{MinSites: 3, MaxSkew: 5},
			counts: []SpreadCount{{0, 1}, {1, 1}}, room: full(2),
			want: [4]SpreadReason{SpreadMinSites, SpreadMinSites}},
		{name: "maxPerSite caps, without a skew bound", rule: Spread{MaxPerSite: 2},
			counts: []SpreadCount{{0, 2}, {1, 1}, {2, 5}}, room: all,
			want: [4]SpreadReason{SpreadMaxPerSite, SpreadAllowed, SpreadMaxPerSite}},
		{name: "maxPerSite holds even when nothing else has room", rule: Spread{MaxPerSite: 1},
			counts: []SpreadCount{{0, 1}, {1, 1}, {2, 1}, {3, 1}}, room: all,
			want: [4]SpreadReason{SpreadMaxPerSite, SpreadMaxPerSite, SpreadMaxPerSite, SpreadMaxPerSite}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := JudgeSpread(tc.rule, slices.Clone(tc.counts), feasible, tc.room)
			for s := range int32(4) {
				if got := v.Reason(s); got != tc.want[s] {
					t.Errorf("site %d: %v, want %v (counts %v)", s, got, tc.want[s], tc.counts)
				}
			}
			// The skew bound alone never leaves every site with room out.
			if tc.rule.MaxPerSite == 0 {
				ok := false
				for s := range int32(4) {
					ok = ok || tc.room(s) && v.Reason(s) == SpreadAllowed
				}
				if !ok {
					t.Errorf("no site with room is allowed")
				}
			}
		})
	}
}

// TestJudgeSpreadPlacesEvenly places pods one by one on the best allowed
// site, as the scheduler would when site 0 always scores best.
func TestJudgeSpreadPlacesEvenly(t *testing.T) {
	for _, tc := range []struct {
		rule     Spread
		feasible []int32
		pods     int
		want     []int32
	}{
		{Spread{MinSites: 2, MaxSkew: 1}, []int32{0, 1}, 6, []int32{3, 3}},
		{Spread{MinSites: 2, MaxSkew: 1}, []int32{0, 1, 2}, 6, []int32{3, 3, 0}},
		{Spread{MinSites: 3, MaxSkew: 1}, []int32{0, 1, 2, 3}, 7, []int32{3, 2, 2, 0}},
		{Spread{MinSites: 2, MaxSkew: 2}, []int32{0, 1, 2}, 6, []int32{4, 2, 0}},
		{Spread{MaxPerSite: 2}, []int32{0, 1, 2}, 5, []int32{2, 2, 1}},
	} {
		got := make([]int32, len(tc.feasible))
		for range tc.pods {
			var counts []SpreadCount
			for s, n := range got {
				if n > 0 {
					counts = append(counts, SpreadCount{int32(s), n})
				}
			}
			v := JudgeSpread(tc.rule, counts, tc.feasible, func(int32) bool { return true })
			placed := false
			for _, s := range tc.feasible {
				if v.Reason(s) == SpreadAllowed {
					got[s]++
					placed = true
					break
				}
			}
			if !placed {
				t.Fatalf("%+v: no site allowed after %v", tc.rule, got)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v over %d sites: %v, want %v", tc.rule, len(tc.feasible), got, tc.want)
		}
	}
}
