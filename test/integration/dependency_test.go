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
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/test/harness"
)

// dependencySites creates Frankfurt, Paris, New York and Amsterdam with one
// 4-CPU node each, their real locations, and the RTTs between the first
// three declared (Frankfurt–Amsterdam is left to the estimate).
func (e *env) dependencySites() {
	e.t.Helper()
	for _, s := range []struct {
		name, country, lat, lon string
		rtts                    []placementv1alpha1.SiteRTT
	}{
		{"fra", "DE", "50.1109", "8.6821", []placementv1alpha1.SiteRTT{{Site: "par", Milliseconds: 9}, {Site: "nyc", Milliseconds: 85}}},
		{"par", "FR", "48.8566", "2.3522", []placementv1alpha1.SiteRTT{{Site: "nyc", Milliseconds: 80}}},
		{"nyc", "US", "40.7128", "-74.0060", nil},
		{"ams", "NL", "52.3676", "4.9041", nil},
	} {
		obj := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: s.name}, Spec: placementv1alpha1.SiteSpec{
			Tier: placementv1alpha1.TierRegional, Country: s.country, RTTs: s.rtts,
			Location: placementv1alpha1.GeoLocation{Latitude: s.lat, Longitude: s.lon}}}
		if _, err := e.pc.PlacementV1alpha1().Sites().Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
			e.t.Fatal(err)
		}
		createNode(e.t, e.cp.Client, nodeIn(s.name+"-1", s.name, "4"))
	}
}

// recordOf is the placement record on the pod as the apiserver has it now.
func (e *env) recordOf(pod *v1.Pod) placementv1alpha1.PlacementRecord {
	e.t.Helper()
	got, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var rec placementv1alpha1.PlacementRecord
	if err := json.Unmarshal([]byte(got.Annotations[placementv1alpha1.PlacementRecordAnnotation]), &rec); err != nil {
		e.t.Fatalf("placement record of %s: %v", pod.Name, err)
	}
	return rec
}

func onlyIn(countries ...placementv1alpha1.CountryCode) *placementv1alpha1.Residency {
	return &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: countries}}
}

func callsDB(maxRTT int32) []placementv1alpha1.DependencyRef {
	return []placementv1alpha1.DependencyRef{{Name: "db", MaxRTTMilliseconds: ptr.To(maxRTT),
		PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}}}
}

// TestDependencyFollowed: an API whose database runs in New York is placed
// next to it; when the database moves to Frankfurt, the API's declared RTT
// to it (85 ms) breaks its 50 ms bound, and the rebalancer moves the API
// after its grace period to where the scheduler places it now: Frankfurt.
// Its placement record names the dependency and its RTT.
func TestDependencyFollowed(t *testing.T) {
	e := newRebalanceEnv(t, false)
	e.dependencySites()
	e.policy("db", placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("US"),
		Rebalance: rebalancing(placementv1alpha1.RebalanceOn, 1, 1, 0)})
	e.deployment("db", "db", 1, "500m")
	e.eventually("the database in nyc", time.Minute, func() bool {
		s := e.placed("db")
		return len(s) == 1 && allIn(s, "nyc")
	})

	e.policy("api", placementv1alpha1.PlacementPolicySpec{Dependencies: callsDB(50),
		Weights:   &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)},
		Rebalance: rebalancing(placementv1alpha1.RebalanceOn, 1, 1, 0)})
	e.deployment("api", "api", 2, "500m")
	e.eventually("the API next to the database in nyc", time.Minute, func() bool {
		s := e.placed("api")
		return len(s) == 2 && allIn(s, "nyc")
	})
	pods, err := e.cp.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=api"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("listing the API's pods: %v", err)
	}
	rec := e.recordOf(&pods.Items[0])
	if len(rec.Dependencies) != 1 || rec.Dependencies[0].Dependency != "db" || rec.Dependencies[0].Sites != 1 ||
		rec.Dependencies[0].Milliseconds == nil || *rec.Dependencies[0].Milliseconds != 0 || rec.DependencyCount != 1 {
		t.Errorf("record's dependencies = %+v, want db at 0 ms over 1 site", rec.Dependencies)
	}
	if s := pods.Items[0].Annotations[placementv1alpha1.PlacementAnnotation]; !strings.Contains(s, "RTT to dependency db 0.0 ms") {
		t.Errorf("placement annotation %q does not name the dependency's RTT", s)
	}

	// The database moves to Frankfurt.
	moved := time.Now()
	e.setMode("db", func(s *placementv1alpha1.PlacementPolicySpec) { s.Residency = onlyIn("DE") })
	e.eventually("the database in fra", 2*time.Minute, func() bool {
		s := e.placed("db")
		return len(s) == 1 && allIn(s, "fra")
	})
	e.eventually("the API following it to fra", 2*time.Minute, func() bool {
		s := e.placed("api")
		return len(s) == 2 && allIn(s, "fra")
	})
	t.Logf("the API followed its database in %v", time.Since(moved).Round(time.Second))
}

// TestDependencyBoundOnEstimates: Amsterdam's RTT to a database in
// Frankfurt is only estimated (about 11 ms, upper bound about 50 ms). A
// 40 ms bound judged conservatively (the default) fails closed there; the
// same bound judging estimates at their central value admits it.
func TestDependencyBoundOnEstimates(t *testing.T) {
	e := newRebalanceEnv(t, false)
	e.dependencySites()
	e.policy("db", placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("DE")})
	e.deployment("db", "db", 1, "500m")
	e.eventually("the database in fra", time.Minute, func() bool {
		s := e.placed("db")
		return len(s) == 1 && allIn(s, "fra")
	})

	e.policy("strict", placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("NL"), Dependencies: callsDB(40)})
	central := placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("NL"), Dependencies: callsDB(40),
		Latency: &placementv1alpha1.LatencyPolicy{Estimates: placementv1alpha1.EstimatesCentral}}
	e.policy("central", central)
	strict := e.pod("strict-0", "strict", "100m")
	if msg := waitForEvent(t, e.cp.Client, strict, "FailedScheduling"); !strings.Contains(msg, "dependency") {
		t.Errorf("FailedScheduling says %q, want the dependency's bound named", msg)
	}
	lenient := e.pod("central-0", "central", "100m")
	if site := e.siteOfPod(lenient); site != "ams" {
		t.Errorf("the pod judging estimates at their central value went to %s, want ams", site)
	}
	got, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), strict.Name, metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "" {
		t.Errorf("the conservative pod was bound to %q (%v); its only site's RTT to the database is only estimated above the bound", got.Spec.NodeName, err)
	}
}

// TestEgressKeepsStreamsAtTheirSource: a stream processor receiving
// 20 GiB an hour from the camera ingest at a store is placed at the store,
// although the cloud's CPU is four times cheaper, because the stream would
// leave the store at 0.05 a GiB; the same processor declaring no traffic
// goes to the cloud; and a cost cap counts the egress: capped at 0.50/h
// in the cloud, where the stream alone costs 1.00/h, it is not placed.
func TestEgressKeepsStreamsAtTheirSource(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "store", country: "FR", tier: placementv1alpha1.TierEdge, cpuPrice: "0.08", egressPrice: "0.05", nodes: 1})
	e.site(siteSpec{name: "cloud", country: "FR", tier: placementv1alpha1.TierCloud, cpuPrice: "0.02", egressPrice: "0.09", nodes: 1})
	e.policy("camera", placementv1alpha1.PlacementPolicySpec{Tiers: []placementv1alpha1.SiteTier{placementv1alpha1.TierEdge}})
	e.startSchedulerWithEvents()
	if site := e.siteOfPod(e.pod("camera-0", "camera", "500m")); site != "store" {
		t.Fatalf("camera ingest in %s, want store", site)
	}
	cameras := placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{placementv1alpha1.PolicyLabel: "camera"}}
	stream := func(traffic bool, edit func(*placementv1alpha1.PlacementPolicySpec)) placementv1alpha1.PlacementPolicySpec {
		spec := placementv1alpha1.PlacementPolicySpec{Weights: &placementv1alpha1.ObjectiveWeights{Cost: ptr.To[int32](1)},
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "cameras", PodSelector: &cameras}}}
		if traffic {
			spec.Dependencies[0].Traffic = &placementv1alpha1.Traffic{ReceivedGiBPerHour: ptr.To(resource.MustParse("20"))}
		}
		if edit != nil {
			edit(&spec)
		}
		return spec
	}
	e.policy("stream", stream(true, nil))
	e.policy("batch", stream(false, nil))
	e.policy("capped", stream(true, func(s *placementv1alpha1.PlacementPolicySpec) {
		s.Tiers = []placementv1alpha1.SiteTier{placementv1alpha1.TierCloud}
		s.Cost = &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("0.5")}
	}))

	processor := e.pod("stream-0", "stream", "500m")
	if site := e.siteOfPod(processor); site != "store" {
		t.Errorf("the stream processor went to %s, want store, beside its data", site)
	}
	if site := e.siteOfPod(e.pod("batch-0", "batch", "500m")); site != "cloud" {
		t.Errorf("the processor without traffic went to %s, want cloud, the cheaper CPU", site)
	}
	capped := e.pod("capped-0", "capped", "500m")
	if msg := waitForEvent(t, e.cp.Client, capped, "FailedScheduling"); !strings.Contains(msg, "max cost 0.5/h") {
		t.Errorf("FailedScheduling says %q, want the cost cap named", msg)
	}
	rec := e.recordOf(processor)
	if rec.HourlyCost == nil || *rec.HourlyCost != 0.04 || rec.EgressHourly != nil {
		t.Errorf("record's cost %v with egress %v, want 0.04/h and no egress beside the cameras", rec.HourlyCost, rec.EgressHourly)
	}
	if rec.RunnerUp == nil || rec.RunnerUp.HourlyCost == nil || *rec.RunnerUp.HourlyCost != 1.01 {
		t.Errorf("runner-up %+v, want cloud at 1.01/h (0.01 CPU + 1.00 egress)", rec.RunnerUp)
	}
}

// TestDependencyOnLiveSiteRTT: with the siteRTT signal read from a real
// Prometheus, a live RTT between Paris and Frankfurt of 60 ms overrides
// the 9 ms the Sites declare: an API in Paris whose database runs in
// Frankfurt, bounded at 50 ms and rejecting stale RTTs, waits while the
// live value is missing, is refused for the dependency's bound once it is
// read, and is placed once it drops to 20 ms, with the live RTT in its
// placement record.
func TestDependencyOnLiveSiteRTT(t *testing.T) {
	e := newEnv(t)
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	exp.SiteRTT.WithLabelValues("par", "fra").Set(0.060)
	harness.StartScheduler(t, e.cp, shippedConfigWith(t, func(args *configv1.EdgePlacementArgs) {
		signal := func(query string) *configv1.SignalArgs {
			return &configv1.SignalArgs{Query: ptr.To(query), MaxAgeSeconds: ptr.To[int32](6)}
		}
		args.Telemetry = &configv1.TelemetryArgs{Address: prom.URL, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1),
			NodeUtilization: signal(""), RTT: signal(""), Price: signal(""), Health: signal(""),
			SiteRTT: signal(configv1.SiteRTTQuery)}
	}))
	e.dependencySites()
	e.policy("db", placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("DE")})
	if site := e.siteOfPod(e.pod("db-0", "db", "500m")); site != "fra" {
		t.Fatalf("database in %s, want fra", site)
	}
	e.policy("api", placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("FR"),
		Telemetry: &placementv1alpha1.TelemetryPolicy{OnStale: &placementv1alpha1.StaleActions{RTT: placementv1alpha1.Reject}},
		Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", MaxRTTMilliseconds: ptr.To[int32](50),
			PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{placementv1alpha1.PolicyLabel: "db"}}}}})
	// The live value reaches the scheduler some time after the exporter
	// serves it (a scrape, then a read): until then a pod is refused for
	// the missing value, which the policy rejects; create pods until one
	// is judged on the live 60 ms.
	var pods []*v1.Pod
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		pod := e.pod(fmt.Sprintf("api-%d", len(pods)), "api", "500m")
		pods = append(pods, pod)
		msg := waitForEvent(t, e.cp.Client, pod, "FailedScheduling")
		return strings.Contains(msg, "dependency RTT"), nil
	}); err != nil {
		t.Fatalf("no API pod was refused for its dependency's bound: %v", err)
	}
	for _, pod := range pods {
		got, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil || got.Spec.NodeName != "" {
			t.Fatalf("%s was bound to %q (%v) while the live RTT to its database is missing or 60 ms, over its 50 ms bound", pod.Name, got.Spec.NodeName, err)
		}
	}
	// Keep the last, so that Paris has room for it.
	api := pods[len(pods)-1]
	for _, pod := range pods[:len(pods)-1] {
		if err := e.cp.Client.CoreV1().Pods(e.ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	exp.SiteRTT.WithLabelValues("par", "fra").Set(0.020)
	if site := e.siteOfPod(api); site != "par" {
		t.Errorf("the API went to %s once the live RTT fell to 20 ms, want par", site)
	}
	rec := e.recordOf(api)
	if len(rec.Dependencies) != 1 || rec.Dependencies[0].Provenance != placementv1alpha1.ProvenanceLive ||
		rec.Dependencies[0].Milliseconds == nil || *rec.Dependencies[0].Milliseconds != 20 {
		t.Errorf("record's dependencies %+v, want db at 20 ms live", rec.Dependencies)
	}
}

// TestDependencyOnService: an API whose dependency names the Service of
// its database follows the pods the Service selects: with the database in
// Frankfurt, the API, allowed in Paris and New York, goes to Paris (9 ms
// declared) under a 50 ms bound; a Service without a selector stands for
// endpoints nobody can locate, and a bound on it fails closed.
func TestDependencyOnService(t *testing.T) {
	e := newEnv(t)
	e.dependencySites()
	e.startSchedulerWithEvents()
	e.policy("db", placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("DE")})
	db := e.pod("db-0", "db", "500m")
	if site := e.siteOfPod(db); site != "fra" {
		t.Fatalf("database in %s, want fra", site)
	}
	for name, selector := range map[string]map[string]string{"orders-db": {placementv1alpha1.PolicyLabel: "db"}, "external-db": nil} {
		svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.ServiceSpec{Selector: selector,
			Ports: []v1.ServicePort{{Port: 5432}}}}
		if selector == nil {
			svc.Spec = v1.ServiceSpec{Type: v1.ServiceTypeExternalName, ExternalName: "db.example.com"}
		}
		if _, err := e.cp.Client.CoreV1().Services(e.ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	calls := func(service string) placementv1alpha1.PlacementPolicySpec {
		return placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("FR", "US"),
			Dependencies: []placementv1alpha1.DependencyRef{{Name: "db", Service: ptr.To(service), MaxRTTMilliseconds: ptr.To[int32](50)}}}
	}
	e.policy("api", calls("orders-db"))
	e.policy("external", calls("external-db"))
	if site := e.siteOfPod(e.pod("api-0", "api", "500m")); site != "par" {
		t.Errorf("the API went to %s, want par, 9 ms from the database its Service selects", site)
	}
	external := e.pod("external-0", "external", "500m")
	if msg := waitForEvent(t, e.cp.Client, external, "FailedScheduling"); !strings.Contains(msg, "dependency RTT") {
		t.Errorf("FailedScheduling says %q, want the dependency's bound named (the ExternalName Service cannot be located)", msg)
	}
}
