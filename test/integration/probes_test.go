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

// probeChain is the RTT chain of manifests/examples/rtt-probes as shipped,
// running on the test's control plane: one blackbox_exporter per site with
// the shipped modules, found through exporter pods on the sites' first
// nodes; proxima-controller planning the probes and serving them as HTTP
// service discovery over TLS to a real ServiceAccount token that the
// shipped ClusterRole allows; Prometheus running the shipped scrape job
// (its address, token file and intervals put in) and recording rules.
type probeChain struct {
	prom       *harness.Prometheus
	sdURL      string
	monitoring string
	port       int
	// exporters are the exporter pods by site.
	exporters map[string]*v1.Pod
	// cfg is the scheduler configuration, reading telemetry from prom.
	cfg string
}

// startProbeChain starts the chain for the sites' exporters at ips (one
// loopback address per site, standing for its exporter pod's IP; the
// site's node <site>-0 must exist). telemetry edits the signals read
// from Prometheus; before runs once the exporters' namespace exists and
// before proxima-controller starts.
func startProbeChain(t *testing.T, e *env, ips map[string]string, telemetry func(*configv1.TelemetryArgs), before func(monitoring string)) *probeChain {
	t.Helper()
	ctx := context.Background()
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
	for _, ip := range ips {
		harness.StartBlackboxAt(t, []byte(modules.Data["blackbox.yml"]), net.JoinHostPort(ip, strconv.Itoa(port)))
	}
	c := &probeChain{port: port, monitoring: createNamespace(t, e.cp.Client, "monitoring"), exporters: map[string]*v1.Pod{}}
	for site, ip := range ips {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "exporter-" + site, Namespace: c.monitoring,
			Labels: map[string]string{"app.kubernetes.io/name": "proxima-rtt-exporter"}},
			Spec: v1.PodSpec{NodeName: site + "-0", Containers: []v1.Container{{Name: "blackbox-exporter", Image: "quay.io/prometheus/blackbox-exporter:v0.28.0"}}}}
		p, err := e.cp.Client.CoreV1().Pods(c.monitoring).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, PodIPs: []v1.PodIP{{IP: ip}},
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}}
		if c.exporters[site], err = e.cp.Client.CoreV1().Pods(c.monitoring).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Prometheus's identity: a ServiceAccount the shipped ClusterRole is
	// bound to, and one it is not.
	for _, sa := range []string{"prometheus", "intruder"} {
		if _, err := e.cp.Client.CoreV1().ServiceAccounts(c.monitoring).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rbac := strings.ReplaceAll(string(mustRead(t, filepath.Join("..", "..", "manifests", "monitoring", "prometheus-rbac.yaml"))),
		"name: prometheus-k8s\n  namespace: monitoring", fmt.Sprintf("name: prometheus\n  namespace: %s", c.monitoring))
	if !strings.Contains(rbac, c.monitoring) {
		t.Fatal("manifests/monitoring/prometheus-rbac.yaml no longer binds prometheus-k8s in monitoring: update this test")
	}
	if _, err := applyYAML(t, e.cp, []byte(rbac)); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(c.token(t, e, "prometheus")), 0o600); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(c.monitoring)
	}

	// proxima-controller: its controllers with the probe plan, and the
	// secure endpoint, as cmd/proxima-controller wires them.
	sel, err := labels.Parse("app.kubernetes.io/name=proxima-rtt-exporter")
	if err != nil {
		t.Fatal(err)
	}
	plan := probes.NewServer(probes.Options{Interval: time.Second, Budget: probeplan.DefaultBudget, Namespace: c.monitoring, Selector: sel, Port: port})
	cctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	addr, err := serving.Serve(cctx, e.cp.Config, serving.Options{BindAddress: "127.0.0.1:0"}, map[string]http.Handler{probes.Path: plan})
	if err != nil {
		t.Fatal(err)
	}
	c.sdURL = "https://" + addr.String() + probes.Path
	// Prometheus: the shipped job and rules; it reads the controller's
	// address, the token and faster intervals.
	job := string(rttProbes(t, "scrape-job.yml"))
	for from, to := range map[string]string{
		"https://proxima-controller.proxima-system.svc:8443/probes/targets": c.sdURL,
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
	c.prom = harness.StartPrometheusWith(t, indented.String(), map[string][]byte{"rtt-rules.yaml": shippedRTTRules(t)})
	c.cfg = shippedConfigWith(t, func(args *configv1.EdgePlacementArgs) {
		args.Telemetry = &configv1.TelemetryArgs{Address: c.prom.URL, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1)}
		telemetry(args.Telemetry)
	})
	done := make(chan error, 1)
	go func() {
		done <- manager.Run(cctx, e.cp.Config, manager.Options{SchedulerConfig: c.cfg, SchedulerNames: []string{proximaScheduler}, Probes: plan})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxima-controller's controllers: %v", err)
		}
	})
	return c
}

// token is a token of the exporters' namespace's ServiceAccount sa.
func (c *probeChain) token(t *testing.T, e *env, sa string) string {
	tok, err := e.cp.Client.CoreV1().ServiceAccounts(c.monitoring).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status.Token
}

// get reads the served targets with the token ("" for none).
func (c *probeChain) get(t *testing.T, tok string) (int, []byte) {
	req, _ := http.NewRequest(http.MethodGet, c.sdURL, nil)
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

// groups waits for the served targets to satisfy ok and returns them.
func (c *probeChain) groups(t *testing.T, e *env, what string, ok func([]probes.Group) bool) []probes.Group {
	t.Helper()
	tok := c.token(t, e, "prometheus")
	var groups []probes.Group
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		code, body := c.get(t, tok)
		if code != http.StatusOK {
			return false, nil
		}
		groups = nil
		return json.Unmarshal(body, &groups) == nil && ok(groups), nil
	}); err != nil {
		t.Fatalf("targets for Prometheus (%s): %v (last %+v)", what, err, groups)
	}
	return groups
}

// TestShippedProbeChain runs the RTT chain of manifests/examples/rtt-probes
// as shipped (probeChain). Only an authorized token reads the targets. A
// pod Pending under a conservative max RTT is placed once its pairs are
// measured, and when a site's exporter goes, its pair stops being measured
// and new pods go to the site still measured.
func TestShippedProbeChain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ips := map[string]string{"a": "127.0.0.1", "b": "127.0.0.2"}
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
	chain := startProbeChain(t, e, ips, func(tel *configv1.TelemetryArgs) {
		tel.RTT = &configv1.SignalArgs{MaxAgeSeconds: ptr.To[int32](6)}
	}, func(monitoring string) {
		// A pod with the exporters' label outside their namespace is
		// never given a pair to measure: it could report its site
		// faster than it is.
		rogue := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-an-exporter", Namespace: e.ns,
			Labels: map[string]string{"app.kubernetes.io/name": "proxima-rtt-exporter"}},
			Spec: v1.PodSpec{NodeName: "a-1", Containers: []v1.Container{{Name: "c", Image: "example.com/c"}}}}
		rogue, err := e.cp.Client.CoreV1().Pods(e.ns).Create(ctx, rogue, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rogue.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: "127.0.0.3", Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}}
		if _, err := e.cp.Client.CoreV1().Pods(e.ns).UpdateStatus(ctx, rogue, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	prom, port := chain.prom, chain.port

	// Only an authorized token reads the targets.
	if code, _ := chain.get(t, ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := chain.get(t, chain.token(t, e, "intruder")); code != http.StatusForbidden {
		t.Errorf("a token without the ClusterRole: %d, want 403", code)
	}
	groups := chain.groups(t, e, "a pair per source and site", func(g []probes.Group) bool { return len(g) == 2*len(modulesOf) })
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
	harness.StartScheduler(t, e.cp, chain.cfg)
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
	if err := e.cp.Client.CoreV1().Pods(chain.monitoring).Delete(ctx, chain.exporters["a"].Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
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

// TestShippedSiteProbeChain: the same chain measures the pair of sites a
// dependency's bound rests on. The database runs in b; the API may only
// run in a, whose RTT to b is only a distance estimate (upper bound about
// 40 ms) over the API's 20 ms bound to the database, so the API waits.
// proxima-controller plans the pair (a, b) in tier bound, served as a TCP
// connect from a's exporter to b's; Prometheus records
// proxima_site_rtt_seconds through the shipped rules, the scheduler reads
// it and places the API in a. When b's exporter goes, the pair is no
// longer probed, its series ends, and a new API pod fails closed again.
func TestShippedSiteProbeChain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ips := map[string]string{"a": "127.0.0.1", "b": "127.0.0.2"}
	e.site(siteSpec{name: "a", country: "FR", nodes: 2})
	e.site(siteSpec{name: "b", country: "DE", nodes: 2})
	db := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: e.ns, Labels: map[string]string{"app": "db"}},
		Spec: v1.PodSpec{NodeName: "b-1", Containers: []v1.Container{{Name: "db", Image: "example.com/db"}}}}
	db, err := e.cp.Client.CoreV1().Pods(e.ns).Create(ctx, db, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db.Status = v1.PodStatus{Phase: v1.PodRunning}
	if _, err := e.cp.Client.CoreV1().Pods(e.ns).UpdateStatus(ctx, db, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.policy("api", placementv1alpha1.PlacementPolicySpec{Residency: onlyIn("FR"), Dependencies: callsDB(20),
		Weights: &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1)}})
	chain := startProbeChain(t, e, ips, func(tel *configv1.TelemetryArgs) {
		tel.SiteRTT = &configv1.SignalArgs{Query: ptr.To("proxima_site_rtt_seconds"), MaxAgeSeconds: ptr.To[int32](6)}
	}, nil)
	link := func(g []probes.Group) []probes.Group {
		var out []probes.Group
		for _, x := range g {
			if x.Labels["from_site"] != "" {
				out = append(out, x)
			}
		}
		return out
	}
	groups := link(chain.groups(t, e, "the pair of sites", func(g []probes.Group) bool { return len(link(g)) == 1 }))
	addr := func(site string) string { return net.JoinHostPort(ips[site], strconv.Itoa(chain.port)) }
	if g := groups[0]; len(g.Targets) != 1 || g.Targets[0] != addr("a") || g.Labels["__param_target"] != addr("b") ||
		g.Labels["__param_module"] != "tcp_connect_rtt" || g.Labels["from_site"] != "a" || g.Labels["to_site"] != "b" ||
		g.Labels["proxima_probe_tier"] != "bound" {
		t.Errorf("target group %+v: want a's exporter %s connecting to b's %s with tcp_connect_rtt, from_site a, to_site b, tier bound",
			g, addr("a"), addr("b"))
	}

	harness.StartScheduler(t, e.cp, chain.cfg)
	api := e.pod("api-0", "api", "100m")
	query := `proxima_site_rtt_seconds{from_site="a",to_site="b"}`
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		v, ok := promValue(t, chain.prom, query)
		return ok && v >= 0 && v < 0.02, nil
	}); err != nil {
		t.Fatalf("%s never measured within 20 ms: %v\n%s", query, err, promDump(chain.prom, "up", "probe_success", "probe_duration_seconds",
			"proxima_probe_site_rtt_seconds"))
	}
	if site := e.siteOfPod(api); site != "a" {
		t.Fatalf("the API was placed in %q, want a once its RTT to the database is measured", site)
	}
	if rec := e.recordOf(api); len(rec.Dependencies) != 1 || rec.Dependencies[0].Provenance != "live" {
		t.Errorf("the API's record: dependencies %+v, want db's RTT live", rec.Dependencies)
	}

	// b's exporter goes: the pair has nobody to connect to, its series
	// ends, the RTT is an estimate again, and a new API pod fails closed.
	if err := e.cp.Client.CoreV1().Pods(chain.monitoring).Delete(ctx, chain.exporters["b"].Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	chain.groups(t, e, "no pair of sites without b's exporter", func(g []probes.Group) bool { return len(link(g)) == 0 })
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		_, ok := promValue(t, chain.prom, query)
		return !ok, nil
	}); err != nil {
		t.Fatalf("the pair's RTT still recorded after b's exporter went: %v", err)
	}
	// The scheduler's last read may still hold the value until it ages
	// out (6 s): new pods until one is refused, naming the bound.
	n := 0
	var outcome string
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		n++
		pod := e.pod(fmt.Sprintf("api-%d", n), "api", "100m")
		outcome = scheduledOrRefused(t, e, pod)
		return strings.Contains(outcome, "dependency"), nil
	}); err != nil {
		t.Fatalf("API pods kept being placed without a measured RTT to the database: last %s", outcome)
	}
}

// scheduledOrRefused waits for the scheduler to bind the pod ("bound to
// NODE") or to refuse it (its PodScheduled condition's message).
func scheduledOrRefused(t *testing.T, e *env, pod *v1.Pod) string {
	t.Helper()
	var out string
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := e.cp.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			out = "bound to " + p.Spec.NodeName
			return true, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable {
				out = c.Message
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("pod %s neither bound nor refused: %v", pod.Name, err)
	}
	return out
}
