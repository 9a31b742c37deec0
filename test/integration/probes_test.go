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
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/manager"
	"github.com/proxima-sched/proxima/pkg/controller/probes"
	"github.com/proxima-sched/proxima/pkg/controller/serving"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/test/harness"
)

// rttProbes reads a file of manifests/examples/rtt-probes.
func rttProbes(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "manifests", "examples", "rtt-probes", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// promDump is what Prometheus holds for the queries, for a failure's
// message.
func promDump(prom *harness.Prometheus, queries ...string) string {
	var b strings.Builder
	for _, q := range queries {
		series, err := prom.Query(context.Background(), q)
		fmt.Fprintf(&b, "%s: %v %v\n", q, series, err)
	}
	return b.String()
}

// TestShippedProbeChain runs the RTT chain of manifests/examples/rtt-probes
// as shipped: proxima-controller plans the probes and serves them as HTTP
// service discovery over TLS to a real ServiceAccount token that the
// shipped ClusterRole allows (and to nobody else); Prometheus runs the
// shipped scrape job (its address, token file and intervals put in) and
// recording rules; one blackbox_exporter per site runs the shipped
// modules, found through exporter pods on the sites' nodes. A pod Pending
// under a conservative max RTT is placed once its pairs are measured, and
// when a site's exporter goes, its pair stops being measured and new pods
// go to the site still measured.
func TestShippedProbeChain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// Exporters: one per site, on one port (the exporter pods' port), two
	// loopback addresses standing for two pods' IPs.
	var modules struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(rttProbes(t, "blackbox-config.yaml"), &modules); err != nil {
		t.Fatal(err)
	}
	port, err := controlplane.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ips := map[string]string{"a": "127.0.0.1", "b": "127.0.0.2"}
	for _, ip := range ips {
		harness.StartBlackboxAt(t, []byte(modules.Data["blackbox.yml"]), net.JoinHostPort(ip, strconv.Itoa(port)))
	}
	// What the source's clients stand behind: a TCP service.
	target := harness.PongServer(t)

	// The world: two sites with nothing declared; the users' only RTTs
	// are distance estimates, whose upper bound (about 40 ms) fails the
	// policy's 20 ms.
	for _, s := range []string{"a", "b"} {
		e.site(siteSpec{name: s, country: "FR", cpuPrice: "0.05", nodes: 2})
	}
	if _, err := e.pc.PlacementV1alpha1().TrafficSources().Create(ctx, &placementv1alpha1.TrafficSource{
		ObjectMeta: metav1.ObjectMeta{Name: "users"},
		Spec: placementv1alpha1.TrafficSourceSpec{Location: &placementv1alpha1.GeoLocation{Latitude: "0.1", Longitude: "0.1"},
			Probe: &placementv1alpha1.SourceProbe{Targets: []string{target}, Module: placementv1alpha1.ProbeTCP}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bounded := latencyPolicy("users")
	bounded.Latency.MaxRTTMilliseconds = ptr.To[int32](20)
	e.policy("bounded", bounded)
	// The ICMP module too, where this process (and so the exporters it
	// starts) may open raw sockets: a source whose clients answer pings.
	modulesOf := map[string]string{"users": "tcp_connect_rtt"}
	targetOf := map[string]string{"users": target}
	if c, err := net.ListenPacket("ip4:icmp", "127.0.0.1"); err == nil {
		_ = c.Close()
		modulesOf["pingers"], targetOf["pingers"] = "icmp_rtt", "127.0.0.1"
		if _, err := e.pc.PlacementV1alpha1().TrafficSources().Create(ctx, &placementv1alpha1.TrafficSource{
			ObjectMeta: metav1.ObjectMeta{Name: "pingers"},
			Spec: placementv1alpha1.TrafficSourceSpec{Location: &placementv1alpha1.GeoLocation{Latitude: "0.1", Longitude: "0.1"},
				Probe: &placementv1alpha1.SourceProbe{Targets: []string{"127.0.0.1"}, Module: placementv1alpha1.ProbeICMP}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pinged := latencyPolicy("pingers")
		pinged.Latency.MaxRTTMilliseconds = ptr.To[int32](20)
		e.policy("pinged", pinged)
	} else {
		t.Logf("no raw ICMP socket here (%v): the icmp_rtt module is not exercised", err)
	}
	monitoring := createNamespace(t, e.cp.Client, "monitoring")
	exporterPods := map[string]*v1.Pod{}
	for site, ip := range ips {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "exporter-" + site, Namespace: monitoring,
			Labels: map[string]string{"app.kubernetes.io/name": "proxima-rtt-exporter"}},
			Spec: v1.PodSpec{NodeName: site + "-0", Containers: []v1.Container{{Name: "blackbox-exporter", Image: "quay.io/prometheus/blackbox-exporter:v0.28.0"}}}}
		p, err := e.cp.Client.CoreV1().Pods(monitoring).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, PodIPs: []v1.PodIP{{IP: ip}},
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}}
		if exporterPods[site], err = e.cp.Client.CoreV1().Pods(monitoring).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A pod with the exporters' label outside their namespace is never
	// given a pair to measure: it could report its site faster than it is.
	rogue := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-an-exporter", Namespace: e.ns,
		Labels: map[string]string{"app.kubernetes.io/name": "proxima-rtt-exporter"}},
		Spec: v1.PodSpec{NodeName: "a-1", Containers: []v1.Container{{Name: "c", Image: "example.com/c"}}}}
	if rogue, err = e.cp.Client.CoreV1().Pods(e.ns).Create(ctx, rogue, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rogue.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: "127.0.0.3", Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}}
	if _, err := e.cp.Client.CoreV1().Pods(e.ns).UpdateStatus(ctx, rogue, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Prometheus's identity: a ServiceAccount the shipped ClusterRole is
	// bound to, and one it is not.
	for _, sa := range []string{"prometheus", "intruder"} {
		if _, err := e.cp.Client.CoreV1().ServiceAccounts(monitoring).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rbac := strings.ReplaceAll(string(mustRead(t, filepath.Join("..", "..", "manifests", "monitoring", "prometheus-rbac.yaml"))),
		"name: prometheus-k8s\n  namespace: monitoring", fmt.Sprintf("name: prometheus\n  namespace: %s", monitoring))
	if !strings.Contains(rbac, monitoring) {
		t.Fatal("manifests/monitoring/prometheus-rbac.yaml no longer binds prometheus-k8s in monitoring: update this test")
	}
	if _, err := applyYAML(t, e.cp, []byte(rbac)); err != nil {
		t.Fatal(err)
	}
	token := func(sa string) string {
		tok, err := e.cp.Client.CoreV1().ServiceAccounts(monitoring).CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Status.Token
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token("prometheus")), 0o600); err != nil {
		t.Fatal(err)
	}

	// Prometheus: the shipped job and rules; it reads the controller's
	// address, the token and faster intervals.
	var prom *harness.Prometheus
	config := func() string {
		return shippedConfigWith(t, func(args *configv1.EdgePlacementArgs) {
			args.Telemetry = &configv1.TelemetryArgs{
				Address: prom.URL, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1),
				RTT: &configv1.SignalArgs{MaxAgeSeconds: ptr.To[int32](6)},
			}
		})
	}

	// proxima-controller: its controllers with the probe plan, and the
	// secure endpoint, as cmd/proxima-controller wires them.
	sel, err := labels.Parse("app.kubernetes.io/name=proxima-rtt-exporter")
	if err != nil {
		t.Fatal(err)
	}
	plan := probes.NewServer(probes.Options{Interval: time.Second, Budget: probeplan.DefaultBudget, Namespace: monitoring, Selector: sel, Port: port})
	cctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	addr, err := serving.Serve(cctx, e.cp.Config, serving.Options{BindAddress: "127.0.0.1:0"}, map[string]http.Handler{probes.Path: plan})
	if err != nil {
		t.Fatal(err)
	}
	sdURL := "https://" + addr.String() + probes.Path
	job := string(rttProbes(t, "scrape-job.yml"))
	for from, to := range map[string]string{
		"https://proxima-controller.proxima-system.svc:8443/probes/targets": sdURL,
		"/var/run/secrets/kubernetes.io/serviceaccount/token":               tokenFile,
		"scrape_interval: 30s":  "scrape_interval: 1s",
		"scrape_timeout: 10s":   "scrape_timeout: 1s",
		"refresh_interval: 30s": "refresh_interval: 1s",
	} {
		if !strings.Contains(job, from) {
			t.Fatalf("scrape-job.yml has no %q any more: update this test", from)
		}
		job = strings.ReplaceAll(job, from, to)
	}
	var indented strings.Builder
	for _, line := range strings.Split(strings.TrimRight(job, "\n"), "\n") {
		indented.WriteString("  " + line + "\n")
	}
	prom = harness.StartPrometheusWith(t, indented.String(), map[string][]byte{"rtt-rules.yaml": shippedRTTRules(t)})
	cfg := config()
	done := make(chan error, 1)
	go func() {
		done <- manager.Run(cctx, e.cp.Config, manager.Options{SchedulerConfig: cfg, SchedulerNames: []string{proximaScheduler}, Probes: plan})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxima-controller's controllers: %v", err)
		}
	})

	// Only an authorized token reads the targets.
	get := func(tok string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, sdURL, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the self-signed certificate
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := get(token("intruder")); code != http.StatusForbidden {
		t.Errorf("a token without the ClusterRole: %d, want 403", code)
	}
	var groups []probes.Group
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		code, body := get(token("prometheus"))
		if code != http.StatusOK {
			return false, nil
		}
		groups = nil
		return json.Unmarshal(body, &groups) == nil && len(groups) == 2*len(modulesOf), nil
	}); err != nil {
		t.Fatalf("targets for Prometheus: %v (last %+v)", err, groups)
	}
	for _, g := range groups {
		if strings.HasPrefix(g.Targets[0], "127.0.0.3:") {
			t.Errorf("a pair is measured by the pod outside the exporters' namespace: %+v", g)
		}
		site, src := g.Labels["site"], g.Labels["source"]
		if want := net.JoinHostPort(ips[site], strconv.Itoa(port)); modulesOf[src] == "" || len(g.Targets) != 1 || g.Targets[0] != want ||
			g.Labels["__param_target"] != targetOf[src] || g.Labels["__param_module"] != modulesOf[src] || g.Labels["proxima_probe_tier"] != "bound" {
			t.Errorf("target group %+v: want %s at site %s probed by %s with %s, tier bound", g, src, site, want, modulesOf[src])
		}
	}

	// Before any measurement the pod waits; once both pairs are measured
	// it is placed.
	harness.StartScheduler(t, e.cp, cfg)
	pending := e.pod("waits-for-probes", "bounded", "10m")
	for src := range modulesOf {
		for _, site := range []string{"a", "b"} {
			query := fmt.Sprintf(`proxima_rtt_seconds{source=%q,site=%q}`, src, site)
			if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
				v, ok := promValue(t, prom, query)
				return ok && v >= 0 && v < 0.02, nil
			}); err != nil {
				t.Fatalf("%s never measured within 20 ms: %v\n%s", query, err, promDump(prom, "up", "probe_success", "probe_duration_seconds",
					"probe_dns_lookup_time_seconds", "probe_icmp_duration_seconds", "proxima_probe_rtt_seconds"))
			}
		}
	}
	if _, ok := modulesOf["pingers"]; ok {
		// The ICMP rule takes the echo's rtt phase.
		if series, err := prom.Query(ctx, `proxima_probe_rtt_seconds{source="pingers",phase="rtt"}`); err != nil || len(series) != 2 {
			t.Errorf("pingers' RTTs not from the rtt phase of the ICMP probes: %v, %v", series, err)
		}
		if site := e.siteOfPod(e.pod("pinged", "pinged", "10m")); site != "a" && site != "b" {
			t.Errorf("pinged pod placed in %q", site)
		}
	}
	if site := e.siteOfPod(pending); site != "a" && site != "b" {
		t.Fatalf("placed in %q", site)
	}

	// Site a's exporter goes: its pair is no longer served, its series
	// ends, its RTT is an estimate again and fails the bound; new pods go
	// to b, the site still measured.
	if err := e.cp.Client.CoreV1().Pods(monitoring).Delete(ctx, exporterPods["a"].Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		_, ok := promValue(t, prom, `proxima_rtt_seconds{source="users",site="a"}`)
		return !ok, nil
	}); err != nil {
		t.Fatalf("site a's RTT still recorded after its exporter went: %v", err)
	}
	pods := &placer{e: e}
	pods.eventually("only b is measured", "bounded", "b")
	for range 3 {
		if site, _ := pods.place("bounded"); site != "b" {
			t.Errorf("with only b measured within the bound, a pod landed in %s", site)
		}
	}
}
