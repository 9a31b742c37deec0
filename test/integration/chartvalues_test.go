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
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	proximaconfig "github.com/proxima-sched/proxima/apis/config"
	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
)

// TestChartValuesSchema: values.schema.json accepts the defaults and
// refuses unknown keys and wrong types, in Helm's library and in the helm
// binary's lint.
func TestChartValuesSchema(t *testing.T) {
	if _, err := renderChartValues(map[string]any{}); err != nil {
		t.Fatalf("the default values: %v", err)
	}
	bad := map[string]map[string]any{
		"an unknown top-level key":      {"schedulr": map[string]any{}},
		"an unknown nested key":         {"scheduler": map[string]any{"logLevl": 5}},
		"a string for a number":         {"scheduler": map[string]any{"replicas": "two"}},
		"a negative log level":          {"controller": map[string]any{"logLevel": -1}},
		"an unknown telemetry signal":   {"telemetry": map[string]any{"signals": map[string]any{"latency": map[string]any{"query": "x"}}}},
		"a duration for maxAgeSeconds":  {"telemetry": map[string]any{"signals": map[string]any{"rtt": map[string]any{"maxAgeSeconds": "5m"}}}},
		"pull secrets as names":         {"imagePullSecrets": []any{"regcred"}},
		"an unknown credentials key":    {"telemetry": map[string]any{"credentialsKeys": []any{"password"}}},
		"a scrape interval in words":    {"monitoring": map[string]any{"serviceMonitors": map[string]any{"interval": "30 seconds"}}},
		"a port out of range":           {"controller": map[string]any{"probes": map[string]any{"exporterPort": 70000}}},
		"an unknown rebalancer setting": {"controller": map[string]any{"rebalance": map[string]any{"mode": "On"}}},
	}
	for what, values := range bad {
		if _, err := renderChartValues(values); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s (%v): rendered, want the schema's refusal (err %v)", what, values, err)
		}
	}
	bin, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join("..", "..", "manifests", "charts", "proxima")
	lint := func(args ...string) error {
		return exec.Command(filepath.Join(bin, "helm"), append([]string{"lint", chart}, args...)...).Run()
	}
	if err := lint(); err != nil {
		t.Errorf("helm lint with the defaults: %v", err)
	}
	if err := lint("--set", "scheduler.replicas=two"); err == nil {
		t.Error("helm lint accepted scheduler.replicas=two")
	}
	if err := lint("--set", "scheduler.logLevl=5"); err == nil {
		t.Error("helm lint accepted the unknown key scheduler.logLevl")
	}
}

// containerArgs are the args of a rendered Deployment's first container.
func containerArgs(t *testing.T, rendered []byte, deployment string) []string {
	t.Helper()
	for _, o := range objects(t, rendered) {
		if o.GetKind() != "Deployment" || o.GetName() != deployment {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		var out []string
		for _, a := range containers[0].(map[string]any)["args"].([]any) {
			out = append(out, a.(string))
		}
		return out
	}
	t.Fatalf("no Deployment %s rendered", deployment)
	return nil
}

// set returns values with value at the dotted path.
func setValue(path string, value any) map[string]any {
	keys := strings.Split(path, ".")
	var v any = value
	for i := len(keys) - 1; i >= 0; i-- {
		v = map[string]any{keys[i]: v}
	}
	return v.(map[string]any)
}

// TestChartReachesEveryFlag lists proxima-controller's flags from the
// binary and EdgePlacement's args from their types: each is either set
// from a chart value (checked by rendering the value and finding it in the
// Deployment's args or the scheduler's configuration) or fixed by the chart
// for a reason written here. kube-scheduler's own flags are reachable
// through scheduler.extraArgs (and its verbosity through
// scheduler.logLevel).
func TestChartReachesEveryFlag(t *testing.T) {
	out, _ := exec.Command(buildBinary(t, "cmd/proxima-controller", t.TempDir()), "-h").CombinedOutput()
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9_-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 20 {
		t.Fatalf("proxima-controller -h lists %d flags:\n%s", len(flags), out)
	}
	type byValue struct {
		path string
		v    any
		arg  string
	}
	values := map[string]byValue{
		"v":                              {"controller.logLevel", 7, "--v=7"},
		"rebalance":                      {"controller.rebalance.enabled", false, "--rebalance=false"},
		"rebalance-interval":             {"controller.rebalance.intervalSeconds", 42, "--rebalance-interval=42s"},
		"rebalance-evictions-per-minute": {"controller.rebalance.evictionsPerMinute", 7, "--rebalance-evictions-per-minute=7"},
		"probes":                         {"controller.probes.enabled", false, "--probes=false"},
		"probe-exporter-namespace":       {"controller.probes.exporterNamespace", "exporters", "--probe-exporter-namespace=exporters"},
		"probe-exporter-selector":        {"controller.probes.exporterSelector", "app=rtt", "--probe-exporter-selector=app=rtt"},
		"probe-exporter-port":            {"controller.probes.exporterPort", 9999, "--probe-exporter-port=9999"},
		"probe-interval":                 {"controller.probes.intervalSeconds", 17, "--probe-interval=17s"},
		"probe-pairs":                    {"controller.probes.budget.pairs", 11, "--probe-pairs=11"},
		"probe-pairs-per-site":           {"controller.probes.budget.perSite", 12, "--probe-pairs-per-site=12"},
		"probe-refresh-pairs":            {"controller.probes.budget.refresh", 13, "--probe-refresh-pairs=13"},
		"probe-tcp-module":               {"controller.probes.tcpModule", "tcp_x", "--probe-tcp-module=tcp_x"},
		"probe-icmp-module":              {"controller.probes.icmpModule", "icmp_x", "--probe-icmp-module=icmp_x"},
		"tls-cert-dir":                   {"controller.tlsSecret", "proxima-tls", "--tls-cert-dir=/etc/proxima/tls"},
		"leader-elect-namespace":         {"", nil, "--leader-elect-namespace=proxima-system"},
	}
	klogOutput := "klog's output flags: the container logs to stderr; controller.extraArgs sets any"
	reasons := map[string]string{
		"kubeconfig":               "in-cluster: the pod's ServiceAccount",
		"leader-elect":             "always on: one replica acts, whatever controller.replicas",
		"leader-elect-name":        "proxima-controller: the Lease the chart's Role lets it write",
		"scheduler-config":         "the scheduler's own ConfigMap, mounted, so that both judge alike",
		"accept-legacy-site-label": "read from --scheduler-config (acceptLegacySiteLabel)",
		"scheduler-names":          "the chart renders one profile, proxima-scheduler",
		"metrics-bind-address":     ":8080 in the pod, plain HTTP; the Service serves /metrics over TLS on 8443",
		"secure-bind-address":      ":8443, the port of Service proxima-controller",
		"vmodule":                  "per-file verbosity: controller.extraArgs",
		"version":                  "prints the version and exits",
	}
	for _, f := range []string{"add_dir_header", "alsologtostderr", "alsologtostderrthreshold", "legacy_stderr_threshold_behavior", "log_backtrace_at", "log_dir", "log_file", "log_file_max_size",
		"logtostderr", "one_output", "skip_headers", "skip_log_headers", "stderrthreshold"} {
		reasons[f] = klogOutput
	}
	for _, f := range flags {
		bv, ok := values[f]
		if !ok {
			if reasons[f] == "" {
				t.Errorf("proxima-controller --%s: no chart value sets it and no reason is given here", f)
			}
			continue
		}
		vals := map[string]any{}
		if bv.path != "" {
			vals = setValue(bv.path, bv.v)
		}
		rendered, err := renderChartValues(vals)
		if err != nil {
			t.Errorf("--%s: rendering %s=%v: %v", f, bv.path, bv.v, err)
			continue
		}
		if args := containerArgs(t, rendered, "proxima-controller"); !slices.Contains(args, bv.arg) {
			t.Errorf("--%s: %s=%v renders args %v, want %s", f, bv.path, bv.v, args, bv.arg)
		}
	}
	for f := range values {
		if !slices.Contains(flags, f) {
			t.Errorf("the table names --%s, which proxima-controller no longer has", f)
		}
	}

	// Both components' extra args and the scheduler's verbosity.
	rendered, err := renderChartValues(map[string]any{
		"scheduler":  map[string]any{"logLevel": 4, "extraArgs": []any{"--logging-format=json"}},
		"controller": map[string]any{"extraArgs": []any{"--vmodule=judge=6"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if args := containerArgs(t, rendered, "proxima-scheduler"); !slices.Contains(args, "--v=4") || !slices.Contains(args, "--logging-format=json") {
		t.Errorf("scheduler args %v", args)
	}
	if args := containerArgs(t, rendered, "proxima-controller"); !slices.Contains(args, "--vmodule=judge=6") {
		t.Errorf("controller args %v", args)
	}

	// EdgePlacement's args: every field of the versioned type (what a user
	// writes) is set by a value.
	argsOf := func(values map[string]any) *proximaconfig.EdgePlacementArgs {
		t.Helper()
		rendered, err := renderChartValues(values)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objects(t, rendered) {
			if o.GetKind() == "ConfigMap" && o.GetName() == "proxima-scheduler-config" {
				data, _, _ := unstructured.NestedString(o.Object, "data", "scheduler-config.yaml")
				return decodeArgs(t, []byte(data))
			}
		}
		t.Fatal("no scheduler configuration rendered")
		return nil
	}
	telemetry := func(extra map[string]any) map[string]any {
		m := map[string]any{"enabled": true, "address": "http://prometheus:9090"}
		for k, v := range extra {
			m[k] = v
		}
		return map[string]any{"telemetry": m}
	}
	signal := map[string]any{"query": "q", "maxAgeSeconds": 77, "nodeLabel": "n", "sourceLabel": "s", "siteLabel": "l"}
	wantSignal := func(s *proximaconfig.SignalArgs) bool {
		return s != nil && s.Query == "q" && s.MaxAgeSeconds == 77 && s.NodeLabel == "n" && s.SourceLabel == "s" && s.SiteLabel == "l"
	}
	fields := map[string]func() bool{
		"minCandidateNodes": func() bool { return argsOf(setValue("scheduler.minCandidateNodes", 33)).MinCandidateNodes == 33 },
		"cacheSyncTimeoutSeconds": func() bool {
			return argsOf(setValue("scheduler.cacheSyncTimeoutSeconds", 9)).CacheSyncTimeoutSeconds == 9
		},
		"placedEvents": func() bool { return argsOf(setValue("scheduler.placedEvents", true)).PlacedEvents },
		"gpuResources": func() bool {
			return slices.Equal(argsOf(setValue("scheduler.gpuResources", []any{"example.com/gpu"})).GPUResources, []string{"example.com/gpu"})
		},
		"acceptLegacySiteLabel": func() bool { return argsOf(map[string]any{"acceptLegacySiteLabel": true}).AcceptLegacySiteLabel },
		"telemetry.address":     func() bool { return argsOf(telemetry(nil)).Telemetry.Address == "http://prometheus:9090" },
		"telemetry.refreshSeconds": func() bool {
			return argsOf(telemetry(map[string]any{"refreshSeconds": 30})).Telemetry.RefreshSeconds == 30
		},
		"telemetry.queryTimeoutSeconds": func() bool {
			return argsOf(telemetry(map[string]any{"queryTimeoutSeconds": 2})).Telemetry.QueryTimeoutSeconds == 2
		},
		// The credential files are the mounted Secret's keys
		// (TestChartTelemetryCredentials checks every combination).
		"telemetry.caFile": func() bool {
			return argsOf(telemetry(map[string]any{"credentialsSecret": "s", "credentialsKeys": []any{"ca.crt"}})).Telemetry.CAFile != ""
		},
		"telemetry.certFile": func() bool {
			return argsOf(telemetry(map[string]any{"credentialsSecret": "s", "credentialsKeys": []any{"tls.crt", "tls.key"}})).Telemetry.CertFile != ""
		},
		"telemetry.keyFile": func() bool {
			return argsOf(telemetry(map[string]any{"credentialsSecret": "s", "credentialsKeys": []any{"tls.crt", "tls.key"}})).Telemetry.KeyFile != ""
		},
		"telemetry.bearerTokenFile": func() bool {
			return argsOf(telemetry(map[string]any{"credentialsSecret": "s", "credentialsKeys": []any{"token"}})).Telemetry.BearerTokenFile != ""
		},
		// The site RTT signal has its own two site labels.
		"telemetry.siteRTT": func() bool {
			s := argsOf(telemetry(map[string]any{"signals": map[string]any{"siteRTT": map[string]any{
				"query": "q", "maxAgeSeconds": 77, "fromSiteLabel": "f", "toSiteLabel": "t"}}})).Telemetry.SiteRTT
			return s != nil && s.Query == "q" && s.MaxAgeSeconds == 77 && s.FromSiteLabel == "f" && s.ToSiteLabel == "t"
		},
	}
	for name, get := range map[string]func(*proximaconfig.TelemetryArgs) *proximaconfig.SignalArgs{
		"nodeUtilization": func(a *proximaconfig.TelemetryArgs) *proximaconfig.SignalArgs { return a.NodeUtilization },
		"rtt":             func(a *proximaconfig.TelemetryArgs) *proximaconfig.SignalArgs { return a.RTT },
		"price":           func(a *proximaconfig.TelemetryArgs) *proximaconfig.SignalArgs { return a.Price },
		"health":          func(a *proximaconfig.TelemetryArgs) *proximaconfig.SignalArgs { return a.Health },
	} {
		fields["telemetry."+name] = func() bool {
			return wantSignal(get(argsOf(telemetry(map[string]any{"signals": map[string]any{name: signal}})).Telemetry))
		}
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous || name == "" {
				continue
			}
			path := prefix + name
			if f.Type == reflect.TypeFor[*configv1.TelemetryArgs]() {
				walk(path+".", f.Type.Elem())
				continue
			}
			check, ok := fields[path]
			if !ok {
				t.Errorf("EdgePlacement arg %s: no chart value sets it", path)
				continue
			}
			if !check() {
				t.Errorf("EdgePlacement arg %s: its chart value does not reach the scheduler's configuration", path)
			}
		}
	}
	walk("", reflect.TypeFor[configv1.EdgePlacementArgs]())

	// The API client's rate.
	rendered, err = renderChartValues(map[string]any{"scheduler": map[string]any{"kubeAPIQPS": 200, "kubeAPIBurst": 400}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects(t, rendered) {
		if o.GetKind() == "ConfigMap" && o.GetName() == "proxima-scheduler-config" {
			data, _, _ := unstructured.NestedString(o.Object, "data", "scheduler-config.yaml")
			var cfg struct {
				ClientConnection struct {
					QPS   float64 `json:"qps"`
					Burst int     `json:"burst"`
				} `json:"clientConnection"`
			}
			if err := yaml.Unmarshal([]byte(data), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.ClientConnection.QPS != 200 || cfg.ClientConnection.Burst != 400 {
				t.Errorf("clientConnection %+v, want qps 200, burst 400", cfg.ClientConnection)
			}
		}
	}
}

// TestDocumentedKustomizePatch builds the overlay docs/install.md shows
// for the kustomize install's knobs and checks that it does what it says.
func TestDocumentedKustomizePatch(t *testing.T) {
	doc := string(mustRead(t, filepath.Join("..", "..", "docs", "install.md")))
	_, after, ok := strings.Cut(doc, "### The same knobs with kustomize")
	if !ok {
		t.Fatal("docs/install.md has no section \"The same knobs with kustomize\"")
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the section has no yaml block")
	}
	install, err := filepath.Abs(filepath.Join("..", "..", "manifests", "install"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// kustomize takes a base by a relative path only.
	rel, err := filepath.Rel(dir, install)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n  - "+rel+"\n"+block), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build of the documented overlay: %v", err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	if args := containerArgs(t, out, "proxima-controller"); !slices.Contains(args, "--v=4") || slices.Contains(args, "--v=0") {
		t.Errorf("the documented patch leaves the controller's args %v", args)
	}
	for _, o := range objects(t, out) {
		if o.GetKind() == "Deployment" && o.GetName() == "proxima-controller" {
			secrets, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "imagePullSecrets")
			if len(secrets) != 1 {
				t.Errorf("imagePullSecrets %v", secrets)
			}
		}
	}
}
