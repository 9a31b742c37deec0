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
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/rebalance"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// testWorld: three sites, one 2-core node each; users measure
//
//	site  country  RTT  cpu/h
//	ber   DE (EU)  10   0.05
//	par   FR (EU)  25   0.03
//	zrh   CH        5   0.01
//
// and the policy eu (EU only, latency-led, max RTT maxRTT).
func testWorld(t *testing.T, maxRTT int32, pods ...*v1.Pod) *simulate.World {
	t.Helper()
	site := func(name, country string, tags []string, cpu string) *placementv1alpha1.Site {
		return &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
			Tier: placementv1alpha1.TierEdge, Country: country, Jurisdictions: tags,
			Pricing: &placementv1alpha1.SitePricing{CPUCoreHour: ptr.To(resource.MustParse(cpu))}}}
	}
	sites := []*placementv1alpha1.Site{site("ber", "DE", []string{"EU"}, "0.05"), site("par", "FR", []string{"EU"}, "0.03"), site("zrh", "CH", nil, "0.01")}
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}, Spec: placementv1alpha1.TrafficSourceSpec{
		RTTs: []placementv1alpha1.SiteRTT{{Site: "ber", Milliseconds: 10}, {Site: "par", Milliseconds: 25}, {Site: "zrh", Milliseconds: 5}}}}
	var nodes []*v1.Node
	for _, s := range sites {
		nodes = append(nodes, st.MakeNode().Name(s.Name+"-0").Label(placementv1alpha1.SiteLabel, s.Name).
			Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "2", v1.ResourceMemory: "8Gi", v1.ResourcePods: "110"}).Obj())
	}
	return simulate.NewWorld(sites, []*placementv1alpha1.TrafficSource{src}, []*placementv1alpha1.PlacementPolicy{euPolicy(maxRTT)}, nodes, pods, simulate.Settings{})
}

func euPolicy(maxRTT int32) *placementv1alpha1.PlacementPolicy {
	spec := placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}},
		Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}},
		Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
	}
	if maxRTT > 0 {
		spec.Latency.MaxRTTMilliseconds = ptr.To(maxRTT)
	}
	return &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "eu", Namespace: "shop"}, Spec: spec}
}

func pod(name, node, cpu string) *v1.Pod {
	p := st.MakePod().Namespace("shop").Name(name).Label(placementv1alpha1.PolicyLabel, "eu").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: cpu}).Node(node).Obj()
	return p
}

func TestExplainBoundPod(t *testing.T) {
	bound := pod("a", "ber-0", "1")
	e := Explain(testWorld(t, 0, bound), bound)
	if e.State != PodBound || e.Site != "ber" || e.Now == nil || e.Now.Site != "ber" {
		t.Fatalf("want bound in ber and chosen ber now, got %+v", e)
	}
	// ber 10 ms is best, par 25 ms lower; zrh excluded by residency.
	var verdicts []string
	for _, s := range e.Sites {
		verdicts = append(verdicts, s.Site+": "+s.Verdict)
	}
	if diff := cmp.Diff([]string{"ber: chosen", "par: lower score", "zrh: excluded: residency"}, verdicts); diff != "" {
		t.Errorf("verdicts (-want,+got):\n%s", diff)
	}
}

func TestExplainPendingPod(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxRTT   int32
		existing []*v1.Pod
		cpu      string
		want     []string // substrings of the suggestions
		excluded []RuleCount
	}{{
		name: "feasible sites full", existing: []*v1.Pod{pod("x", "ber-0", "2"), pod("y", "par-0", "1500m")}, cpu: "1",
		// ber has 0 free; 1 core more is needed there.
		want:     []string{"1 more CPU free on one node of site ber (most free on a node: 0 CPU"},
		excluded: []RuleCount{{Rule: "residency", Count: 1, Sites: []string{"zrh"}}},
	}, {
		name: "max RTT excludes every EU site", maxRTT: 8, cpu: "1",
		want: []string{"raise latency.maxRTTMilliseconds to 10 ms: admits site ber, which has room",
			"allow country CH in residency"},
		excluded: []RuleCount{{Rule: "residency", Count: 1, Sites: []string{"zrh"}}, {Rule: "max RTT", Count: 2, Sites: []string{"ber", "par"}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pending := pod("p", "", tc.cpu)
			w := testWorld(t, tc.maxRTT, append(tc.existing, pending)...)
			e := Explain(w, pending)
			if e.State != PodPending {
				t.Fatalf("state %s", e.State)
			}
			got := strings.Join(e.Suggestions, "\n")
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("suggestions lack %q:\n%s", want, got)
				}
			}
			if diff := cmp.Diff(tc.excluded, e.Excluded); diff != "" {
				t.Errorf("excluded (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestSimulate(t *testing.T) {
	// Each node has 2 cores; pods of 500m: ber takes 4, then par 4, then
	// nothing (zrh is outside the EU).
	w := testWorld(t, 0, pod("old", "par-0", "0"))
	r := Simulate(w, euPolicy(0), 10, v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m")})
	got := map[string][2]int{}
	for _, s := range r.Sites {
		got[s.Site] = [2]int{s.Pods, s.Today}
	}
	if diff := cmp.Diff(map[string][2]int{"ber": {4, 0}, "par": {4, 1}}, got); diff != "" {
		t.Errorf("pods, today per site (-want,+got):\n%s", diff)
	}
	if r.Placed != 8 || r.Unschedulable != 2 || !r.Existing {
		t.Errorf("placed %d, unschedulable %d, existing %v; want 8, 2, true", r.Placed, r.Unschedulable, r.Existing)
	}
	// mean RTT (4·10 + 4·25)/8 = 17.5; p95 is the 8th of 8: 25.
	if *r.MeanRTTMilliseconds != 17.5 || *r.P95RTTMilliseconds != 25 {
		t.Errorf("mean %v p95 %v, want 17.5 and 25", *r.MeanRTTMilliseconds, *r.P95RTTMilliseconds)
	}
	// The world is unchanged.
	if again := Simulate(w, euPolicy(0), 10, v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m")}); again.Placed != 8 {
		t.Errorf("a second simulation placed %d: the first changed the world", again.Placed)
	}
}

func TestJSONIsStable(t *testing.T) {
	w := testWorld(t, 0)
	var buf bytes.Buffer
	if err := Print(&buf, "json", Sites(w, nil), nil); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["version"] != float64(OutputVersion) {
		t.Errorf("version %v", doc["version"])
	}
	site := doc["sites"].([]any)[0].(map[string]any)
	for _, key := range []string{"site", "tier", "country", "free", "health", "priceLive", "healthLive", "liveRTTs", "pods"} {
		if _, ok := site[key]; !ok {
			t.Errorf("sites[0] lacks %q: %v", key, site)
		}
	}
}

// TestChooseNarrowsAsPreFilter: a policy that weighs load 3 to latency's 1
// prefers the empty par node (0.25·0 + 0.75·(1-0.5/2) = 0.56) to the busy
// ber one (0.25·1 + 0.75·(1-1.75/2) = 0.34), but only when par is a
// candidate: with minCandidateNodes 1, PreFilter keeps the best site, ber,
// which has room, and the scheduler places the pod there.
func TestChooseNarrowsAsPreFilter(t *testing.T) {
	busy := pod("busy", "ber-0", "1250m")
	for _, tc := range []struct {
		minCandidates int
		want          string
	}{{1, "ber"}, {100, "par"}} {
		w := testWorld(t, 0, busy)
		w.Settings.MinCandidateNodes = tc.minCandidates
		policy := euPolicy(0)
		policy.Spec.Weights.Load = ptr.To[int32](3)
		w = w.WithPolicy(policy)
		p := pod("p", "", "500m")
		pp, err := w.Snap.PlanPod(p, w.Settings.GPUs, w)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := w.Choose(pp, p)
		if got := w.Snap.World.Sites.Names[c.Site]; !ok || got != tc.want {
			t.Errorf("minCandidateNodes %d: chose %s (%v), want %s", tc.minCandidates, got, ok, tc.want)
		}
	}
}

// TestExplainSaysWhatChanged: the record says users was 12 ms from ber and
// 3 of 3 sites were feasible; the world now says 10 ms and 2 of 3. A
// version 1 record listed every source; a version 2 record keeps the
// heaviest and counts them all (here 2, where the policy now has 1).
func TestExplainSaysWhatChanged(t *testing.T) {
	for _, tc := range []struct {
		version, sourceCount int
		want                 []string
	}{
		{1, 0, []string{"RTT from users was 12.0 ms, now 10.0 ms", "3 of 3 sites met the hard rules, now 2 of 3"}},
		{2, 1, []string{"RTT from users was 12.0 ms, now 10.0 ms", "3 of 3 sites met the hard rules, now 2 of 3"}},
		{2, 2, []string{"the policy has 1 latency source(s), it had 2", "RTT from users was 12.0 ms, now 10.0 ms", "3 of 3 sites met the hard rules, now 2 of 3"}},
	} {
		bound := pod("a", "ber-0", "1")
		rec := placementv1alpha1.PlacementRecord{Version: tc.version, Policy: "eu", Node: "ber-0", Site: "ber", Tier: "Edge", Country: "DE",
			SourceCount: tc.sourceCount,
			RTTs:        []placementv1alpha1.SourceRTT{{Source: "users", Milliseconds: ptr.To(12.0), Provenance: "declared", Live: "notRead"}},
			HourlyCost:  ptr.To(0.05), CostProvenance: "declared", CostLive: "notRead", FeasibleSites: 3, TotalSites: 3}
		doc, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		bound.Annotations = map[string]string{placementv1alpha1.PlacementRecordAnnotation: string(doc)}
		e := Explain(testWorld(t, 0, bound), bound)
		if diff := cmp.Diff(tc.want, e.WorldChanges); diff != "" {
			t.Errorf("version %d, %d sources: world changes (-want,+got):\n%s", tc.version, tc.sourceCount, diff)
		}
	}
}

// TestExplainTaintedBestSite: ber's only node has a NoSchedule taint the
// pod does not tolerate. Narrowing passes over it (NodeHasRoom applies the
// pod's node admission), so even with minCandidateNodes 1 the pod goes to
// par.
func TestExplainTaintedBestSite(t *testing.T) {
	p := pod("p", "", "500m")
	w := testWorld(t, 0, p)
	w.Nodes["ber-0"].Node().Spec.Taints = []v1.Taint{{Key: "maintenance", Effect: v1.TaintEffectNoSchedule}}
	w.Settings.MinCandidateNodes = 1
	e := Explain(w, p)
	var verdicts []string
	for _, s := range e.Sites {
		if s.Rank > 0 {
			verdicts = append(verdicts, s.Site+": "+s.Verdict)
		}
	}
	if diff := cmp.Diff([]string{"ber: no room", "par: chosen"}, verdicts); diff != "" {
		t.Errorf("verdicts (-want,+got):\n%s", diff)
	}
}

// TestChooseWidensAsPostFilter: ber's node is over the policy's load
// bound, which narrowing does not model; the scheduler's narrowed attempt
// (ber alone, minCandidateNodes 1) fails, PostFilter widens, and the next
// attempt places the pod in par.
func TestChooseWidensAsPostFilter(t *testing.T) {
	p := pod("p", "", "500m")
	w := testWorld(t, 0, p)
	w.Settings.MinCandidateNodes = 1
	w.Settings.Live = &state.Live{NodeLoad: state.Signal[string, float64]{Enabled: true, Fresh: true,
		Values: map[string]float64{"ber-0": 0.95, "par-0": 0.1, "zrh-0": 0.1}}}
	policy := euPolicy(0)
	policy.Spec.Telemetry = &placementv1alpha1.TelemetryPolicy{MaxNodeUtilizationPercent: ptr.To[int32](80)}
	w = w.WithPolicy(policy)
	pp, err := w.Snap.PlanPod(p, w.Settings.GPUs, w)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := w.Choose(pp, p)
	if got := w.Snap.World.Sites.Names[c.Site]; !ok || got != "par" {
		t.Errorf("chose %s (%v), want par", got, ok)
	}
}

// TestExplainRebalanceAndNotes: a bound pod of a policy that opts into the
// rebalancer gets its verdict (par, while ber is 15 ms closer, should move
// there); a pod naming another scheduler, or held by the policy gate, says
// so.
func TestExplainRebalanceAndNotes(t *testing.T) {
	inPar := pod("a", "par-0", "1")
	w := testWorld(t, 0, inPar)
	w.Settings.SchedulerName = "proxima-scheduler"
	inPar.Spec.SchedulerName = "proxima-scheduler"
	if e := Explain(w, inPar); e.Rebalance != nil || len(e.Notes) != 0 {
		t.Fatalf("no rebalance block and no notes wanted without spec.rebalance, got %+v, %v", e.Rebalance, e.Notes)
	}
	policy := euPolicy(0)
	policy.Spec.Rebalance = &placementv1alpha1.RebalancePolicy{Mode: placementv1alpha1.RebalanceDryRun}
	w = w.WithPolicy(policy)
	if r := Explain(w, inPar).Rebalance; r == nil || r.Move || !strings.Contains(r.Message, "no controller") {
		t.Errorf("a pod without a controller: verdict %+v, want never moved", r)
	}
	owned := func(p *v1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs", Controller: ptr.To(true)}}
	}
	owned(inPar)
	e := Explain(w, inPar)
	if r := e.Rebalance; r == nil || !r.Move || r.ToSite != "ber" || r.Reason != placementv1alpha1.RebalanceBetterSite || r.Mode != "DryRun" {
		t.Errorf("rebalance verdict %+v, want DryRun move to ber for a better site", e.Rebalance)
	}
	inBer := pod("b", "ber-0", "1")
	inBer.Spec.SchedulerName = "proxima-scheduler"
	owned(inBer)
	if r := Explain(w, inBer).Rebalance; r == nil || r.Move {
		t.Errorf("a pod in the best site: verdict %+v, want stays", r)
	}
	// A Job's pod whose Job does not ignore disruptions is never moved;
	// a pod whose claim cannot be checked is held where it is.
	jobPod := pod("j", "par-0", "1")
	jobPod.Spec.SchedulerName = "proxima-scheduler"
	jobPod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "report", UID: "job", Controller: ptr.To(true)}}
	w.Jobs = []*batchv1.Job{{ObjectMeta: metav1.ObjectMeta{Namespace: jobPod.Namespace, Name: "report", UID: "job"}}}
	if r := Explain(w, jobPod).Rebalance; r == nil || r.Move || r.Never != string(rebalance.NeverJob) || !strings.Contains(r.Message, "backoffLimit") {
		t.Errorf("a Job's pod: verdict %+v, want never moved under rule JobPod", r)
	}
	withClaim := pod("v", "par-0", "1")
	withClaim.Spec.SchedulerName = "proxima-scheduler"
	owned(withClaim)
	withClaim.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "data-v"}}}}
	if r := Explain(w, withClaim).Rebalance; r == nil || r.Move || r.Hold != string(rebalance.HoldVolume) || r.ToSite != "ber" {
		t.Errorf("a pod with a claim that cannot be checked: verdict %+v, want held (VolumeBound) instead of a move to ber", r)
	}
	other := pod("c", "", "1")
	other.Spec.SchedulerName = "default-scheduler"
	other.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: placementv1alpha1.PolicyGate}}
	notes := strings.Join(Explain(w, other).Notes, "\n")
	if !strings.Contains(notes, `names scheduler "default-scheduler"`) || !strings.Contains(notes, placementv1alpha1.PolicyGate) {
		t.Errorf("notes %q lack the other scheduler or the gate", notes)
	}
}

// An estimated RTT whose central value is within the max RTT but whose
// upper bound is not excludes its site: the explanation names the pair,
// says the probe plan measures it, and suggests measuring before
// loosening; kubectl proxima probes lists it, and never a declared pair.
func TestExplainNamesTheEstimateThatExcludes(t *testing.T) {
	w := testWorld(t, 20)
	loc := placementv1alpha1.GeoLocation{Latitude: "52.52", Longitude: "13.40"}
	var sites []*placementv1alpha1.Site
	for _, s := range w.Snap.Sites() {
		s = s.DeepCopy()
		s.Spec.Location = loc
		sites = append(sites, s)
	}
	src := w.Snap.Sources()[0].DeepCopy()
	src.Spec.Location = &loc
	src.Spec.RTTs = slicesDeleteSite(src.Spec.RTTs, "ber")
	var nodes []*v1.Node
	for _, ni := range w.Nodes {
		nodes = append(nodes, ni.Node())
	}
	pending := pod("p", "", "1")
	w = simulate.NewWorld(sites, []*placementv1alpha1.TrafficSource{src}, []*placementv1alpha1.PlacementPolicy{euPolicy(20)}, nodes,
		[]*v1.Pod{pending}, simulate.Settings{})

	e := Explain(w, pending)
	var ber *SiteVerdict
	for i := range e.Sites {
		if e.Sites[i].Site == "ber" {
			ber = &e.Sites[i]
		}
	}
	if ber == nil || ber.Verdict != "excluded: max RTT" || len(ber.OverBound) != 1 {
		t.Fatalf("ber: %+v, want excluded by max RTT with one pair over the bound", ber)
	}
	if o := ber.OverBound[0]; o.Source != "users" || !o.Estimate || o.Probe != "bound" || o.UpperMilliseconds == nil || !(*o.UpperMilliseconds > 20) {
		t.Errorf("pair over the bound: %+v, want users, an estimate within 20 ms at its centre, upper bound over it, planned in tier bound", o)
	}
	var out bytes.Buffer
	PrintExplanation(&out, e, 0)
	if !strings.Contains(out.String(), "users estimated 5.0 ms, upper bound") || !strings.Contains(out.String(), "probe planned") {
		t.Errorf("table does not name the estimate and the probe:\n%s", out.String())
	}
	measure, raise := -1, -1
	for i, s := range e.Suggestions {
		switch {
		case strings.HasPrefix(s, "measure the RTT from users (estimated 5.0 ms") && strings.Contains(s, "planned for probing") && strings.Contains(s, "admits site ber"):
			measure = i
		case strings.HasPrefix(s, "raise latency.maxRTTMilliseconds"):
			raise = i
		}
	}
	if measure < 0 || raise < 0 || measure > raise {
		t.Errorf("want measuring suggested before raising the bound:\n%s", strings.Join(e.Suggestions, "\n"))
	}

	l := Probes(w)
	var pairs []string
	for _, p := range l.Pairs {
		pairs = append(pairs, p.Source+"->"+p.Site+" "+p.Tier)
	}
	if diff := cmp.Diff([]string{"users->ber bound"}, pairs); diff != "" {
		t.Errorf("probes (-want,+got):\n%s", diff)
	}
}

func slicesDeleteSite(rtts []placementv1alpha1.SiteRTT, site string) []placementv1alpha1.SiteRTT {
	var out []placementv1alpha1.SiteRTT
	for _, r := range rtts {
		if r.Site != site {
			out = append(out, r)
		}
	}
	return out
}

// TestSitesFilter: `sites NAME...` and `--selector` list only their sites,
// count pods only there, and a name no Site has is an error even when the
// selector would leave that site out anyway.
func TestSitesFilter(t *testing.T) {
	w := testWorld(t, 0, pod("a", "ber-0", "500m"), pod("b", "par-0", "500m"))
	for _, s := range w.Snap.Sites() {
		s.Labels = map[string]string{"eu": strconv.FormatBool(s.Spec.Country != "CH")}
	}
	for _, tc := range []struct {
		names    []string
		selector string
		want     []string
		missing  []string
		wantErr  bool
	}{
		{want: []string{"ber", "par", "zrh"}},
		{names: []string{"zrh", "par"}, want: []string{"par", "zrh"}},
		{selector: "eu=true", want: []string{"ber", "par"}},
		{names: []string{"ber", "zrh"}, selector: "eu=true", want: []string{"ber"}},
		{names: []string{"ber", "lon"}, want: []string{"ber"}, missing: []string{"lon"}},
		{selector: "eu in (", wantErr: true},
	} {
		t.Run(fmt.Sprintf("%v %q", tc.names, tc.selector), func(t *testing.T) {
			keep, err := siteFilter(tc.names, tc.selector)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want an error: %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			l := Sites(w, keep)
			got := []string{}
			pods := 0
			for _, s := range l.Sites {
				got = append(got, s.Site)
				pods += s.Pods["shop/eu"]
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sites (-want,+got):\n%s", diff)
			}
			wantPods := 0
			for _, s := range tc.want {
				if s != "zrh" {
					wantPods++
				}
			}
			if pods != wantPods {
				t.Errorf("%d pods counted, want %d (those on the listed sites)", pods, wantPods)
			}
			if diff := cmp.Diff(tc.missing, missingSites(tc.names, w)); diff != "" {
				t.Errorf("missing (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestExplainTableTop: at fleet size the table shows the best-ranked
// sites and the pod's own wherever it ranks, counts the rest, and each hard
// rule names only as many excluded sites; 0 shows everything.
func TestExplainTableTop(t *testing.T) {
	e := &Explanation{Namespace: "shop", Pod: "p", Policy: "eu", State: PodBound, Node: "n", Site: "s-25"}
	for i := 30; i >= 1; i-- { // not in rank order
		e.Sites = append(e.Sites, SiteVerdict{Site: fmt.Sprintf("s-%02d", i), Rank: i, Verdict: "lower score"})
	}
	e.Sites = append(e.Sites, SiteVerdict{Site: "x", Verdict: "excluded: residency"})
	var excluded []string
	for i := range 12 {
		excluded = append(excluded, fmt.Sprintf("x-%d", i))
	}
	e.Excluded = []RuleCount{{Rule: "residency", Count: 12, Sites: excluded}}
	for _, tc := range []struct {
		top          int
		rows         []string
		more         string
		excludedText string
	}{
		{5, []string{"s-01", "s-02", "s-03", "s-04", "s-05", "s-25"}, "... and 24 more site(s)", "x-0, x-1, x-2, x-3, x-4 and 7 more"},
		{0, nil, "", strings.Join(excluded, ", ")},
	} {
		var out bytes.Buffer
		PrintExplanation(&out, e, tc.top)
		var rows []string
		for _, l := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[0], "s-") {
				rows = append(rows, f[0])
			}
		}
		if tc.rows == nil {
			if len(rows) != 30 {
				t.Errorf("top 0: %d rows, want all 30:\n%s", len(rows), out.String())
			}
		} else if diff := cmp.Diff(tc.rows, rows); diff != "" {
			t.Errorf("top %d rows (-want,+got):\n%s", tc.top, diff)
		}
		if tc.more != "" && !strings.Contains(out.String(), tc.more) || tc.more == "" && strings.Contains(out.String(), "more site(s)") {
			t.Errorf("top %d: want %q counted:\n%s", tc.top, tc.more, out.String())
		}
		if !strings.Contains(out.String(), "12 site(s): residency ("+tc.excludedText+")") {
			t.Errorf("top %d: exclusions not %q:\n%s", tc.top, tc.excludedText, out.String())
		}
	}
}

// explain shows the RTT to each dependency at every site, names the one
// whose bound excludes a site, suggests the bound that would admit it,
// and says when a dependency runs nowhere yet.
func TestExplainDependencies(t *testing.T) {
	w := testWorld(t, 0)
	// ber–par declared at 12 ms; ber and par have no location, so every
	// pair with zrh is unknown.
	sites := slices.Clone(w.Snap.Sites())
	for i, s := range sites {
		if s.Name == "ber" {
			s = s.DeepCopy()
			s.Spec.RTTs = []placementv1alpha1.SiteRTT{{Site: "par", Milliseconds: 12}}
			if s.Spec.Pricing == nil {
				s.Spec.Pricing = &placementv1alpha1.SitePricing{}
			}
			s.Spec.Pricing.EgressGiB = ptr.To(resource.MustParse("0.01"))
			sites[i] = s
		}
	}
	policy := euPolicy(0)
	policy.Spec.Dependencies = []placementv1alpha1.DependencyRef{
		{Name: "db", MaxRTTMilliseconds: ptr.To[int32](5), PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}},
			Traffic: &placementv1alpha1.Traffic{ReceivedGiBPerHour: ptr.To(resource.MustParse("10"))}},
		{Name: "cache", PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "cache"}}},
	}
	db := st.MakePod().Namespace("shop").Name("db-0").Label("app", "db").Node("ber-0").Obj()
	pending := pod("api", "", "1")
	w = simulate.NewWorld(sites, w.Snap.Sources(), []*placementv1alpha1.PlacementPolicy{policy}, nodesOf(w), []*v1.Pod{db, pending}, simulate.Settings{})
	e := Explain(w, pending)
	if e.Now == nil || e.Now.Site != "ber" {
		t.Fatalf("want ber chosen (0 ms to the database), got %+v", e.Now)
	}
	want := []placementv1alpha1.DependencyRTT{
		{Dependency: "db", Sites: 1, Milliseconds: ptr.To(0.0), Provenance: "declared", Live: "notRead"},
		{Dependency: "cache", Provenance: "unknown", Live: "notRead"},
	}
	if diff := cmp.Diff(want, e.Now.Dependencies); diff != "" {
		t.Errorf("dependencies at the chosen site (-want +got):\n%s", diff)
	}
	var par *SiteVerdict
	for i := range e.Sites {
		if e.Sites[i].Site == "par" {
			par = &e.Sites[i]
		}
	}
	if par == nil || par.Verdict != "excluded: dependency RTT" || !strings.Contains(par.DependencyOverBound, "db 12.0 ms, over 5 ms") {
		t.Fatalf("par: %+v, want excluded by db's bound at 12 ms", par)
	}
	// The database's 10 GiB/h leave ber at 0.01 a GiB for a pod in par;
	// nothing leaves ber for a pod beside it.
	if par.EgressHourly == nil || math.Abs(*par.EgressHourly-0.1) > 1e-9 || e.Now.Egress != nil {
		t.Errorf("egress at par %v, at ber %v; want 0.1/h and none", par.EgressHourly, e.Now.Egress)
	}
	var out strings.Builder
	PrintExplanation(&out, e, DefaultExplainSites)
	for _, s := range []string{"RTT to dependency db (1 site(s)) 0.0 ms", "dependency cache not running yet"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("explanation lacks %q:\n%s", s, out.String())
		}
	}
}

// TestProbesSitePairs: while site RTTs are read live, `probes` lists the
// pairs of sites a dependency's bound rests on: zrh to ber, where the
// database runs, has nothing to estimate it from (ber has no location);
// par to ber is declared and never probed. With site RTTs not read, none.
func TestProbesSitePairs(t *testing.T) {
	w := testWorld(t, 0)
	sites := slices.Clone(w.Snap.Sites())
	for i, s := range sites {
		if s.Name == "ber" {
			s = s.DeepCopy()
			s.Spec.RTTs = []placementv1alpha1.SiteRTT{{Site: "par", Milliseconds: 12}}
			sites[i] = s
		}
	}
	policy := euPolicy(0)
	policy.Spec.Residency = nil
	policy.Spec.Dependencies = []placementv1alpha1.DependencyRef{{Name: "db", MaxRTTMilliseconds: ptr.To[int32](5),
		PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}}}
	db := st.MakePod().Namespace("shop").Name("db-0").Label("app", "db").Node("ber-0").Obj()
	for _, tc := range []struct {
		name string
		live *state.Live
		want []string
	}{
		{"site RTTs not read", nil, []string{}},
		{"site RTTs read", &state.Live{SiteRTT: state.Signal[state.SitePair, float64]{Enabled: true, Fresh: true}}, []string{"zrh->ber bound db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := simulate.NewWorld(sites, w.Snap.Sources(), []*placementv1alpha1.PlacementPolicy{policy}, nodesOf(w), []*v1.Pod{db},
				simulate.Settings{Live: tc.live})
			l := Probes(w)
			got := []string{}
			for _, p := range l.SitePairs {
				got = append(got, p.From+"->"+p.To+" "+p.Tier+" "+p.Dependency)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("site pairs (-want,+got):\n%s", diff)
			}
			raw, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 0 && !strings.Contains(string(raw), `"from":"zrh","to":"ber","dependency":"db","tier":"bound","policy":"shop/eu"`) {
				t.Errorf("JSON does not flatten a pair of sites' fields: %s", raw)
			}
			var out strings.Builder
			PrintProbes(&out, l)
			if len(got) > 0 && !strings.Contains(out.String(), "pair(s) of sites, for dependencies") {
				t.Errorf("the table lacks the pairs of sites:\n%s", out.String())
			}
		})
	}
}

func nodesOf(w *simulate.World) []*v1.Node {
	var out []*v1.Node
	for _, ni := range w.Nodes {
		out = append(out, ni.Node())
	}
	return out
}

// TestExplainSpread: a pending replica whose ReplicaSet already runs in
// ber, the best site, is placed in par under spread.minSites 2, and ber's
// verdict says the spread rule keeps it off; the same replica of another
// ReplicaSet would go to ber.
func TestExplainSpread(t *testing.T) {
	replica := func(name, node, owner string) *v1.Pod {
		p := pod(name, node, "100m")
		p.UID = types.UID(name)
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID(owner), Controller: ptr.To(true)}}
		return p
	}
	w := testWorld(t, 0)
	policy := euPolicy(0)
	policy.Spec.Spread = &placementv1alpha1.SpreadPolicy{MinSites: ptr.To[int32](2)}
	running, pending, other := replica("web-0", "ber-0", "web"), replica("web-1", "", "web"), replica("api-0", "", "api")
	w = simulate.NewWorld(w.Snap.Sites(), w.Snap.Sources(), []*placementv1alpha1.PlacementPolicy{policy}, nodesOf(w),
		[]*v1.Pod{running, pending, other}, simulate.Settings{})
	e := Explain(w, pending)
	if e.Now == nil || e.Now.Site != "par" {
		t.Fatalf("want par chosen (ber already holds the workload), got %+v", e.Now)
	}
	var ber *SiteVerdict
	for i := range e.Sites {
		if e.Sites[i].Site == "ber" {
			ber = &e.Sites[i]
		}
	}
	if ber == nil || !strings.HasPrefix(ber.Verdict, "kept off by spread minSites: 1 of the workload's pods here") {
		t.Errorf("ber: %+v, want kept off by spread minSites", ber)
	}
	if e := Explain(w, other); e.Now == nil || e.Now.Site != "ber" {
		t.Errorf("another workload's replica goes to %+v, want ber", e.Now)
	}
}
