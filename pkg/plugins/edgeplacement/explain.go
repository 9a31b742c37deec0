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
	"fmt"
	"math"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/proxima-sched/proxima/pkg/scoring"
)

// explainBinding explains the placement on nodeName; false when the node is
// gone or in no known site. It runs in the binding cycle, concurrently with
// the next scheduling cycle's snapshot update, so it reads the node from the
// informer cache, not from the framework's snapshot.
func (pl *EdgePlacement) explainBinding(s *preFilterState, nodeName string) (string, bool) {
	node, err := pl.nodes.Get(nodeName)
	if err != nil {
		return "", false
	}
	return explainOn(s, node)
}

// explainOn explains the placement on node; false when it is in no known
// site.
func explainOn(s *preFilterState, node *v1.Node) (string, bool) {
	site, ok := s.snap.SiteOfNode(node)
	if !ok {
		return "", false
	}
	return explain(s, site, node.Name), true
}

// explain is the bind-time explanation: site, tier, country, RTT per source
// (marked when not declared: live, estimated, or declared standing in for a
// live value that is stale or missing), hourly cost (marked likewise) and
// how many sites met the hard rules.
func explain(s *preFilterState, site int, nodeName string) string {
	w := s.snap.World
	var b strings.Builder
	fmt.Fprintf(&b, "PlacementPolicy %s placed the pod on %s in site %s (%s, %s)", s.policy.Name, nodeName,
		w.Sites.Names[site], w.Sites.Tier[site], scoring.CountryCode(w.Sites.Country[site]))
	if len(s.rules.Sources) > 0 {
		b.WriteString("; RTT")
		for i, j := range s.rules.Sources {
			if i > 0 {
				b.WriteString(",")
			}
			v, p := w.RTTAt(site, j)
			fmt.Fprintf(&b, " %s %s", w.SourceNames[j], formatRTT(v))
			if p != scoring.Declared {
				b.WriteString(" (" + w.RTTNote(site, j) + ")")
			}
		}
	}
	if c := s.plan.SiteCost(site); !math.IsInf(c, 0) {
		fmt.Fprintf(&b, "; cost %s/h", strconv.FormatFloat(c, 'f', 4, 64))
		switch p := w.Sites.PriceProvenance[site]; {
		case p&scoring.Absent != 0:
			b.WriteString(" (declared price; no live price)")
		case p&scoring.Stale != 0:
			b.WriteString(" (declared price; live price stale)")
		case p&scoring.Live != 0:
			b.WriteString(" (live price)")
		}
	}
	fmt.Fprintf(&b, "; %d of %d sites met the hard rules", s.plan.NumFeasible(), w.Sites.Len())
	return b.String()
}

func formatRTT(ms float64) string {
	if ms >= scoring.UnknownRTT {
		return "unknown"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
}
