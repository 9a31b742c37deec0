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

package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// ProbeList is `kubectl proxima probes`' answer: the RTT pairs the
// fleet's exporters are asked to measure this round, and why.
type ProbeList struct {
	Version int `json:"version"`
	// Budget: pairs per round in all, per site, and from the refresh tier.
	Budget ProbeBudget `json:"budget"`
	// Wanted and Deferred count pairs per tier (bound, ranking, refresh):
	// the candidates, and those the budget leaves for a later round.
	Wanted   map[string]int `json:"wanted"`
	Deferred map[string]int `json:"deferred"`
	Pairs    []ProbePair    `json:"pairs"`
	// SitePairs are the planned pairs of sites, while site RTTs are read
	// live (docs/rtt.md, Pairs of sites).
	SitePairs []ProbeSitePair `json:"sitePairs"`
	// Unplanned says why some policies' pairs of sites were not planned
	// (a dependency that cannot be located).
	Unplanned string       `json:"unplanned,omitempty"`
	World     WorldSummary `json:"world"`
}

// ProbeSitePair is one planned pair of sites: probed from From, where the
// policy's pods may run, to To, where its dependency runs.
type ProbeSitePair struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Dependency is what the pair matters most to, in the ProbeRTT's
	// policy.
	Dependency string `json:"dependency"`
	ProbeRTT   `json:",inline"`
}

// ProbeRTT is what a planned pair and a planned pair of sites both say.
type ProbeRTT struct {
	// Tier is bound, ranking or refresh (docs/rtt.md).
	Tier string `json:"tier"`
	// Policy is the policy the pair matters most to.
	Policy string `json:"policy"`
	// RTTMilliseconds is the RTT in use and Provenance where it came from;
	// UpperMilliseconds the bound it would have without a measurement.
	RTTMilliseconds   *float64 `json:"rttMilliseconds,omitempty"`
	UpperMilliseconds *float64 `json:"upperMilliseconds,omitempty"`
	Provenance        string   `json:"provenance"`
	Why               string   `json:"why"`
}

// ProbeBudget is a probeplan.Budget.
type ProbeBudget struct {
	Pairs   int `json:"pairs"`
	PerSite int `json:"perSite"`
	Refresh int `json:"refresh"`
}

// ProbePair is one planned pair.
type ProbePair struct {
	Source   string `json:"source"`
	Site     string `json:"site"`
	ProbeRTT `json:",inline"`
}

// Probes is the probe plan of the world's first round (the refresh tier
// rotates from round to round in proxima-controller).
func Probes(w *simulate.World) *ProbeList {
	b := w.Settings.Probes()
	plan, err := w.Snap.ProbePlanWith(w, b, 0)
	l := &ProbeList{Version: OutputVersion, Budget: ProbeBudget{Pairs: b.Pairs, PerSite: b.PerSite, Refresh: b.Refresh},
		Wanted: map[string]int{}, Deferred: map[string]int{}, World: summary(w)}
	if err != nil {
		l.Unplanned = err.Error()
	}
	for t := range probeplan.NumTiers {
		l.Wanted[t.String()], l.Deferred[t.String()] = plan.Wanted[t], plan.Deferred[t]
	}
	l.Pairs = []ProbePair{}
	for i := range plan.Pairs {
		p := &plan.Pairs[i]
		l.Pairs = append(l.Pairs, ProbePair{Source: w.Snap.World.SourceNames[p.Source], Site: w.Snap.World.Sites.Names[p.Site],
			ProbeRTT: ProbeRTT{Tier: p.Tier.String(), Policy: p.Policy, RTTMilliseconds: state.Finite(p.Value), UpperMilliseconds: state.Finite(p.Upper),
				Provenance: w.Snap.World.RTTNote(p.Site, p.Source), Why: p.Why()}})
	}
	l.SitePairs = []ProbeSitePair{}
	for i := range plan.Links {
		p := &plan.Links[i]
		l.SitePairs = append(l.SitePairs, ProbeSitePair{From: w.Snap.World.Sites.Names[p.Site], To: w.Snap.World.Sites.Names[p.Peer],
			Dependency: p.Dependency, ProbeRTT: ProbeRTT{Tier: p.Tier.String(), Policy: p.Policy, RTTMilliseconds: state.Finite(p.Value),
				UpperMilliseconds: state.Finite(p.Upper), Provenance: p.Provenance.String(), Why: p.Why()}})
	}
	return l
}

// PrintProbes writes a ProbeList for people.
func PrintProbes(out io.Writer, l *ProbeList) {
	fmt.Fprintf(out, "%d pair(s) to probe this round (budget %d, %d per site, %d refresh); wanted: bound %d, ranking %d, refresh %d; deferred: bound %d, ranking %d, refresh %d\n",
		len(l.Pairs)+len(l.SitePairs), l.Budget.Pairs, l.Budget.PerSite, l.Budget.Refresh, l.Wanted["bound"], l.Wanted["ranking"], l.Wanted["refresh"],
		l.Deferred["bound"], l.Deferred["ranking"], l.Deferred["refresh"])
	if l.Unplanned != "" {
		fmt.Fprintf(out, "some pairs of sites are not planned: %s\n", l.Unplanned)
	}
	if len(l.Pairs) > 0 {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SOURCE\tSITE\tTIER\tRTT MS\tUPPER MS\tPROVENANCE\tWHY")
		for _, p := range l.Pairs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Source, p.Site, p.Tier, ms(p.RTTMilliseconds), ms(p.UpperMilliseconds), p.Provenance, p.Why)
		}
		_ = tw.Flush()
	}
	if len(l.SitePairs) > 0 {
		fmt.Fprintf(out, "%d pair(s) of sites, for dependencies:\n", len(l.SitePairs))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FROM SITE\tTO SITE\tTIER\tRTT MS\tUPPER MS\tPROVENANCE\tWHY")
		for _, p := range l.SitePairs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.From, p.To, p.Tier, ms(p.RTTMilliseconds), ms(p.UpperMilliseconds), p.Provenance, p.Why)
		}
		_ = tw.Flush()
	}
}
