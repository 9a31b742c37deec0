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

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/cli"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/test/harness"
)

// TestKubectlProxima runs `kubectl proxima` against the real scheduler on
// the real control plane. 108 pods of four policies are placed batch by
// batch; then, on one listing of the cluster:
//   - for every bound pod, the site explain says the scheduler chooses
//     (recomputed on the current world, with the pod's own requests taken
//     off its node) is the site it was bound to, and the placement record
//     the scheduler wrote names that site;
//   - for every pending pod, explain names what excluded the sites: the
//     hard rules for a policy no site meets, "no room" for a full one;
//   - what-if on a policy not applied yet predicts, per site, the pods the
//     scheduler then binds when it is applied, within one pod per site.
//
// The world (5 sites of 2 nodes with 4 cores; pods of 250m, 16 per node):
//
//	site  country  tier      cpu/h  RTT users-eu  RTT users-us
//	ber   DE (EU)  Edge      0.05   10            95
//	ams   NL (EU)  Edge      0.04   15            85
//	par   FR (EU)  Regional  0.03   25            90
//	zrh   CH       Edge      0.01    5           100
//	iad   US       Cloud     0.02   90             5
func TestKubectlProxima(t *testing.T) {
	e := newEnv(t)
	for _, s := range []siteSpec{
		{name: "ber", country: "DE", tags: []string{"EU"}, cpuPrice: "0.05", nodes: 2},
		{name: "ams", country: "NL", tags: []string{"EU"}, cpuPrice: "0.04", nodes: 2},
		{name: "par", country: "FR", tags: []string{"EU"}, tier: placementv1alpha1.TierRegional, cpuPrice: "0.03", nodes: 2},
		{name: "zrh", country: "CH", cpuPrice: "0.01", nodes: 2},
		{name: "iad", country: "US", tier: placementv1alpha1.TierCloud, cpuPrice: "0.02", nodes: 2},
	} {
		e.site(s)
	}
	e.source("users-eu", map[string]int32{"ber": 10, "ams": 15, "par": 25, "zrh": 5, "iad": 90})
	e.source("users-us", map[string]int32{"ber": 95, "ams": 85, "par": 90, "zrh": 100, "iad": 5})
	eu := &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	euLatency := latencyPolicy("users-eu")
	euLatency.Residency = eu
	usLatency := latencyPolicy("users-us")
	usLatency.Latency.MaxRTTMilliseconds = ptr.To[int32](50)
	strict := latencyPolicy("users-eu")
	strict.Residency = eu
	strict.Latency.MaxRTTMilliseconds = ptr.To[int32](8)
	e.policy("eu-latency", euLatency)
	e.policy("cheap", costPolicy)
	e.policy("us-latency", usLatency)
	e.policy("strict", strict)
	e.startScheduler()

	// Batch by batch, so that which pods pend does not depend on the
	// order the scheduler takes them in: eu-latency fills ber (32) and
	// spills 8 to ams; cheap fills zrh (32) and spills 3 to iad; us-latency
	// may use iad only (max RTT 50 ms) and has room there for 29 of 30;
	// strict's 8 ms excludes every EU site.
	var pods []*v1.Pod
	for _, batch := range []struct {
		policy string
		n      int
	}{{"eu-latency", 40}, {"cheap", 35}, {"us-latency", 30}, {"strict", 3}} {
		var created []*v1.Pod
		for i := range batch.n {
			created = append(created, e.pod(fmt.Sprintf("%s-%d", batch.policy, i), batch.policy, "250m"))
		}
		settle(t, e, created)
		pods = append(pods, created...)
	}

	w := loadWorld(t, e)
	bound, pending := 0, 0
	rules := map[string]int{}
	for _, p := range pods {
		pod, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ex := cli.Explain(w, pod)
		policy := pod.Labels[placementv1alpha1.PolicyLabel]
		if ex.Policy != policy {
			t.Errorf("%s: explain names policy %q, want %q", pod.Name, ex.Policy, policy)
		}
		switch ex.State {
		case cli.PodBound:
			bound++
			site := siteOfNode(t, e, pod.Spec.NodeName)
			if ex.Site != site {
				t.Errorf("%s: explain says site %q, the node is in %q", pod.Name, ex.Site, site)
			}
			// The world the CLI listed is the one the scheduler scored
			// the pod on: nothing differs from its record.
			if len(ex.WorldChanges) > 0 {
				t.Errorf("%s: the world changed since it was scored: %q", pod.Name, ex.WorldChanges)
			}
			if ex.Now == nil || ex.Now.Site != site {
				t.Errorf("%s: bound in %s, explain's choice on the same world is %+v", pod.Name, site, ex.Now)
			}
			if ex.Record == nil || ex.Record.Site != site || ex.Record.Node != pod.Spec.NodeName || ex.Record.Version != placementv1alpha1.PlacementRecordVersion {
				t.Errorf("%s: bound to %s in %s, placement record %+v", pod.Name, pod.Spec.NodeName, site, ex.Record)
			} else if ex.Record.RunnerUp != nil && ex.Record.RunnerUp.Score.Total > ex.Record.Score.Total && ex.Record.RunnerUp.Lost != state.LostNoRoom {
				t.Errorf("%s: the runner-up %s scored higher (%v > %v) and did not lack room", pod.Name, ex.Record.RunnerUp.Site,
					ex.Record.RunnerUp.Score.Total, ex.Record.Score.Total)
			}
		case cli.PodPending:
			pending++
			if ex.Now != nil {
				t.Errorf("%s: pending, yet explain would place it in %s", pod.Name, ex.Now.Site)
			}
			for _, x := range ex.Excluded {
				rules[policy+": "+x.Rule] += x.Count
			}
			switch policy {
			case "strict":
				// The scheduler names the same rules. ber (10 ms) is
				// full, so the smallest max RTT that admits a site with
				// room is ams's 15 ms.
				msg := unschedulable(pod)
				for _, want := range []string{"2 sites: residency", "3 sites: max RTT 8 ms"} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s: the scheduler's message lacks %q: %s", pod.Name, want, msg)
					}
				}
				if len(ex.Suggestions) == 0 || !strings.Contains(ex.Suggestions[0], "raise latency.maxRTTMilliseconds to 15 ms: admits site ams") {
					t.Errorf("%s: suggestions %q", pod.Name, ex.Suggestions)
				}
			case "us-latency":
				var verdicts []string
				for _, s := range ex.Sites {
					if s.Rank > 0 {
						verdicts = append(verdicts, s.Site+": "+s.Verdict)
					}
				}
				if strings.Join(verdicts, ",") != "iad: no room" {
					t.Errorf("%s: feasible sites %v, want iad: no room", pod.Name, verdicts)
				}
				if len(ex.Suggestions) == 0 || !strings.Contains(ex.Suggestions[0], "more CPU free on one node of site iad") {
					t.Errorf("%s: suggestions %q", pod.Name, ex.Suggestions)
				}
			default:
				t.Errorf("%s: a pod of %s is pending: %s", pod.Name, policy, unschedulable(pod))
			}
		default:
			t.Errorf("%s: state %s", pod.Name, ex.State)
		}
	}
	t.Logf("%d pods: %d bound, %d pending; excluded sites per policy and rule: %v", len(pods), bound, pending, rules)
	if bound != 104 || pending != 4 {
		t.Errorf("%d bound and %d pending, want 104 and 4", bound, pending)
	}
	wantRules := map[string]int{"strict: residency": 3 * 2, "strict: max RTT": 3 * 3, "us-latency: max RTT": 4}
	for k, v := range wantRules {
		if rules[k] != v {
			t.Errorf("excluded %q: %d site-pods, want %d (all: %v)", k, rules[k], v, rules)
		}
	}

	// What if an EU policy that trades latency, cost and load were applied?
	// Predict, apply, compare.
	mixed := &placementv1alpha1.PlacementPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: placementv1alpha1.SchemeGroupVersion.String(), Kind: "PlacementPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "eu-mixed", Namespace: e.ns},
		Spec: placementv1alpha1.PlacementPolicySpec{
			Residency: eu,
			Latency:   &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users-eu"}}},
			Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](2), Cost: ptr.To[int32](1), Load: ptr.To[int32](1)},
		},
	}
	const replicas = 30
	policyFile := writePolicy(t, mixed)
	out := runCLI(t, e, "what-if", "-f", policyFile, "--replicas", fmt.Sprint(replicas), "--requests", "cpu=250m", "-o", "json")
	var predicted cli.WhatIf
	if err := json.Unmarshal(out, &predicted); err != nil {
		t.Fatalf("what-if -o json: %v\n%s", err, out)
	}
	if predicted.Placed != replicas || predicted.Existing {
		t.Fatalf("what-if placed %d of %d (existing %v): %s", predicted.Placed, replicas, predicted.Existing, out)
	}
	t.Logf("what-if: %s", runCLI(t, e, "what-if", "-f", policyFile, "--replicas", fmt.Sprint(replicas), "--requests", "cpu=250m"))
	e.policy(mixed.Name, mixed.Spec)
	var created []*v1.Pod
	for i := range replicas {
		created = append(created, e.pod(fmt.Sprintf("eu-mixed-%d", i), mixed.Name, "250m"))
	}
	settle(t, e, created)
	actual := map[string]int{}
	for _, p := range created {
		actual[siteOfNode(t, e, waitForBinding(t, e.cp.Client, p))]++
	}
	want := map[string]int{}
	for _, s := range predicted.Sites {
		want[s.Site] = s.Pods
	}
	for _, site := range []string{"ber", "ams", "par", "zrh", "iad"} {
		if d := actual[site] - want[site]; d < -1 || d > 1 {
			t.Errorf("site %s: what-if predicted %d pods, the scheduler bound %d", site, want[site], actual[site])
		}
	}
	t.Logf("eu-mixed per site: predicted %v, bound %v", want, actual)

	// The commands run end to end with kubectl's flags.
	t.Logf("explain:\n%s", runCLI(t, e, "explain", "pod", "eu-latency-39"))
	t.Logf("explain:\n%s", runCLI(t, e, "explain", "pod/strict-0"))
	t.Logf("sites:\n%s", runCLI(t, e, "sites"))
	var sites cli.SiteList
	if err := json.Unmarshal(runCLI(t, e, "sites", "-o", "json"), &sites); err != nil {
		t.Fatal(err)
	}
	perPolicy := map[string]int{}
	for _, s := range sites.Sites {
		for k, n := range s.Pods {
			perPolicy[k] += n
		}
	}
	if perPolicy[e.ns+"/eu-latency"] != 40 || perPolicy[e.ns+"/eu-mixed"] != replicas {
		t.Errorf("sites counts pods per policy %v", perPolicy)
	}
	// Listed in pages of three objects (every kind takes several pages),
	// two sites by name: the same counts for those sites.
	var paged cli.SiteList
	if err := json.Unmarshal(runCLI(t, e, "sites", "ber", "par", "--chunk-size", "3", "-o", "json"), &paged); err != nil {
		t.Fatal(err)
	}
	var named []cli.SiteStatus
	for _, s := range sites.Sites {
		if s.Site == "ber" || s.Site == "par" {
			named = append(named, s)
		}
	}
	if diff := cmp.Diff(named, paged.Sites); diff != "" || len(paged.Sites) != 2 {
		t.Errorf("sites ber par in pages of 3 (-one page, +pages):\n%s", diff)
	}
}

// settle waits until each pod is bound or reported unschedulable.
func settle(t *testing.T, e *env, pods []*v1.Pod) {
	t.Helper()
	var waiting []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*waitTimeout, true, func(ctx context.Context) (bool, error) {
		waiting = waiting[:0]
		for _, p := range pods {
			q, err := e.cp.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			if q.Spec.NodeName == "" && unschedulable(q) == "" {
				waiting = append(waiting, p.Name)
			}
		}
		return len(waiting) == 0, nil
	})
	if err != nil {
		t.Fatalf("still waiting for %v", waiting)
	}
}

func loadWorld(t *testing.T, e *env) *simulate.World {
	t.Helper()
	w, err := simulate.Lister{Kube: e.cp.Client, Placement: e.pc}.Load(context.Background(), simulate.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func siteOfNode(t *testing.T, e *env, name string) string {
	t.Helper()
	n, err := e.cp.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Labels[placementv1alpha1.SiteLabel]
}

func writePolicy(t *testing.T, p *placementv1alpha1.PlacementPolicy) string {
	t.Helper()
	data, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/policy.yaml"
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLI runs `kubectl proxima args...` in the test's namespace with an
// admin kubeconfig and returns its output.
func runCLI(t *testing.T, e *env, args ...string) []byte {
	t.Helper()
	kubeconfig, err := e.cp.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := cli.NewCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "-n", e.ns}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("kubectl proxima %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.Bytes()
}

// TestKubectlProximaLiveTelemetry: with the scheduler's configuration file
// (--scheduler-config), kubectl proxima reads the scheduler's Prometheus
// with the scheduler's queries and shows the live RTT the scheduler placed
// the pod with, marked live, where the declared one differs.
func TestKubectlProximaLiveTelemetry(t *testing.T) {
	e := newEnv(t)
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	e.site(siteSpec{name: "near", country: "FR", cpuPrice: "0.05", nodes: 1})
	e.site(siteSpec{name: "far", country: "FR", cpuPrice: "0.01", nodes: 1})
	e.source("users", map[string]int32{"near": 8, "far": 15})
	e.policy("fast", latencyPolicy("users"))
	for _, site := range []string{"near", "far"} {
		exp.Up.WithLabelValues(site).Set(1)
		exp.Price.WithLabelValues(site).Set(1)
		exp.NodeUtilization.WithLabelValues(site + "-0:9100").Set(0.1)
	}
	// Live: near is 3 ms away, far 25 ms: the declared order stays, the
	// values do not.
	exp.RTT.WithLabelValues("users", "near").Set(0.003)
	exp.RTT.WithLabelValues("users", "far").Set(0.025)
	cfg := telemetryConfig(t, prom.URL)
	harness.StartScheduler(t, e.cp, cfg)

	// Wait until the scheduler reads the live RTTs, then until it places
	// with them (its world is rebuilt just after the read): a pod placed
	// before that is deleted again.
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		return metricValue(t, "proxima_telemetry_stale", map[string]string{"signal": "rtt"}) == 0, nil
	}); err != nil {
		t.Fatal("the scheduler never read a fresh RTT")
	}
	var (
		rec  placementv1alpha1.PlacementRecord
		name string
		i    int
	)
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		if name != "" {
			if err := e.cp.Client.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
				return false, err
			}
		}
		i++
		p := e.pod(fmt.Sprintf("p-%d", i), "fast", "10m")
		name = p.Name
		waitForBinding(t, e.cp.Client, p)
		got, err := e.cp.Client.CoreV1().Pods(e.ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if err := json.Unmarshal([]byte(got.Annotations[placementv1alpha1.PlacementRecordAnnotation]), &rec); err != nil {
			return false, fmt.Errorf("%s: %w", p.Name, err)
		}
		return rec.RTTs[0].Provenance == placementv1alpha1.ProvenanceLive, nil
	}); err != nil {
		t.Fatalf("no pod placed with a live RTT: %v (last record %+v)", err, rec)
	}
	if rec.Site != "near" || *rec.RTTs[0].Milliseconds != 3 || rec.RTTs[0].Live != placementv1alpha1.LiveFreshValue {
		t.Fatalf("record %+v", rec)
	}

	var ex cli.Explanation
	out := runCLI(t, e, "--scheduler-config", cfg, "explain", "pod", name, "-o", "json")
	if err := json.Unmarshal(out, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.World.Telemetry != "live" || ex.Now == nil || ex.Now.Site != "near" || ex.Now.RTTs[0].Provenance != placementv1alpha1.ProvenanceLive ||
		*ex.Now.RTTs[0].Milliseconds != 3 {
		t.Errorf("explain with the scheduler's telemetry: %s", out)
	}
	// Without it, the CLI says what it used: declared values.
	out = runCLI(t, e, "explain", "pod", name, "-o", "json")
	if err := json.Unmarshal(out, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.World.Telemetry != "declared" || ex.Now.RTTs[0].Provenance != placementv1alpha1.ProvenanceDeclared || *ex.Now.RTTs[0].Milliseconds != 8 {
		t.Errorf("explain on declared values: %s", out)
	}
	// ... and that this is not what the scheduler placed the pod with.
	if want := "RTT from users was 3.0 ms (live), now 8.0 ms"; !slices.Contains(ex.WorldChanges, want) {
		t.Errorf("world changes %q lack %q", ex.WorldChanges, want)
	}
}
