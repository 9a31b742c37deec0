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
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/test/harness"
)

var monitoringDir = filepath.Join("..", "..", "manifests", "monitoring")

// shippedRules are the alerting rules of the monitoring package, as the
// plain Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func shippedAlerts(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	if err := yaml.UnmarshalStrict(mustRead(t, filepath.Join(monitoringDir, "rules", "proxima.rules.yaml")), &rf); err != nil {
		t.Fatal(err)
	}
	if len(rf.Groups) == 0 || len(rf.Groups[0].Rules) == 0 {
		t.Fatal("the rule file has no alerts")
	}
	return rf
}

// dashboardQueries are the PromQL expressions of the generated dashboard's
// panels, with Grafana's $__rate_interval as 5m.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(monitoringDir, "dashboards", "proxima.json")), &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		for i, q := range p.Targets {
			out[fmt.Sprintf("panel %q query %d", p.Title, i)] = strings.ReplaceAll(q.Expr, "$__rate_interval", "5m")
		}
	}
	if len(out) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return out
}

// referencedMetrics are the metric names docs/reference/metrics.md lists:
// the first column of its tables.
func referencedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	re := regexp.MustCompile("(?m)^\\| `([a-z_:]+)` \\|")
	out := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(mustRead(t, filepath.Join("..", "..", "docs", "reference", "metrics.md"))), -1) {
		out[m[1]] = true
	}
	return out
}

// selectorNames parses query with the real Prometheus (/api/v1/parse_query)
// and returns the metric names its selectors read.
func selectorNames(t *testing.T, prom *harness.Prometheus, query string) ([]string, error) {
	t.Helper()
	resp, err := http.Get(prom.URL + "/api/v1/parse_query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   any    `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s", body.Error)
	}
	var names []string
	var walk func(any)
	walk = func(n any) {
		switch n := n.(type) {
		case map[string]any:
			if typ, _ := n["type"].(string); typ == "vectorSelector" || typ == "matrixSelector" {
				name, _ := n["name"].(string)
				if name == "" {
					name = "(selector without a metric name)"
				}
				names = append(names, name)
			}
			for _, v := range n {
				walk(v)
			}
		case []any:
			for _, v := range n {
				walk(v)
			}
		}
	}
	walk(body.Data)
	return names, nil
}

// TestMonitoringPackage runs the monitoring package against the real
// components: the installed proxima-scheduler and proxima-controller
// binaries with leader election, scraped by a real Prometheus as the
// shipped ServiceMonitors describe (their endpoints, the job label of
// their Service and a token of a ServiceAccount bound by the shipped
// prometheus-rbac.yaml), with the shipped rule file loaded.
//
// Every alert and panel expression must parse and read only metrics the
// metrics reference lists; the rules must load and evaluate; the leader
// alerts must be quiet while both components lead and fire when the
// controller is gone; ProximaPodsPending's expression must see a pod
// EdgePlacement rejects.
func TestMonitoringPackage(t *testing.T) {
	ctx := context.Background()
	rendered := renderInstall(t)
	cp, configPath, kubeconfig, bin := installed(t, rendered)

	// Prometheus's identity, bound by the shipped ClusterRoleBinding.
	monitoring := createNamespace(t, cp.Client, "monitoring")
	if _, err := cp.Client.CoreV1().ServiceAccounts(monitoring).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-k8s"}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rbac := strings.ReplaceAll(string(mustRead(t, filepath.Join(monitoringDir, "prometheus-rbac.yaml"))),
		"name: prometheus-k8s\n  namespace: monitoring", "name: prometheus-k8s\n  namespace: "+monitoring)
	if !strings.Contains(rbac, monitoring) {
		t.Fatal("prometheus-rbac.yaml no longer binds prometheus-k8s in monitoring: update this test")
	}
	if _, err := applyYAML(t, cp, []byte(rbac)); err != nil {
		t.Fatal(err)
	}
	tok, err := cp.Client.CoreV1().ServiceAccounts(monitoring).CreateToken(ctx, "prometheus-k8s",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}

	sched := startScheduler(t, bin, configPath, kubeconfig, "proxima-scheduler")
	ctrlPort, err := controlplane.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctrl := startController(t, cp, rendered, fmt.Sprintf("--secure-bind-address=127.0.0.1:%d", ctrlPort), "--probes=false")

	// Scrape jobs from the shipped ServiceMonitors: the job label is the
	// Service's name, as prometheus-operator gives it.
	addrs := map[string]string{
		"proxima-scheduler-metrics": fmt.Sprintf("127.0.0.1:%d", sched.port),
		"proxima-controller":        fmt.Sprintf("127.0.0.1:%d", ctrlPort),
	}
	var scrape strings.Builder
	for _, sm := range objects(t, mustRead(t, filepath.Join(monitoringDir, "servicemonitors.yaml"))) {
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 {
			t.Fatalf("ServiceMonitor %s has %d endpoints, want 1", sm.GetName(), len(eps))
		}
		ep := eps[0].(map[string]any)
		addr, ok := addrs[sm.GetName()]
		if !ok {
			t.Fatalf("ServiceMonitor %s names a Service the install does not have", sm.GetName())
		}
		if ep["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
			t.Fatalf("ServiceMonitor %s authenticates with %v: update this test", sm.GetName(), ep["bearerTokenFile"])
		}
		skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify")
		fmt.Fprintf(&scrape, "  - job_name: %s\n    scheme: %s\n    metrics_path: %s\n    authorization: {credentials_file: %q}\n"+
			"    tls_config: {insecure_skip_verify: %t}\n    static_configs: [{targets: [%q]}]\n",
			sm.GetName(), ep["scheme"], ep["path"], tokenFile, skip, addr)
		delete(addrs, sm.GetName())
	}
	if len(addrs) != 0 {
		t.Fatalf("no ServiceMonitor for %v", addrs)
	}
	prom := harness.StartPrometheusWith(t, scrape.String(), map[string][]byte{
		"proxima.rules.yaml": mustRead(t, filepath.Join(monitoringDir, "rules", "proxima.rules.yaml")),
	})
	query := func(q string) []controlplane.Sample {
		t.Helper()
		s, err := prom.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
			return cond(), nil
		}); err != nil {
			t.Fatalf("never: %s", what)
		}
	}
	for _, job := range []string{"proxima-scheduler-metrics", "proxima-controller"} {
		eventually(job+" scraped (up == 1) with the shipped RBAC", func() bool {
			return len(query(fmt.Sprintf(`up{job=%q} == 1`, job))) == 1
		})
	}

	// Every expression parses and reads only listed metrics.
	ref := referencedMetrics(t)
	rf := shippedAlerts(t)
	exprs := dashboardQueries(t)
	alertExpr := map[string]string{}
	for _, r := range rf.Groups[0].Rules {
		exprs["alert "+r.Alert] = r.Expr
		alertExpr[r.Alert] = r.Expr
	}
	for _, what := range slices.Sorted(maps.Keys(exprs)) {
		names, err := selectorNames(t, prom, exprs[what])
		if err != nil {
			t.Errorf("%s does not parse: %v", what, err)
			continue
		}
		for _, n := range names {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && ref[b] {
					base = b
				}
			}
			if !ref[base] {
				t.Errorf("%s reads %s, which docs/reference/metrics.md does not list", what, n)
			}
		}
	}

	// The rule file loads, and every rule evaluates without error.
	eventually("every shipped rule loaded and evaluated", func() bool {
		resp, err := http.Get(prom.URL + "/api/v1/rules?type=alert")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return false
		}
		ok := 0
		for _, g := range body.Data.Groups {
			for _, r := range g.Rules {
				if r.Health == "err" {
					t.Fatalf("rule %s: %s", r.Name, r.LastError)
				}
				if r.Health == "ok" {
					ok++
				}
			}
		}
		return ok == len(alertExpr)
	})

	// Both lead: the leader alerts are quiet, which needs each component's
	// leader_election_master_status under its job.
	for _, a := range []string{"ProximaSchedulerNoLeader", "ProximaControllerNoLeader"} {
		eventually(a+"'s expression empty while a replica leads", func() bool { return len(query(alertExpr[a])) == 0 })
	}

	// A pod EdgePlacement rejects: residency allows no site with nodes.
	e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "monitored")}
	e.site(siteSpec{name: "fr", country: "FR", nodes: 1})
	spec := *costPolicy.DeepCopy()
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"DE"}}}
	e.policy("de-only", spec)
	e.pod("stuck", "de-only", "100m")
	eventually("ProximaPodsPending's expression counts the pod under profile proxima-scheduler", func() bool {
		s := query(alertExpr["ProximaPodsPending"])
		return len(s) == 1 && s[0].Metric["profile"] == proximaScheduler && s[0].Value == 1
	})

	// The controller goes away: its leader alert's expression fires.
	_ = ctrl.Process.Kill()
	eventually("ProximaControllerNoLeader's expression fires once no controller is scraped", func() bool {
		return len(query(alertExpr["ProximaControllerNoLeader"])) == 1
	})
	if s := query(alertExpr["ProximaSchedulerNoLeader"]); len(s) != 0 {
		t.Errorf("ProximaSchedulerNoLeader fires while the scheduler leads: %v", s)
	}
}

// TestChartMonitoring: the chart renders the monitoring package only when
// asked, and then the same ServiceMonitors, rules and dashboard as
// manifests/monitoring.
func TestChartMonitoring(t *testing.T) {
	kinds := func(rendered []byte) map[string]int {
		out := map[string]int{}
		for _, o := range objects(t, rendered) {
			out[o.GetKind()+"/"+o.GetName()]++
		}
		return out
	}
	def := kinds(renderChart(t))
	for _, k := range []string{"ServiceMonitor/proxima-scheduler-metrics", "ServiceMonitor/proxima-controller", "PrometheusRule/proxima",
		"ConfigMap/proxima-dashboard", "ClusterRole/proxima-metrics-reader"} {
		if def[k] != 0 {
			t.Errorf("the default chart renders %s", k)
		}
	}
	rendered, err := renderChartValues(map[string]any{"monitoring": map[string]any{
		"serviceMonitors":          map[string]any{"enabled": true},
		"prometheusRule":           map[string]any{"enabled": true},
		"dashboard":                map[string]any{"enabled": true},
		"prometheusServiceAccount": map[string]any{"name": "prometheus-k8s", "namespace": "monitoring"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), monitoringDir)
	if err != nil {
		t.Fatalf("kustomize build manifests/monitoring: %v", err)
	}
	kust, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	byKey := func(rendered []byte) map[string]unstructured.Unstructured {
		out := map[string]unstructured.Unstructured{}
		for _, o := range objects(t, rendered) {
			switch o.GetKind() {
			case "ServiceMonitor", "PrometheusRule", "ClusterRole", "ClusterRoleBinding", "ConfigMap":
				if o.GetKind() == "ConfigMap" && o.GetName() != "proxima-dashboard" ||
					strings.HasPrefix(o.GetKind(), "ClusterRole") && o.GetName() != "proxima-metrics-reader" {
					continue
				}
				out[o.GetKind()+"/"+o.GetName()] = o
			}
		}
		return out
	}
	helm, kz := byKey(rendered), byKey(kust)
	if diff := cmp.Diff(slices.Sorted(maps.Keys(kz)), slices.Sorted(maps.Keys(helm))); diff != "" {
		t.Fatalf("monitoring objects differ (-kustomize,+helm):\n%s", diff)
	}
	for key, want := range kz {
		got := helm[key]
		for _, field := range [][]string{{"spec"}, {"rules"}, {"roleRef"}, {"data"}} {
			w, _, _ := unstructured.NestedFieldNoCopy(want.Object, field...)
			g, _, _ := unstructured.NestedFieldNoCopy(got.Object, field...)
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("%s %v differs (-kustomize,+helm):\n%s", key, field, diff)
			}
		}
		if got.GetNamespace() != "" && got.GetNamespace() != "proxima-system" {
			t.Errorf("%s in namespace %s", key, got.GetNamespace())
		}
	}
	// Both renderings are valid objects of prometheus-operator's own CRDs,
	// which controller-gen writes from its types module (the one
	// hack/monitoring generates them with), on a real apiserver.
	cp := harness.Start(t, controlplane.Options{NoCRDs: true})
	crds := t.TempDir()
	bin, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	gen := exec.Command(filepath.Join(bin, "controller-gen"), "crd:crdVersions=v1,maxDescLen=0",
		"paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1", "output:crd:dir="+crds)
	gen.Dir = filepath.Join("..", "..", "hack", "monitoring")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen on prometheus-operator's types: %v\n%s", err, out)
	}
	for _, kind := range []string{"servicemonitors", "prometheusrules"} {
		if _, err := applyYAML(t, cp, mustRead(t, filepath.Join(crds, "monitoring.coreos.com_"+kind+".yaml"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		_, err := cp.Client.Discovery().ServerResourcesForGroupVersion("monitoring.coreos.com/v1")
		return err == nil, nil
	}); err != nil {
		t.Fatal("prometheus-operator's CRDs never served")
	}
	strict := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	for name, objs := range map[string]map[string]unstructured.Unstructured{"kustomize": kz, "helm": helm} {
		ns := createNamespace(t, cp.Client, name)
		for key, o := range objs {
			if o.GetKind() != "ServiceMonitor" && o.GetKind() != "PrometheusRule" {
				continue
			}
			o := o.DeepCopy()
			o.SetNamespace(ns)
			data, err := yaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := applyYAMLWith(t, cp, data, strict); err != nil {
				t.Errorf("%s's %s refused: %v", name, key, err)
			}
		}
	}
	// The schema is enforced: a wrong type is refused.
	bad := strings.Replace(string(mustRead(t, filepath.Join(monitoringDir, "servicemonitors.yaml"))), "interval: 30s", "interval: 30 seconds", 1)
	bad = strings.Replace(bad, "name: proxima-scheduler-metrics", "name: bad\n  namespace: default", 1)
	if _, err := applyYAMLWith(t, cp, []byte(strings.SplitN(bad, "---", 2)[0]), strict); err == nil {
		t.Error("a ServiceMonitor with interval \"30 seconds\" was accepted")
	}

	// kustomize's namespace leaves the binding's subject alone.
	subjects, _, _ := unstructured.NestedSlice(kz["ClusterRoleBinding/proxima-metrics-reader"].Object, "subjects")
	if want := []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}}; !cmp.Equal(subjects, want) {
		t.Errorf("kustomize binds %v, want %v", subjects, want)
	}
	// The ServiceMonitors select the Services both installs create.
	for _, o := range objects(t, renderChart(t)) {
		if o.GetKind() != "Service" {
			continue
		}
		sm, ok := helm["ServiceMonitor/"+o.GetName()]
		if !ok {
			t.Errorf("no ServiceMonitor for Service %s", o.GetName())
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		for k, v := range sel {
			if o.GetLabels()[k] != v {
				t.Errorf("ServiceMonitor %s selects %s=%s; Service %s has %q", sm.GetName(), k, v, o.GetName(), o.GetLabels()[k])
			}
		}
	}
}
