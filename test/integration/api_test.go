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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/test/harness"
)

// applyYAML creates every object in a multi-document YAML stream.
func applyYAML(t *testing.T, cp *controlplane.ControlPlane, data []byte) ([]*unstructured.Unstructured, error) {
	t.Helper()
	return applyYAMLWith(t, cp, data, metav1.CreateOptions{})
}

// applyYAMLWith is applyYAML with create options (FieldValidation: Strict
// refuses unknown and duplicate fields).
func applyYAMLWith(t *testing.T, cp *controlplane.ControlPlane, data []byte, opts metav1.CreateOptions) ([]*unstructured.Unstructured, error) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cp.Client.Discovery()))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return out, err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		created, err := ri.Create(context.Background(), obj, opts)
		if err != nil {
			return out, err
		}
		out = append(out, created)
	}
}

// TestExamplesApply applies every file in manifests/examples.
func TestExamplesApply(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	files, err := filepath.Glob(filepath.Join("..", "..", "manifests", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := applyYAML(t, cp, data)
		if err != nil {
			t.Errorf("%s does not apply: %v", filepath.Base(f), err)
		}
		total += len(objs)
	}
	if total < 10 {
		t.Errorf("examples created %d objects, want at least 10 (6 sites, 3 sources, 3 policies)", total)
	}
}

const (
	validSite = `
apiVersion: placement.proxima.dev/v1alpha1
kind: Site
metadata: {name: s}
spec:
  tier: Edge
  country: FR
  jurisdictions: [EU]
  location: {latitude: "45.76", longitude: "4.83"}
  pricing: {cpuCoreHour: "0.08"}
`
	validSource = `
apiVersion: placement.proxima.dev/v1alpha1
kind: TrafficSource
metadata: {name: ts}
spec:
  location: {latitude: "48.85", longitude: "2.35"}
  rtts: [{site: s, milliseconds: 9}]
  probe: {targets: ["198.51.100.7:443", "[2001:db8::7]:443", "front.example.net:443"]}
`
	validPolicy = `
apiVersion: placement.proxima.dev/v1alpha1
kind: PlacementPolicy
metadata: {name: p, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  residency: {allowed: {jurisdictions: [EU]}}
  latency: {sources: [{name: ts, weight: 2}], maxRTTMilliseconds: 20}
  cost: {maxHourly: "0.5"}
  weights: {latency: 80, cost: 20}
`
)

// TestAdmissionValidation checks that the apiserver refuses bad objects with a
// message that names the offending field, and accepts the valid baselines.
func TestAdmissionValidation(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	for _, base := range []string{validSite, validSource, validPolicy} {
		if _, err := applyYAML(t, cp, []byte(base)); err != nil {
			t.Fatalf("valid baseline rejected: %v\n%s", err, base)
		}
	}
	tests := []struct {
		name  string
		base  string
		patch string // "path=yaml" pairs separated by ';', applied to a copy of base
		want  []string
	}{
		// Site
		{"unknown tier", validSite, "spec.tier=Orbit", []string{"spec.tier", "Unsupported value"}},
		{"lower-case country", validSite, "spec.country=fr", []string{"spec.country"}},
		{"three-letter country", validSite, "spec.country=FRA", []string{"spec.country"}},
		{"unassigned country", validSite, "spec.country=XX", []string{"spec.country", `Unsupported value: "XX"`, `"FR"`}},
		{"reserved country", validSite, "spec.country=UK", []string{"spec.country", `Unsupported value: "UK"`, `"GB"`}},
		{"missing country", validSite, "spec.country=~", []string{"spec.country", "Required"}},
		{"latitude out of range", validSite, `spec.location.latitude="91.5"`, []string{"spec.location.latitude", "between -90 and 90"}},
		{"longitude out of range", validSite, `spec.location.longitude="-181"`, []string{"spec.location.longitude", "between -180 and 180"}},
		{"latitude not a number", validSite, `spec.location.latitude="north"`, []string{"spec.location.latitude"}},
		{"missing location", validSite, "spec.location=~", []string{"spec.location", "Required"}},
		{"negative cpu price", validSite, `spec.pricing.cpuCoreHour="-0.01"`, []string{"spec.pricing.cpuCoreHour", "must not be negative"}},
		{"negative gpu price", validSite, `spec.pricing.gpuHour="-2"`, []string{"spec.pricing.gpuHour", "must not be negative"}},
		{"price not a quantity", validSite, `spec.pricing.memoryGiBHour="cheap"`, []string{"spec.pricing.memoryGiBHour"}},
		{"empty pricing", validSite, "spec.pricing={}", []string{"spec.pricing"}},
		{"bad jurisdiction tag", validSite, `spec.jurisdictions=["E U"]`, []string{"spec.jurisdictions"}},
		{"duplicate jurisdiction", validSite, `spec.jurisdictions=[EU, EU]`, []string{"spec.jurisdictions", "Duplicate"}},
		// TrafficSource
		{"negative RTT", validSource, `spec.rtts=[{site: s, milliseconds: -3}]`, []string{"spec.rtts[0].milliseconds"}},
		{"absurd RTT", validSource, `spec.rtts=[{site: s, milliseconds: 90000}]`, []string{"spec.rtts[0].milliseconds", "10000"}},
		{"RTT to an invalid site name", validSource, `spec.rtts=[{site: "Not_A_Site", milliseconds: 3}]`, []string{"spec.rtts[0].site"}},
		{"duplicate RTT site", validSource, `spec.rtts=[{site: s, milliseconds: 3}, {site: s, milliseconds: 4}]`, []string{"spec.rtts[1]", "Duplicate"}},
		{"no location and no rtts", validSource, "spec.location=~;spec.rtts=~", []string{"spec", "needs a location"}},
		{"zero demand", validSource, "spec.demand=0", []string{"spec.demand"}},
		{"TCP probe target without a port", validSource, "spec.probe={targets: [front.example.net]}", []string{"spec.probe", "TCP probe targets need a port"}},
		{"ICMP probe target with a port", validSource, `spec.probe={targets: ["192.0.2.1:443"], module: ICMP}`, []string{"spec.probe", "ICMP probe targets are hosts without a port"}},
		{"probe target not a host", validSource, `spec.probe={targets: ["http://front/"]}`, []string{"spec.probe.targets[0]"}},
		{"unknown probe module", validSource, `spec.probe={targets: ["a:1"], module: UDP}`, []string{"spec.probe.module", "Unsupported value"}},
		{"no probe targets", validSource, "spec.probe={targets: []}", []string{"spec.probe.targets"}},
		{"too many rtts", validSource, "spec.rtts=" + many(2001, "{site: s%d, milliseconds: 1}"), []string{"spec.rtts", "2000"}},
		// PlacementPolicy
		{"empty allow list", validPolicy, "spec.residency.allowed={}", []string{"spec.residency.allowed", "at least one country or jurisdiction"}},
		{"overlapping allow and deny countries", validPolicy, "spec.residency={allowed: {countries: [DE, FR]}, denied: {countries: [FR]}}", []string{"spec.residency", "both allowed and denied"}},
		{"overlapping allow and deny jurisdictions", validPolicy, "spec.residency={allowed: {jurisdictions: [EU]}, denied: {jurisdictions: [EU]}}", []string{"spec.residency", "both allowed and denied"}},
		{"malformed residency country", validPolicy, "spec.residency={allowed: {countries: [Germany]}}", []string{"spec.residency.allowed.countries[0]"}},
		{"unassigned allowed country", validPolicy, "spec.residency={allowed: {countries: [DE, XX]}}", []string{"spec.residency.allowed.countries[1]", `Unsupported value: "XX"`}},
		{"unassigned denied country", validPolicy, "spec.residency={denied: {countries: [XX]}}", []string{"spec.residency.denied.countries[0]", `Unsupported value: "XX"`}},
		{"user-assigned denied country", validPolicy, "spec.residency={allowed: {jurisdictions: [EU]}, denied: {countries: [FR, XK]}}", []string{"spec.residency.denied.countries[1]", `Unsupported value: "XK"`}},
		{"empty residency", validPolicy, "spec.residency={}", []string{"spec.residency"}},
		{"max RTT without sources", validPolicy, "spec.latency={maxRTTMilliseconds: 20}", []string{"spec", "maxRTTMilliseconds needs at least one entry in latency.sources"}},
		{"zero max RTT", validPolicy, "spec.latency.maxRTTMilliseconds=0", []string{"spec.latency.maxRTTMilliseconds"}},
		{"absurd max RTT", validPolicy, "spec.latency.maxRTTMilliseconds=100000", []string{"spec.latency.maxRTTMilliseconds"}},
		{"unknown objective", validPolicy, "spec.latency.objective=Median", []string{"spec.latency.objective", "Unsupported value"}},
		{"unknown estimate handling", validPolicy, "spec.latency.estimates=Optimistic", []string{"spec.latency.estimates", "Unsupported value"}},
		{"source weight zero", validPolicy, "spec.latency.sources=[{name: ts, weight: 0}]", []string{"spec.latency.sources[0].weight"}},
		{"too many sources", validPolicy, "spec.latency.sources=" + many(65, "{name: ts%d}"), []string{"spec.latency.sources", "64"}},
		{"weights out of range", validPolicy, "spec.weights={latency: 150}", []string{"spec.weights.latency"}},
		{"negative weight", validPolicy, "spec.weights={cost: -1}", []string{"spec.weights.cost"}},
		{"dependency without a selector or Service", validPolicy, "spec.dependencies=[{name: db}]", []string{"spec.dependencies[0]", "exactly one of podSelector and service"}},
		{"dependency with a selector and a Service", validPolicy, "spec.dependencies=[{name: db, podSelector: {}, service: db}]", []string{"spec.dependencies[0]", "exactly one of podSelector and service"}},
		{"dependency on a Service that is not a name", validPolicy, "spec.dependencies=[{name: db, service: DB_1}]", []string{"spec.dependencies[0].service"}},
		{"dependency name not a label", validPolicy, "spec.dependencies=[{name: DB_1, podSelector: {}}]", []string{"spec.dependencies[0].name"}},
		{"duplicate dependency", validPolicy, "spec.dependencies=[{name: db, podSelector: {}}, {name: db, podSelector: {}}]", []string{"spec.dependencies[1]", "Duplicate"}},
		{"dependency bound out of range", validPolicy, "spec.dependencies=[{name: db, podSelector: {}, maxRTTMilliseconds: 0}]", []string{"spec.dependencies[0].maxRTTMilliseconds"}},
		{"dependency weight out of range", validPolicy, "spec.dependencies=[{name: db, podSelector: {}, weight: 1001}]", []string{"spec.dependencies[0].weight"}},
		{"empty spread", validPolicy, "spec.spread={}", []string{"spec.spread"}},
		{"spread minSites 0", validPolicy, "spec.spread={minSites: 0}", []string{"spec.spread.minSites"}},
		{"spread maxSkew 0", validPolicy, "spec.spread={minSites: 2, maxSkew: 0}", []string{"spec.spread.maxSkew"}},
		{"too many dependencies", validPolicy, "spec.dependencies=" + many(17, "{name: d%d, podSelector: {}}"), []string{"spec.dependencies", "16"}},
		{"weights sum to zero", validPolicy, "spec.weights={latency: 0, cost: 0, load: 0}", []string{"spec.weights", "must be positive"}},
		{"latency weight without sources", validPolicy, "spec.latency=~;spec.weights={latency: 50}", []string{"spec", "weights.latency is set but latency.sources and dependencies are empty"}},
		{"zero max hourly", validPolicy, `spec.cost.maxHourly="0"`, []string{"spec.cost.maxHourly", "must be positive"}},
		{"negative max hourly", validPolicy, `spec.cost.maxHourly="-1"`, []string{"spec.cost.maxHourly"}},
		{"unknown tier in policy", validPolicy, "spec.tiers=[Space]", []string{"spec.tiers[0]", "Unsupported value"}},
		{"invalid selector operator", validPolicy, "spec.podSelector={matchExpressions: [{key: app, operator: Like, values: [web]}]}", []string{"spec.podSelector.matchExpressions[0].operator", "Unsupported value"}},
		{"In selector without values", validPolicy, "spec.podSelector={matchExpressions: [{key: app, operator: In}]}", []string{"spec.podSelector.matchExpressions[0]", "values must be non-empty for In"}},
		{"invalid selector label key", validPolicy, `spec.podSelector={matchLabels: {"bad key!": web}}`, []string{"spec.podSelector", "valid label keys"}},
		{"invalid selector label value", validPolicy, `spec.podSelector={matchLabels: {app: "not valid!"}}`, []string{"spec.podSelector.matchLabels.app"}},
		{"hardware Gt with text", validPolicy, `spec.hardware={nodeSelector: [{key: gpu.count, operator: Gt, values: [many]}]}`, []string{"spec.hardware.nodeSelector[0]", "one integer value"}},
		{"hardware Exists with values", validPolicy, `spec.hardware={nodeSelector: [{key: gpu, operator: Exists, values: ["true"]}]}`, []string{"spec.hardware.nodeSelector[0]", "values must be empty for Exists"}},
		{"empty hardware", validPolicy, `spec.hardware={nodeSelector: []}`, []string{"spec.hardware.nodeSelector"}},
		{"utilization over 100", validPolicy, "spec.telemetry={maxNodeUtilizationPercent: 120}", []string{"spec.telemetry.maxNodeUtilizationPercent"}},
		{"unknown stale action", validPolicy, "spec.telemetry={onStale: {rtt: Ignore}}", []string{"spec.telemetry.onStale.rtt", "Unsupported value"}},
		{"priority out of range", validPolicy, "spec.priority=5000", []string{"spec.priority"}},
		{"unknown rebalance mode", validPolicy, "spec.rebalance={mode: Maybe}", []string{"spec.rebalance.mode", "Unsupported value"}},
		// YAML reads an unquoted On as true (docs/rebalancer.md quotes it).
		{"unquoted On", validPolicy, "spec.rebalance={mode: On}", []string{"spec.rebalance.mode", "must be of type string"}},
		{"rebalance maxMoving 0", validPolicy, `spec.rebalance={mode: "On", maxMoving: 0}`, []string{"spec.rebalance.maxMoving", "positive number or a percentage"}},
		{"rebalance maxMoving 0%", validPolicy, `spec.rebalance={mode: "On", maxMoving: "0%"}`, []string{"spec.rebalance.maxMoving", "positive number or a percentage"}},
		{"rebalance maxMoving 150%", validPolicy, `spec.rebalance={mode: "On", maxMoving: "150%"}`, []string{"spec.rebalance.maxMoving"}},
		{"rebalance maxMoving text", validPolicy, `spec.rebalance={mode: "On", maxMoving: "some"}`, []string{"spec.rebalance.maxMoving"}},
		{"rebalance negative grace", validPolicy, `spec.rebalance={mode: "On", graceSeconds: -1}`, []string{"spec.rebalance.graceSeconds"}},
		{"rebalance zero RTT gain", validPolicy, `spec.rebalance={mode: "On", minRTTGainMilliseconds: 0}`, []string{"spec.rebalance.minRTTGainMilliseconds"}},
		{"rebalance cost gain over 100%", validPolicy, `spec.rebalance={mode: "On", minCostGainPercent: 101}`, []string{"spec.rebalance.minCostGainPercent"}},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d invalid cases", len(tests))
	}
	// Valid variations, next to the invalid ones they border.
	accepted := []struct{ name, base, patch string }{
		{"United Kingdom as GB", validSite, "spec.country=GB"},
		{"a territory's own code", validSite, "spec.country=AX"},
		{"assigned residency countries", validPolicy, "spec.residency={allowed: {countries: [DE, FR, ZW]}, denied: {countries: [AQ, GB]}}"},
		{"rebalance maxMoving 2", validPolicy, `spec.rebalance={mode: "On", maxMoving: 2}`},
		{"rebalance maxMoving 100%", validPolicy, `spec.rebalance={mode: DryRun, maxMoving: "100%", graceSeconds: 0, dwellSeconds: 0, cooldownSeconds: 0}`},
		{"rebalance maxMoving 5%", validPolicy, `spec.rebalance={maxMoving: "5%"}`},
		{"latency weight over dependencies alone", validPolicy,
			"spec.latency=~;spec.weights={latency: 50};spec.dependencies=[{name: db, podSelector: {matchLabels: {app: db}}, weight: 3, maxRTTMilliseconds: 20}]"},
		{"site RTTs to other sites", validSite, "spec.rtts=[{site: other, milliseconds: 9}]"},
		{"spread over two sites", validPolicy, "spec.spread={minSites: 2}"},
		{"dependency on a Service", validPolicy, "spec.dependencies=[{name: db, service: orders-db, maxRTTMilliseconds: 20}]"},
		{"spread with a cap", validPolicy, "spec.spread={minSites: 3, maxSkew: 2, maxPerSite: 10}"},
	}
	for i, tc := range accepted {
		t.Run("accepted "+tc.name, func(t *testing.T) {
			if _, err := applyYAML(t, cp, patchYAML(t, tc.base, tc.patch, "valid-"+strconv.Itoa(i))); err != nil {
				t.Errorf("rejected: %v", err)
			}
		})
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := patchYAML(t, tc.base, tc.patch, "invalid-"+strconv.Itoa(i))
			_, err := applyYAML(t, cp, doc)
			if err == nil {
				t.Fatalf("accepted, want rejected naming %q:\n%s", tc.want, doc)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("rejected with %v, want an Invalid error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err.Error(), w)
				}
			}
		})
	}
}

// patchYAML sets each "dotted.path=yaml" in patch on a copy of base ("~"
// deletes the field) and names the object name.
func patchYAML(t *testing.T, base, patch, name string) []byte {
	t.Helper()
	obj := map[string]any{}
	if err := yaml.Unmarshal([]byte(base), &obj); err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(patch, ";") {
		path, val, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("bad patch %q", p)
		}
		keys := strings.Split(path, ".")
		m := obj
		for _, k := range keys[:len(keys)-1] {
			next, _ := m[k].(map[string]any)
			if next == nil {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		last := keys[len(keys)-1]
		if val == "~" {
			delete(m, last)
			continue
		}
		var v any
		if err := yaml.Unmarshal([]byte(val), &v); err != nil {
			t.Fatalf("bad patch value %q: %v", val, err)
		}
		m[last] = v
	}
	obj["metadata"].(map[string]any)["name"] = name
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// many is a YAML flow list of n items, each item formatted with its index.
func many(n int, item string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(item, i)
	}
	return "[" + strings.Join(items, ",") + "]"
}
