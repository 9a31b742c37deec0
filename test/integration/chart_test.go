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
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	proximaconfig "github.com/proxima-sched/proxima/apis/config"
	_ "github.com/proxima-sched/proxima/apis/config/scheme"
	"github.com/proxima-sched/proxima/apis/config/validation"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
)

// pinned reads a pin of hack/versions.env (the one place versions live).
var pinned = sync.OnceValue(func() map[string]string {
	f, err := os.Open(filepath.Join("..", "..", "hack", "versions.env"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = v
		}
	}
	return out
})

var pinnedKubernetesVersion = sync.OnceValue(func() string { return pinned()["KUBERNETES_VERSION"] })

// objects decodes a rendered YAML stream.
func objects(t *testing.T, rendered []byte) []unstructured.Unstructured {
	t.Helper()
	var out []unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if obj != nil {
			out = append(out, unstructured.Unstructured{Object: obj})
		}
	}
}

func objectKey(u unstructured.Unstructured) string {
	ns := u.GetNamespace()
	if ns == "" && u.GetKind() != "Namespace" && u.GetKind() != "CustomResourceDefinition" &&
		!strings.HasPrefix(u.GetKind(), "Cluster") {
		ns = "proxima-system" // kustomize's NamespaceTransformer sets it
	}
	return u.GetKind() + " " + ns + "/" + u.GetName()
}

// TestRenderedLabelsAgree checks that both installs create the same objects
// and label every one of them app.kubernetes.io/part-of=proxima, the label
// the documented uninstall selects ClusterRoles, ClusterRoleBindings and the
// kube-system RoleBinding by (the docs test runs that uninstall for real).
func TestRenderedLabelsAgree(t *testing.T) {
	keys := map[string][]string{}
	for name, rendered := range map[string][]byte{"kustomize": renderInstall(t), "helm": renderChart(t)} {
		for _, u := range objects(t, rendered) {
			k := objectKey(u)
			// The chart leaves the namespace to --create-namespace.
			if u.GetKind() == "Namespace" {
				continue
			}
			keys[name] = append(keys[name], k)
			if got := u.GetLabels()["app.kubernetes.io/part-of"]; got != "proxima" {
				t.Errorf("%s: %s has app.kubernetes.io/part-of=%q, want proxima", name, k, got)
			}
		}
		slices.Sort(keys[name])
	}
	if len(keys["kustomize"]) < 20 {
		t.Fatalf("kustomize rendered only %d objects", len(keys["kustomize"]))
	}
	// kustomize's ConfigMap name carries a hash of its content.
	for i, k := range keys["kustomize"] {
		if strings.HasPrefix(k, "ConfigMap proxima-system/proxima-scheduler-config-") {
			keys["kustomize"][i] = "ConfigMap proxima-system/proxima-scheduler-config"
		}
	}
	slices.Sort(keys["kustomize"])
	if diff := cmp.Diff(keys["kustomize"], keys["helm"]); diff != "" {
		t.Errorf("the installs create different objects (-kustomize,+helm):\n%s", diff)
	}
}

// TestRenderedPlacementAgree checks that both installs keep the scheduler
// and the controller off edge nodes, with the same priority class, and that
// the chart's placement values reach both Deployments.
func TestRenderedPlacementAgree(t *testing.T) {
	placement := func(rendered []byte) map[string]any {
		out := map[string]any{}
		for _, u := range objects(t, rendered) {
			if u.GetKind() != "Deployment" {
				continue
			}
			spec, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec")
			out[u.GetName()] = map[string]any{"affinity": spec["affinity"], "nodeSelector": spec["nodeSelector"],
				"tolerations": spec["tolerations"], "priorityClassName": spec["priorityClassName"]}
		}
		return out
	}
	k, h := placement(renderInstall(t)), placement(renderChart(t))
	if len(k) != 2 {
		t.Fatalf("kustomize rendered %d Deployments, want 2", len(k))
	}
	if diff := cmp.Diff(k, h); diff != "" {
		t.Errorf("placement differs (-kustomize,+helm):\n%s", diff)
	}
	for name, p := range k {
		aff, _ := yaml.Marshal(p)
		for _, want := range []string{"node-role.kubernetes.io/edge", "openyurt.io/is-edge-worker", "system-cluster-critical"} {
			if !strings.Contains(string(aff), want) {
				t.Errorf("%s placement does not mention %s:\n%s", name, want, aff)
			}
		}
	}

	rendered, err := renderChartValues(map[string]any{"placement": map[string]any{
		"sites":             []any{"cloud-frankfurt", "cloud-ashburn"},
		"nodeSelector":      map[string]any{"kubernetes.io/os": "linux"},
		"tolerations":       []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "control", "effect": "NoSchedule"}},
		"priorityClassName": "",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range placement(rendered) {
		out, _ := yaml.Marshal(p)
		for _, want := range []string{"cloud-frankfurt", "kubernetes.io/os: linux", "dedicated", "node-role.kubernetes.io/edge"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s with placement values lacks %q:\n%s", name, want, out)
			}
		}
		if p.(map[string]any)["priorityClassName"] != nil {
			t.Errorf("%s: priorityClassName set although the value is empty", name)
		}
	}
	for _, u := range objects(t, rendered) {
		if u.GetKind() == "ResourceQuota" {
			t.Errorf("ResourceQuota %s rendered without a priority class", u.GetName())
		}
	}
}

// TestCloudTierOverlay checks that the kustomize example that keeps both
// components on the cloud sites' nodes renders the placement the chart
// renders with placement.sites set to the same site.
func TestCloudTierOverlay(t *testing.T) {
	affinity := func(rendered []byte) map[string]any {
		out := map[string]any{}
		for _, u := range objects(t, rendered) {
			if u.GetKind() == "Deployment" {
				a, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec", "affinity")
				out[u.GetName()] = a
			}
		}
		return out
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "manifests", "examples", "cloud-tier"))
	if err != nil {
		t.Fatalf("kustomize build manifests/examples/cloud-tier: %v", err)
	}
	overlay, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	chart, err := renderChartValues(map[string]any{"placement": map[string]any{"sites": []any{"cloud-frankfurt"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, want := affinity(overlay), affinity(chart)
	if len(got) != 2 {
		t.Fatalf("the overlay rendered %d Deployments, want 2", len(got))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("affinity differs (-helm placement.sites,+kustomize overlay):\n%s", diff)
	}
	if out, _ := yaml.Marshal(got); !strings.Contains(string(out), "cloud-frankfurt") {
		t.Errorf("the overlay does not require the cloud site:\n%s", out)
	}
}

// telemetryOf renders the chart with telemetry values and returns the
// EdgePlacement args (decoded and defaulted as the scheduler does) and the
// scheduler container's mounts and the Secret volume.
func telemetryOf(t *testing.T, values map[string]any) (*proximaconfig.EdgePlacementArgs, map[string]string, string) {
	t.Helper()
	rendered, err := renderChartValues(map[string]any{"telemetry": values})
	if err != nil {
		t.Fatalf("helm template with telemetry %v: %v", values, err)
	}
	var args *proximaconfig.EdgePlacementArgs
	mounts := map[string]string{}
	secret := ""
	for _, u := range objects(t, rendered) {
		switch u.GetKind() {
		case "ConfigMap":
			data, _, _ := unstructured.NestedString(u.Object, "data", "scheduler-config.yaml")
			args = decodeArgs(t, []byte(data))
		case "Deployment":
			if u.GetName() != "proxima-scheduler" {
				continue
			}
			containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			for _, m := range containers[0].(map[string]any)["volumeMounts"].([]any) {
				mm := m.(map[string]any)
				mounts[mm["name"].(string)] = mm["mountPath"].(string)
			}
			vols, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if s, ok := v.(map[string]any)["secret"].(map[string]any); ok {
					secret = s["secretName"].(string)
				}
			}
		}
	}
	return args, mounts, secret
}

// decodeArgs loads a KubeSchedulerConfiguration as kube-scheduler does
// (decoding, conversion, defaults) and returns EdgePlacement's args,
// validated as the plugin validates them.
func decodeArgs(t *testing.T, data []byte) *proximaconfig.EdgePlacementArgs {
	t.Helper()
	obj, _, err := scheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decoding the scheduler configuration: %v\n%s", err, data)
	}
	cfg := obj.(*config.KubeSchedulerConfiguration)
	for _, prof := range cfg.Profiles {
		for _, pc := range prof.PluginConfig {
			if pc.Name != edgeplacement.Name {
				continue
			}
			args, ok := pc.Args.(*proximaconfig.EdgePlacementArgs)
			if !ok {
				t.Fatalf("EdgePlacement args decoded as %T", pc.Args)
			}
			if err := validation.ValidateEdgePlacementArgs(nil, args); err != nil {
				t.Fatalf("EdgePlacement args do not validate: %v", err)
			}
			return args
		}
	}
	t.Fatal("no EdgePlacement args in the rendered configuration")
	return nil
}

// TestChartTelemetryCredentials renders every combination of credentials
// the chart documents (values.yaml: ca.crt, tls.crt with tls.key, token)
// and checks that the scheduler is pointed at exactly the files that
// combination mounts, and that the combinations the scheduler cannot use
// are refused at render time.
func TestChartTelemetryCredentials(t *testing.T) {
	const dir = "/etc/proxima/prometheus/"
	for _, tc := range []struct {
		keys                     []any
		ca, cert, key, tokenFile string
	}{
		{keys: []any{"token"}, tokenFile: dir + "token"},
		{keys: []any{"ca.crt"}, ca: dir + "ca.crt"},
		{keys: []any{"ca.crt", "token"}, ca: dir + "ca.crt", tokenFile: dir + "token"},
		{keys: []any{"tls.crt", "tls.key"}, cert: dir + "tls.crt", key: dir + "tls.key"},
		{keys: []any{"ca.crt", "tls.crt", "tls.key"}, ca: dir + "ca.crt", cert: dir + "tls.crt", key: dir + "tls.key"},
		{keys: []any{"ca.crt", "tls.crt", "tls.key", "token"}, ca: dir + "ca.crt", cert: dir + "tls.crt", key: dir + "tls.key", tokenFile: dir + "token"},
	} {
		t.Run(fmt.Sprint(tc.keys), func(t *testing.T) {
			args, mounts, secret := telemetryOf(t, map[string]any{"enabled": true, "address": "https://prometheus.monitoring:9090",
				"credentialsSecret": "prometheus-client", "credentialsKeys": tc.keys})
			tel := args.Telemetry
			if tel == nil {
				t.Fatal("telemetry enabled but absent from the args")
			}
			got := [4]string{tel.CAFile, tel.CertFile, tel.KeyFile, tel.BearerTokenFile}
			if want := [4]string{tc.ca, tc.cert, tc.key, tc.tokenFile}; got != want {
				t.Errorf("ca, cert, key, token files = %q, want %q", got, want)
			}
			if secret != "prometheus-client" || mounts["prometheus"]+"/" != dir {
				t.Errorf("Secret %q mounted at %q, want prometheus-client at %s", secret, mounts["prometheus"], dir)
			}
		})
	}
	t.Run("no Secret", func(t *testing.T) {
		args, mounts, secret := telemetryOf(t, map[string]any{"enabled": true, "address": "http://prometheus.monitoring:9090"})
		if tel := args.Telemetry; tel == nil || tel.CAFile+tel.CertFile+tel.KeyFile+tel.BearerTokenFile != "" {
			t.Errorf("telemetry without credentials = %+v", args.Telemetry)
		}
		if secret != "" || mounts["prometheus"] != "" {
			t.Errorf("a Secret (%q at %q) is mounted without credentialsSecret", secret, mounts["prometheus"])
		}
	})
	for name, keys := range map[string][]any{
		"certificate without its key": {"tls.crt"},
		"key without its certificate": {"ca.crt", "tls.key"},
		"unknown key":                 {"password"},
		"no keys":                     {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderChartValues(map[string]any{"telemetry": map[string]any{"enabled": true, "address": "http://p:9090",
				"credentialsSecret": "prometheus-client", "credentialsKeys": keys}})
			// The schema refuses an unknown key, the template the rest.
			if err == nil || !strings.Contains(err.Error(), "credentialsKeys") {
				t.Errorf("rendering with credentialsKeys %v: error %v, want one naming telemetry.credentialsKeys", keys, err)
			}
		})
	}
}

// TestKustomizeTelemetryOverlay renders the documented kustomize overlay
// (manifests/examples/telemetry) and checks that the scheduler reads the
// files the overlay mounts.
func TestKustomizeTelemetryOverlay(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "manifests", "examples", "telemetry"))
	if err != nil {
		t.Fatalf("kustomize build manifests/examples/telemetry: %v", err)
	}
	rendered, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var args *proximaconfig.EdgePlacementArgs
	var mountPath, secret string
	for _, u := range objects(t, rendered) {
		switch {
		case u.GetKind() == "ConfigMap" && strings.HasPrefix(u.GetName(), "proxima-scheduler-config"):
			data, _, _ := unstructured.NestedString(u.Object, "data", "scheduler-config.yaml")
			args = decodeArgs(t, []byte(data))
		case u.GetKind() == "Deployment" && u.GetName() == "proxima-scheduler":
			containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			for _, m := range containers[0].(map[string]any)["volumeMounts"].([]any) {
				if mm := m.(map[string]any); mm["name"] == "prometheus" {
					mountPath = mm["mountPath"].(string)
				}
			}
			vols, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if s, ok := v.(map[string]any)["secret"].(map[string]any); ok {
					secret = s["secretName"].(string)
				}
			}
		}
	}
	if args == nil || args.Telemetry == nil {
		t.Fatal("the overlay's scheduler configuration has no telemetry")
	}
	if secret == "" || mountPath == "" {
		t.Fatalf("the overlay mounts no Secret (secret %q at %q)", secret, mountPath)
	}
	for _, f := range []string{args.Telemetry.CAFile, args.Telemetry.BearerTokenFile} {
		if f == "" || filepath.Dir(f) != mountPath {
			t.Errorf("telemetry file %q is not in the mounted Secret at %s", f, mountPath)
		}
	}
	// Apart from telemetry, the overlay's configuration is the install's.
	install := decodeArgs(t, mustRead(t, filepath.Join("..", "..", "manifests", "install", "scheduler-config.yaml")))
	overlay := args.DeepCopy()
	overlay.Telemetry = nil
	if diff := cmp.Diff(install, overlay); diff != "" {
		t.Errorf("manifests/examples/telemetry/scheduler-config.yaml drifted from the install's (-install,+overlay):\n%s", diff)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
