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
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/telemetry"
	"github.com/proxima-sched/proxima/test/harness"
)

// telemetryConfig writes the shipped scheduler configuration with the
// telemetry section turned on against prom: 1 s refresh, 6 s maximum age
// (six refreshes: one slow query on a busy machine does not make a signal
// stale; the outage in TestTelemetry waits this long).
func telemetryConfig(t *testing.T, prom string) string {
	t.Helper()
	signal := func(query string) *configv1.SignalArgs {
		s := &configv1.SignalArgs{MaxAgeSeconds: ptr.To[int32](6)}
		if query != "" {
			s.Query = ptr.To(query)
		}
		return s
	}
	return shippedConfigWith(t, func(args *configv1.EdgePlacementArgs) {
		args.Telemetry = &configv1.TelemetryArgs{
			Address: prom, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1),
			NodeUtilization: signal(harness.NodeUtilizationQuery),
			RTT:             signal(""), Price: signal(""), Health: signal(""),
		}
	})
}

// metricValue reads a gauge or counter, or a histogram's count, from the
// scheduler's /metrics registry (this process's legacy registry); NaN when
// absent.
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return math.NaN()
}

// TestTelemetry drives placements through live signals from a real
// Prometheus scraping a test exporter.
func TestTelemetry(t *testing.T) {
	e := newEnv(t)
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	e.site(siteSpec{name: "near", country: "FR", cpuPrice: "0.05", nodes: 2})
	e.site(siteSpec{name: "far", country: "FR", cpuPrice: "0.01", nodes: 2})
	e.source("users", map[string]int32{"near": 8, "far": 15})
	bounded := latencyPolicy("users")
	bounded.Latency.MaxRTTMilliseconds = ptr.To[int32](20)
	e.policy("bounded", bounded)
	e.policy("cheap", costPolicy)
	cool := *costPolicy.DeepCopy()
	cool.Telemetry = &placementv1alpha1.TelemetryPolicy{MaxNodeUtilizationPercent: ptr.To[int32](80)}
	e.policy("cool", cool)
	for _, site := range []string{"near", "far"} {
		exp.Up.WithLabelValues(site).Set(1)
		exp.Price.WithLabelValues(site).Set(1)
		for i := range 2 {
			exp.NodeUtilization.WithLabelValues(fmt.Sprintf("%s-%d:9100", site, i)).Set(0.1)
		}
	}
	exp.RTT.WithLabelValues("users", "near").Set(0.008)
	exp.RTT.WithLabelValues("users", "far").Set(0.015)
	harness.StartScheduler(t, e.cp, telemetryConfig(t, prom.URL))

	pods := &placer{e: e}
	place, eventually := pods.place, pods.eventually
	stale := func(signal string) float64 {
		return metricValue(t, "proxima_telemetry_stale", map[string]string{"signal": signal})
	}
	waitStale := func(signal string, want float64) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
			return stale(signal) == want, nil
		}); err != nil {
			t.Fatalf("proxima_telemetry_stale{signal=%q} = %v, want %v", signal, stale(signal), want)
		}
	}
	waitStale("rtt", 0)

	// An RTT that rises above the bound at one site moves the next pods.
	if site, _ := place("bounded"); site != "near" {
		t.Fatalf("bounded pod landed in %s, want near (8 ms)", site)
	}
	exp.RTT.WithLabelValues("users", "near").Set(0.050)
	eventually("near's live RTT rose to 50 ms", "bounded", "far")
	for range 3 {
		if site, _ := place("bounded"); site != "far" {
			t.Errorf("with near at 50 ms live, a bounded pod landed in %s", site)
		}
	}

	// A site whose health gauge drops gets no new pods, and gets them again.
	if site, _ := place("cheap"); site != "far" {
		t.Fatalf("cheap pod landed in %s, want far (cheaper)", site)
	}
	exp.Up.WithLabelValues("far").Set(0)
	eventually("far went down", "cheap", "near")
	for range 3 {
		if site, _ := place("cheap"); site != "near" {
			t.Errorf("with far down, a cheap pod landed in %s", site)
		}
	}
	exp.Up.WithLabelValues("far").Set(1)
	eventually("far came back", "cheap", "far")

	// Node utilization above the policy's threshold keeps pods off the node:
	// with both far nodes hot, cost-led pods must pay for near.
	exp.NodeUtilization.WithLabelValues("far-0:9100").Set(0.95)
	exp.NodeUtilization.WithLabelValues("far-1:9100").Set(0.95)
	eventually("both far nodes at 95% CPU", "cool", "near")
	for range 3 {
		if _, node := place("cool"); strings.HasPrefix(node, "far") {
			t.Errorf("a pod with maxNodeUtilizationPercent 80 landed on %s at 95%% CPU", node)
		}
	}
	exp.NodeUtilization.WithLabelValues("far-1:9100").Set(0.1)
	eventually("far-1 cooled down", "cool", "far")
	for range 4 {
		if _, node := place("cool"); node == "far-0" {
			t.Errorf("a pod with maxNodeUtilizationPercent 80 landed on far-0 at 95%% CPU")
		}
	}

	// Prometheus stops: the signals go stale, scheduling goes on with the
	// declared values (near: 8 ms), and no pod is stuck.
	prom.Stop()
	waitStale("rtt", 1)
	if v := metricValue(t, "proxima_telemetry_query_errors_total", map[string]string{"signal": "rtt"}); !(v > 0) {
		t.Errorf("query errors while Prometheus is down = %v, want > 0", v)
	}
	eventually("Prometheus down, declared RTTs", "bounded", "near")
	msg := placementOf(t, e.cp.Client, e.pod("explained-stale", "bounded", "10m"))
	if !strings.Contains(msg, "declared; live value stale") {
		t.Errorf("placement annotation %q does not say the live RTT was stale", msg)
	}
	// Prometheus is back: live values return.
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	waitStale("rtt", 0)
	eventually("Prometheus back, live RTTs", "bounded", "far")

	// Absurd values and unknown objects are dropped, counted and scheduling
	// goes on.
	exp.RTT.WithLabelValues("users", "far").Set(math.NaN())
	exp.RTT.WithLabelValues("users", "near").Set(-1)
	exp.RTT.WithLabelValues("users", "atlantis").Set(0.001)
	exp.RTT.WithLabelValues("nobody", "far").Set(math.Inf(1))
	exp.Price.WithLabelValues("far").Set(math.Inf(1))
	exp.NodeUtilization.WithLabelValues("ghost-node:9100").Set(7)
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		return metricValue(t, "proxima_telemetry_series", map[string]string{"signal": "rtt", "mapped": "false"}) >= 3, nil
	}); err != nil {
		t.Errorf("unmapped rtt series = %v, want ≥ 3 (NaN, negative, Inf)", metricValue(t, "proxima_telemetry_series", map[string]string{"signal": "rtt", "mapped": "false"}))
	}
	for _, policy := range []string{"bounded", "cheap", "cool"} {
		place(policy) // binds: no panic, no stalled cycle
	}
}

// placer creates pods of a policy one at a time and waits for each to bind.
type placer struct {
	e *env
	n int
}

// place creates a pod of the policy and returns its site and node (nodes
// are named <site>-0 and <site>-1).
func (p *placer) place(policy string) (site, node string) {
	p.e.t.Helper()
	p.n++
	pod := p.e.pod(fmt.Sprintf("%s-%d", policy, p.n), policy, "10m")
	node = waitForBinding(p.e.t, p.e.cp.Client, pod)
	return strings.TrimSuffix(strings.TrimSuffix(node, "-0"), "-1"), node
}

// eventually places pods of the policy until one lands in want.
func (p *placer) eventually(what, policy, want string) {
	p.e.t.Helper()
	var last string
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		last, _ = p.place(policy)
		return last == want, nil
	}); err != nil {
		p.e.t.Fatalf("%s: %s pods kept landing in %s, want %s", what, policy, last, want)
	}
}

// rejectStale is a PlacementPolicy telemetry section that rejects sites
// whose live health (and RTT, with rtt) is stale or missing.
func rejectStale(rtt bool) *placementv1alpha1.TelemetryPolicy {
	onStale := &placementv1alpha1.StaleActions{Health: placementv1alpha1.Reject}
	if rtt {
		onStale.RTT = placementv1alpha1.Reject
	}
	return &placementv1alpha1.TelemetryPolicy{OnStale: onStale}
}

// TestTelemetryRejectBeforeFirstRead starts the scheduler while Prometheus
// is down: a policy that rejects stale health and RTT places nothing on
// declared values it has never seen confirmed, while a policy that uses the
// declared values places its pods; once Prometheus answers, the rejected
// pod binds.
func TestTelemetryRejectBeforeFirstRead(t *testing.T) {
	e := newEnv(t)
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	prom.Stop()
	exp.Up.WithLabelValues("edge").Set(1)
	exp.RTT.WithLabelValues("users", "edge").Set(0.005)
	e.site(siteSpec{name: "edge", country: "FR", cpuPrice: "0.05", nodes: 1})
	e.source("users", map[string]int32{"edge": 5})
	strict := latencyPolicy("users")
	strict.Telemetry = rejectStale(true)
	e.policy("strict", strict)
	e.policy("declared", costPolicy)
	harness.StartScheduler(t, e.cp, telemetryConfig(t, prom.URL))

	waiting := e.pod("strict-0", "strict", "10m")
	msg := placementOf(t, e.cp.Client, e.pod("declared-0", "declared", "10m"))
	if !strings.Contains(msg, "declared price; no live price") {
		t.Errorf("placement annotation %q does not say there was no live price", msg)
	}
	msg = waitForEvent(t, e.cp.Client, waiting, "FailedScheduling")
	if !strings.Contains(msg, scoring.ReasonStale.String()) {
		t.Errorf("FailedScheduling for a policy rejecting stale telemetry, before any read, says %q; want %q", msg, scoring.ReasonStale)
	}
	p, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), waiting.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" {
		t.Fatalf("before any telemetry read, the pod of a policy rejecting stale telemetry was bound to %s", p.Spec.NodeName)
	}

	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	if site := e.siteOfPod(waiting); site != "edge" {
		t.Errorf("once telemetry is fresh, the waiting pod landed in %s, want edge", site)
	}
}

// TestTelemetryRejectAbsentSeries deletes one site's health series, the
// usual shape of an outage: a policy that rejects stale health no longer
// places pods there, and one that uses the declared values still does.
func TestTelemetryRejectAbsentSeries(t *testing.T) {
	e := newEnv(t)
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	exp.Up.WithLabelValues("near").Set(1)
	exp.Up.WithLabelValues("far").Set(1)
	e.site(siteSpec{name: "near", country: "FR", cpuPrice: "0.05", nodes: 1})
	e.site(siteSpec{name: "far", country: "FR", cpuPrice: "0.01", nodes: 1})
	strict := *costPolicy.DeepCopy()
	strict.Telemetry = rejectStale(false)
	e.policy("strict", strict)
	e.policy("cheap", costPolicy)
	harness.StartScheduler(t, e.cp, telemetryConfig(t, prom.URL))

	// healthSeries waits until the collector's last health read mapped n
	// series.
	healthSeries := func(n float64) {
		t.Helper()
		mapped := map[string]string{"signal": "health", "mapped": "true"}
		if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
			return metricValue(t, "proxima_telemetry_series", mapped) == n, nil
		}); err != nil {
			t.Fatalf("the health read mapped %v series, want %v", metricValue(t, "proxima_telemetry_series", mapped), n)
		}
	}
	pods := &placer{e: e}
	healthSeries(2)
	if site, _ := pods.place("strict"); site != "far" {
		t.Fatalf("strict pod landed in %s, want far (cheaper, up)", site)
	}
	exp.Up.DeleteLabelValues("far")
	healthSeries(1)
	// The world is rebuilt right after the read: allow one pod for that.
	for i := range 4 {
		site, _ := pods.place("strict")
		if site != "near" && i > 0 {
			t.Errorf("with far's health series gone, a pod rejecting stale health landed in %s", site)
		}
	}
	if site, _ := pods.place("cheap"); site != "far" {
		t.Errorf("with far's health series gone, a pod using declared health landed in %s, want far", site)
	}
}

// logCounter counts log lines containing each message.
type logCounter struct {
	mu    sync.Mutex
	lines []string
}

func (c *logCounter) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		c.mu.Lock()
		c.lines = append(c.lines, args)
		c.mu.Unlock()
	}, funcr.Options{})
}

func (c *logCounter) count(substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// TestTelemetryBadInputsLoggedOnce reads absurd values, unknown series and a
// Prometheus slower than the timeout, twice, from a real Prometheus: each
// problem is logged once, and a slow answer costs one timeout, not a stall.
func TestTelemetryBadInputsLoggedOnce(t *testing.T) {
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	exp.RTT.WithLabelValues("users", "far").Set(math.NaN())
	exp.RTT.WithLabelValues("users", "near").Set(99) // 99 s: absurd
	exp.NodeUtilization.WithLabelValues("n1:9100").Set(-0.5)
	exp.Up.WithLabelValues("far").Set(1)
	q := func(query string) telemetry.Query {
		return telemetry.Query{PromQL: query, MaxAge: time.Hour, NodeLabel: "instance", SourceLabel: "source", SiteLabel: "site"}
	}
	cfg := telemetry.Config{Address: prom.URL, Refresh: time.Second, Timeout: 10 * time.Second,
		NodeLoad: q(harness.NodeUtilizationQuery), RTT: q("proxima_rtt_seconds"), Health: q("proxima_site_up")}
	// Wait until Prometheus has scraped the series.
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		resp, err := http.Get(prom.URL + "/api/v1/query?query=proxima_site_up")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(body), `"site":"far"`), nil
	}); err != nil {
		t.Fatal("Prometheus never scraped the exporter")
	}
	logs := &logCounter{}
	ctx := klog.NewContext(context.Background(), logs.logger())
	updates := 0
	c, err := telemetry.New(cfg, func() { updates++ })
	if err != nil {
		t.Fatal(err)
	}
	c.Refresh(ctx)
	c.Refresh(ctx)
	// The second refresh read the same values: no rebuild is asked for.
	if updates != 1 {
		t.Errorf("onUpdate called %d times for two refreshes of unchanged values, want 1", updates)
	}
	for _, msg := range []string{"Dropping RTT outside 0..10 s", "Dropping node utilization outside 0..1.5"} {
		if n := logs.count(msg); n != 1 {
			t.Errorf("%q logged %d times over two refreshes, want once", msg, n)
		}
	}
	live := c.Load()
	if !live.RTT.Fresh || len(live.RTT.Values) != 0 || !live.Health.Fresh || !live.Health.Values["far"] {
		t.Errorf("live = %+v: want fresh RTT with both bad values dropped and far up", live)
	}

	// A Prometheus slower than the timeout.
	target, _ := url.Parse(prom.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	cfg.Address = slow.URL
	cfg.Timeout = time.Second
	cfg.RTT.MaxAge = time.Nanosecond
	sc, err := telemetry.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	errsBefore := metricValue(t, "proxima_telemetry_query_errors_total", map[string]string{"signal": "rtt"})
	sc.Refresh(ctx)
	sc.Refresh(ctx)
	if errsAfter := metricValue(t, "proxima_telemetry_query_errors_total", map[string]string{"signal": "rtt"}); !(errsAfter-errsBefore == 2) {
		t.Errorf("rtt query errors went from %v to %v, want two timeouts counted", errsBefore, errsAfter)
	}
	if n := logs.count("Telemetry query failed"); n != 3 {
		// one per signal (node utilization, rtt, health), once each
		t.Errorf("query failure logged %d times, want 3 (once per signal)", n)
	}
	if l := sc.Load(); !l.RTT.Enabled || l.RTT.Fresh || l.RTT.Values != nil {
		t.Errorf("a signal never read successfully must be enabled with no live values: %+v", l)
	}
}

// TestTelemetryTokenFileIsReread puts Prometheus behind a proxy that wants
// a bearer token, rotates the token and its file, and checks that the
// collector keeps reading: the file is read per request, not once.
func TestTelemetryTokenFileIsReread(t *testing.T) {
	exp := harness.StartExporter(t)
	prom := harness.StartPrometheus(t, exp)
	exp.Up.WithLabelValues("edge").Set(1)
	target, _ := url.Parse(prom.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	want := "first-token"
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := r.Header.Get("Authorization") == "Bearer "+want
		mu.Unlock()
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(guarded.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := telemetry.New(telemetry.Config{Address: guarded.URL, Refresh: time.Second, Timeout: 10 * time.Second, BearerTokenFile: tokenFile,
		Health: telemetry.Query{PromQL: "proxima_site_up", MaxAge: time.Hour, SiteLabel: "site"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func() bool {
		var ok bool
		_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
			c.Refresh(ctx)
			l := c.Load()
			ok = l.Health.Fresh && l.Health.Values["edge"]
			return ok, nil
		})
		return ok
	}
	if !read() {
		t.Fatal("no health read with the first token")
	}
	// Rotate: the proxy now wants the second token, and the file holds it.
	mu.Lock()
	want = "second-token"
	mu.Unlock()
	healthErrors := func() float64 {
		v := metricValue(t, "proxima_telemetry_query_errors_total", map[string]string{"signal": "health"})
		if math.IsNaN(v) {
			return 0 // no error yet in this process
		}
		return v
	}
	errsBefore := healthErrors()
	if err := os.WriteFile(tokenFile, []byte("second-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp.Up.WithLabelValues("edge").Set(0)
	var down bool
	_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		c.Refresh(ctx)
		l := c.Load()
		down = l.Health.Fresh && !l.Health.Values["edge"]
		return down, nil
	})
	if !down {
		t.Error("after the token rotated, the collector never read the new value")
	}
	if errs := healthErrors(); errs != errsBefore {
		t.Errorf("health query errors went from %v to %v after the rotation, want none: the token file was not re-read", errsBefore, errs)
	}
}
