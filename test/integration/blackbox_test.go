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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/test/harness"
)

// blackboxModules is the probe the test times: a TCP exchange through the
// delaying proxy (an ICMP or TCP-connect probe, as in
// manifests/examples/rtt-probes, cannot be slowed down by a proxy in user
// space).
const blackboxModules = `modules:
  proxima_rtt_test:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - send: "PING"
        - expect: "^PONG"
`

// shippedRTTRules is the rule file inside the shipped PrometheusRule
// (manifests/examples/rtt-probes/rtt-rules.yaml): its spec is a Prometheus
// rule file.
func shippedRTTRules(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "manifests", "examples", "rtt-probes", "rtt-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.JSONToYAML(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// promValue is the value of an instant query's single series; ok is
// false when the query has no series (or more than one).
func promValue(t *testing.T, prom *harness.Prometheus, query string) (float64, bool) {
	t.Helper()
	series, err := prom.Query(context.Background(), query)
	if err != nil || len(series) != 1 {
		return 0, false
	}
	return series[0].Value, true
}

// TestBlackboxRTT measures RTT the way users do: a real blackbox_exporter
// probes a service through a proxy whose delay the test sets, a real
// Prometheus scrapes it and records proxima_rtt_seconds{source, site} with
// the shipped recording rule, and Proxima's choice of site follows the
// measured RTT when the delay changes.
func TestBlackboxRTT(t *testing.T) {
	e := newEnv(t)
	backend := harness.PongServer(t)
	paths := map[string]*harness.DelayProxy{
		"a": harness.StartDelayProxy(t, backend, 5*time.Millisecond),
		"b": harness.StartDelayProxy(t, backend, 40*time.Millisecond),
	}
	bb := harness.StartBlackbox(t, []byte(blackboxModules))
	var scrape strings.Builder
	fmt.Fprintf(&scrape, `  - job_name: proxima-rtt
    metrics_path: /probe
    params: {module: [proxima_rtt_test]}
    static_configs:
`)
	for _, site := range []string{"a", "b"} {
		fmt.Fprintf(&scrape, "      - targets: [%q]\n        labels: {source: users, site: %s}\n", paths[site].Addr, site)
	}
	fmt.Fprintf(&scrape, `    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: %q}
`, bb.Addr)
	prom := harness.StartPrometheusWith(t, scrape.String(), map[string][]byte{"rtt-rules.yaml": shippedRTTRules(t)})

	// The source declares no RTT: Proxima's estimates from distance are the
	// same for both sites (they are in one place), and what tells them
	// apart is what the probes measure.
	e.site(siteSpec{name: "a", country: "FR", cpuPrice: "0.05", nodes: 2})
	e.site(siteSpec{name: "b", country: "FR", cpuPrice: "0.05", nodes: 2})
	if _, err := e.pc.PlacementV1alpha1().TrafficSources().Create(context.Background(), &placementv1alpha1.TrafficSource{
		ObjectMeta: metav1.ObjectMeta{Name: "users"},
		Spec:       placementv1alpha1.TrafficSourceSpec{Location: &placementv1alpha1.GeoLocation{Latitude: "0.1", Longitude: "0.1"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.policy("fast", latencyPolicy("users"))

	waitRTT := func(site string, pred func(ms float64) bool, what string) {
		t.Helper()
		var last float64
		query := fmt.Sprintf(`proxima_rtt_seconds{source="users",site=%q}`, site)
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
			v, ok := promValue(t, prom, query)
			last = 1000 * v
			return ok && pred(last), nil
		}); err != nil {
			t.Fatalf("%s: proxima_rtt_seconds for %s = %.1f ms", what, site, last)
		}
	}
	waitRTT("a", func(ms float64) bool { return ms >= 5 && ms < 40 }, "a measured at 5 ms")
	waitRTT("b", func(ms float64) bool { return ms >= 40 }, "b measured at 40 ms")

	harness.StartScheduler(t, e.cp, shippedConfigWith(t, func(args *configv1.EdgePlacementArgs) {
		args.Telemetry = &configv1.TelemetryArgs{
			Address: prom.URL, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1),
			RTT: &configv1.SignalArgs{MaxAgeSeconds: ptr.To[int32](6)},
		}
	}))
	pods := &placer{e: e}
	pods.eventually("a is 5 ms away, b 40 ms", "fast", "a")
	msg := placementOf(t, e.cp.Client, e.pod("explained", "fast", "10m"))
	if !strings.Contains(msg, "(live)") {
		t.Errorf("placement annotation %q does not say the RTT was live", msg)
	}

	// The path to a slows down: the probes see it, and so does Proxima.
	paths["a"].SetDelay(80 * time.Millisecond)
	waitRTT("a", func(ms float64) bool { return ms >= 80 }, "a measured at 80 ms")
	pods.eventually("a is now 80 ms away", "fast", "b")
	for range 3 {
		if site, _ := pods.place("fast"); site != "b" {
			t.Errorf("with a measured at 80 ms and b at 40 ms, a pod landed in %s", site)
		}
	}
}
