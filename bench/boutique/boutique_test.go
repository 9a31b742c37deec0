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

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/manifests"
	"github.com/proxima-sched/proxima/pkg/demo"
)

// TestOnlineBoutique checks the translation against the example in the
// scheduler-plugins module bench/peers pins: the same workloads, each with
// the same dependencies in the same order, every maxNetworkCost 80. The
// file is read line by line, as it does not parse as YAML.
func TestOnlineBoutique(t *testing.T) {
	mod, err := os.ReadFile("../peers/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/scheduler-plugins (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("bench/peers/go.mod requires no sigs.k8s.io/scheduler-plugins")
	}
	out, err := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/scheduler-plugins@"+string(m[1])).Output()
	if err != nil {
		t.Fatalf("go mod download sigs.k8s.io/scheduler-plugins@%s: %v", m[1], err)
	}
	var dl struct{ Dir string }
	if err := json.Unmarshal(out, &dl); err != nil || dl.Dir == "" {
		t.Fatalf("go mod download: %v (%s)", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dl.Dir, "manifests", "appgroup", "onlineBoutique-appGroup-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// A workload's selector is indented 8 spaces, a dependency's 12, and
	// a dependency's maxNetworkCost 10.
	var got []Service
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		value = strings.TrimSpace(value)
		switch {
		case key == "selector" && indent == 8:
			got = append(got, Service{Name: value})
		case key == "selector" && indent == 12:
			got[len(got)-1].Calls = append(got[len(got)-1].Calls, value)
		case key == "maxNetworkCost":
			if v, err := strconv.Atoi(value); err != nil || v != maxNetworkCost {
				t.Errorf("maxNetworkCost %q in the example, %d here", value, maxNetworkCost)
			}
		}
	}
	if len(got) == 0 {
		t.Fatal("no workloads read from the example")
	}
	if !slices.EqualFunc(got, OnlineBoutique, func(a, b Service) bool { return a.Name == b.Name && slices.Equal(a.Calls, b.Calls) }) {
		t.Errorf("the example declares\n%v\nthe translation\n%v", got, OnlineBoutique)
	}
}

func TestRolloutOrder(t *testing.T) {
	order := RolloutOrder(OnlineBoutique)
	if len(order) != len(OnlineBoutique) {
		t.Fatalf("order %v has %d services, want %d", order, len(order), len(OnlineBoutique))
	}
	if order[0] != "frontend" {
		t.Errorf("order starts with %s, want the frontend", order[0])
	}
	for i, name := range order[1:] {
		svc := OnlineBoutique[slices.IndexFunc(OnlineBoutique, func(s Service) bool { return s.Name == name })]
		// Someone deployed before it calls it: it was reached from them.
		reached := false
		for _, before := range order[:i+1] {
			b := OnlineBoutique[slices.IndexFunc(OnlineBoutique, func(s Service) bool { return s.Name == before })]
			reached = reached || slices.Contains(b.Calls, svc.Name)
		}
		if !reached {
			t.Errorf("%s is deployed before any service that calls it (order %v)", name, order)
		}
	}
	// A service nobody reaches still comes, after the others.
	alone := append(slices.Clone(OnlineBoutique), Service{Name: "batch"})
	if got := RolloutOrder(alone); len(got) != len(alone) || got[len(got)-1] != "batch" {
		t.Errorf("RolloutOrder with an unreached service = %v", got)
	}
}

func TestNewWorld(t *testing.T) {
	m, err := demo.LoadMeasurements()
	if err != nil {
		t.Fatal(err)
	}
	opts := WorldOptions{Seed: 7, Sites: 30, MinNodes: 2, MaxNodes: 5, Shops: 2}
	w, err := NewWorld(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewWorld(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.Sites, again.Sites) {
		t.Error("one seed drew two worlds")
	}
	opts.Seed = 8
	other, err := NewWorld(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(w.Sites, other.Sites) {
		t.Error("seeds 7 and 8 drew the same world")
	}
	countries := countryEnum(t)
	for i, s := range w.Sites {
		if errs := validation.IsDNS1123Label(s.Name); len(errs) > 0 {
			t.Errorf("site %q: %v", s.Name, errs)
		}
		if w.SiteIndex(s.Name) != i {
			t.Errorf("site %q is named twice", s.Name)
		}
		if !slices.Contains(countries, s.Country) {
			t.Errorf("site %q (%s): country %q is not one the Site CRD accepts", s.Name, s.City, s.Country)
		}
		if s.Nodes < 2 || s.Nodes > 5 {
			t.Errorf("site %q has %d nodes, want 2 to 5", s.Name, s.Nodes)
		}
		for j, t2 := range w.Sites {
			ms, ok := m.RTT(s.City, t2.City)
			if !ok || ms != w.RTT[i][j] || w.RTT[i][j] != w.RTT[j][i] {
				t.Fatalf("RTT %s-%s = %v, measured %v (%v)", s.City, t2.City, w.RTT[i][j], ms, ok)
			}
			if d := w.DeclaredMs(i, j); float64(d) < ms || float64(d) >= ms+1 {
				t.Errorf("declared %d ms for a measured %.2f ms", d, ms)
			}
		}
	}
	if _, err := NewWorld(m, WorldOptions{Seed: 1, Sites: 1000, MinNodes: 1, MaxNodes: 1, Shops: 1}); err == nil {
		t.Error("a world of 1,000 measured cities was drawn from the 245 there are")
	}
	if _, err := NewWorld(m, WorldOptions{Seed: 1, Sites: 10, MinNodes: 3, MaxNodes: 2, Shops: 1}); err == nil {
		t.Error("a world with more nodes at least than at most was drawn")
	}
}

// countryEnum is the Site CRD's list of country codes.
func countryEnum(t *testing.T) []string {
	crds, err := manifests.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		if crd.Spec.Names.Kind != "Site" {
			continue
		}
		country := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["country"]
		var out []string
		for _, e := range country.Enum {
			var s string
			if err := json.Unmarshal(e.Raw, &s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	t.Fatal("no Site CRD")
	return nil
}

// tinyWorld: three sites, a and b (2 nodes each) 10 ms apart, c (1 node)
// 100 ms from both.
func tinyWorld() *World {
	return &World{Seed: 1, Shops: 1, Order: RolloutOrder(OnlineBoutique),
		Sites: []Site{{Name: "a", Nodes: 2}, {Name: "b", Nodes: 2}, {Name: "c", Nodes: 1}},
		RTT:   [][]float64{{0.5, 10, 100}, {10, 0.5, 100}, {100, 100, 0.5}}}
}

func TestJudge(t *testing.T) {
	w := tinyWorld()
	// frontend in a calls cart (a: 0.5), productcatalog (b: 10),
	// currency (c: 100) and three unplaced services; cart calls the
	// frontend (0.5) and the unplaced redis-cart; productcatalog calls
	// the frontend (10) and two unplaced; currency calls the frontend
	// (100) and the unplaced checkout.
	p := &Placements{Name: "BenchmarkOnlineBoutique/Proxima/OnlineBoutique_seed1", Pods: []PodPlacement{
		{Namespace: "shop-0", App: "frontend", Site: "a"},
		{Namespace: "shop-0", App: "cartservice", Site: "a"},
		{Namespace: "shop-0", App: "productcatalogservice", Site: "b"},
		{Namespace: "shop-0", App: "currencyservice", Site: "c"},
		{Namespace: "shop-0", App: "checkoutservice"},
		{Namespace: "shop-0", App: "redis-cart"},
	}}
	r, err := w.Judge(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Profile != "Proxima" || r.Pods != 6 || r.Placed != 4 {
		t.Errorf("profile %s, %d/%d placed; want Proxima, 4/6", r.Profile, r.Placed, r.Pods)
	}
	// Judged: f→cart 0.5, f→pc 10, f→cur 100, cart→f 0.5, pc→f 10,
	// cur→f 100.
	if r.Edges != 6 || r.OverBound != 2 {
		t.Errorf("%d edges judged, %d over the bound; want 6 and 2", r.Edges, r.OverBound)
	}
	if want := (0.5 + 10 + 100 + 0.5 + 10 + 100) / 6; math.Abs(r.MeanRTT-want) > 1e-9 {
		t.Errorf("mean RTT %v, want %v", r.MeanRTT, want)
	}
	// Unjudged: f→shipping, checkout, ad; cart→redis; pc→checkout,
	// recommendation; cur→checkout; checkout's 7 (unplaced caller);
	// redis→cart (unplaced caller).
	if r.Unjudged != 3+1+2+1+7+1 {
		t.Errorf("%d edges unjudged, want 15", r.Unjudged)
	}
	if got := r.PerEdge["frontend → currencyservice"]; got != 100 {
		t.Errorf("frontend → currencyservice: %v ms, want 100", got)
	}
	// redis-cart calls cart (in a, full with two pods): b has a free
	// node 10 ms away, so it was stranded; checkout calls the frontend,
	// cart and productcatalog (a, b) and currency (c): no site is within
	// 80 ms of both a and c.
	if r.Stranded != 1 {
		t.Errorf("%d stranded, want 1 (redis-cart)", r.Stranded)
	}

	// A second profile judging fewer edges: the common mean is over the
	// edges both judged.
	q := &Placements{Name: "BenchmarkOnlineBoutique/Default/OnlineBoutique_seed1", Pods: []PodPlacement{
		{Namespace: "shop-0", App: "frontend", Site: "c"},
		{Namespace: "shop-0", App: "cartservice", Site: "a"},
	}}
	r2, err := w.Judge(q)
	if err != nil {
		t.Fatal(err)
	}
	commonMeans([]*Result{r, r2})
	if r.CommonEdges != 2 || r.CommonRTT != 0.5 || r2.CommonRTT != 100 {
		t.Errorf("common edges %d, means %v and %v; want 2, 0.5 and 100", r.CommonEdges, r.CommonRTT, r2.CommonRTT)
	}

	// Stranding reads a callee's pods as Proxima's bound does, by their
	// mean: redis-cart's cart runs in a and c, 0.5 and 100 ms from a, 10
	// and 100 from b; b (55 ms on average) has room and is within 80.
	two := &Placements{Name: "BenchmarkOnlineBoutique/Proxima/x", Pods: []PodPlacement{
		{Namespace: "shop-0", App: "cartservice", Site: "a"},
		{Namespace: "shop-0", App: "cartservice", Site: "c"},
		{Namespace: "shop-0", App: "redis-cart"},
	}}
	if r, err := w.Judge(two); err != nil || r.Stranded != 1 {
		t.Errorf("redis-cart within 80 ms of cart's two pods on average at b: stranded %v, %v; want 1", r, err)
	}
	// c 200 ms from a and b: a (with room) is now 100 ms from cart on
	// average, b 105, and c is full.
	w.RTT[0][2], w.RTT[2][0], w.RTT[1][2], w.RTT[2][1] = 200, 200, 200, 200
	if r, err := w.Judge(two); err != nil || r.Stranded != 0 {
		t.Errorf("no site within 80 ms of cart's pods on average: stranded %v, %v; want 0", r, err)
	}

	p.Pods[0].Site = "nowhere"
	if _, err := w.Judge(p); err == nil {
		t.Error("a pod in a site outside the world was judged")
	}
}

// TestWrite decodes what Write lays out: every Site and policy strictly
// into Proxima's types, the AppGroups and NetworkTopology as YAML, and the
// two configurations listing the right test cases and every template.
func TestWrite(t *testing.T) {
	w := tinyWorld()
	// Norway's code is a YAML boolean unless quoted.
	w.Sites[0].Country, w.Sites[1].Country, w.Sites[2].Country = "NO", "FR", "US"
	w.Shops, w.Replicas = 2, 3
	dir, root := t.TempDir(), "/repo"
	if err := w.Write(dir, root, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	var site placementv1alpha1.Site
	if err := yaml.UnmarshalStrict(read(t, dir, "sites/a.yaml"), &site); err != nil {
		t.Fatal(err)
	}
	if site.Name != "a" || site.Spec.Country != "NO" || len(site.Spec.RTTs) != 2 || site.Spec.RTTs[0].Site != "b" || site.Spec.RTTs[0].Milliseconds != 10 ||
		site.Spec.RTTs[1].Milliseconds != 100 {
		t.Errorf("site a: %+v", site.Spec)
	}
	for _, svc := range OnlineBoutique {
		var pol placementv1alpha1.PlacementPolicy
		if err := yaml.UnmarshalStrict(read(t, dir, "policies/"+svc.Name+".yaml"), &pol); err != nil {
			t.Fatal(err)
		}
		if len(pol.Spec.Dependencies) != len(svc.Calls) {
			t.Fatalf("policy %s has %d dependencies, want %d", svc.Name, len(pol.Spec.Dependencies), len(svc.Calls))
		}
		for i, d := range pol.Spec.Dependencies {
			if d.Name != svc.Calls[i] || d.PodSelector == nil || string(d.PodSelector.MatchLabels[appLabel]) != svc.Calls[i] ||
				d.MaxRTTMilliseconds == nil || *d.MaxRTTMilliseconds != maxNetworkCost {
				t.Errorf("policy %s, dependency %d: %+v", svc.Name, i, d)
			}
		}
	}
	var ag struct {
		Metadata struct{ Name string }
		Spec     struct {
			Workloads []struct {
				Workload     struct{ Selector, Namespace string }
				Dependencies []struct {
					Workload       struct{ Selector string }
					MaxNetworkCost int `json:"maxNetworkCost"`
				}
			}
		}
	}
	if err := yaml.Unmarshal(read(t, dir, "appgroups/shop-1.yaml"), &ag); err != nil {
		t.Fatal(err)
	}
	if ag.Metadata.Name != "shop-1" || len(ag.Spec.Workloads) != len(OnlineBoutique) ||
		ag.Spec.Workloads[7].Workload.Selector != "checkoutservice" || len(ag.Spec.Workloads[7].Dependencies) != 7 ||
		ag.Spec.Workloads[7].Dependencies[4].Workload.Selector != "paymentservice" || ag.Spec.Workloads[7].Dependencies[4].MaxNetworkCost != 80 ||
		ag.Spec.Workloads[0].Workload.Namespace != "shop-1" {
		t.Errorf("AppGroup shop-1: %+v", ag)
	}
	var nt struct {
		Spec struct {
			Weights []struct {
				TopologyList []struct {
					OriginList []struct {
						Origin   string
						CostList []struct {
							Destination string
							NetworkCost int `json:"networkCost"`
						} `json:"costList"`
					} `json:"originList"`
				} `json:"topologyList"`
			}
		}
	}
	if err := yaml.Unmarshal(read(t, dir, "network-topology.yaml"), &nt); err != nil {
		t.Fatal(err)
	}
	origins := nt.Spec.Weights[0].TopologyList[0].OriginList
	if len(origins) != 3 || origins[2].Origin != "c" || origins[2].CostList[0].Destination != "a" || origins[2].CostList[0].NetworkCost != 100 {
		t.Errorf("NetworkTopology origins: %+v", origins)
	}
	pod := string(read(t, dir, "pods/shop-1-redis-cart.yaml"))
	for _, want := range []string{"app: redis-cart", appGroupLabel + ": shop-1", appGroupSelectorLabel + ": redis-cart"} {
		if !strings.Contains(pod, want) {
			t.Errorf("pod template lacks %q:\n%s", want, pod)
		}
	}
	for file, cases := range map[string][]string{"proxima.yaml": {"Default", "Proxima"}, "peers.yaml": {"NetworkOverhead"}} {
		var cfg []struct {
			Name                string
			SchedulerConfigPath string `json:"schedulerConfigPath"`
			WorkloadTemplate    []map[string]any
			Workloads           []struct{ Name string }
		}
		if err := yaml.Unmarshal(read(t, dir, file), &cfg); err != nil {
			t.Fatal(err)
		}
		if len(cfg) != len(cases) {
			t.Fatalf("%s has %d test cases, want %v", file, len(cfg), cases)
		}
		for i, tc := range cfg {
			if tc.Name != cases[i] || !strings.HasPrefix(tc.SchedulerConfigPath, root+"/bench/") || tc.Workloads[0].Name != "OnlineBoutique_seed1_replicas3" {
				t.Errorf("%s test case %d: %s, %s, %v", file, i, tc.Name, tc.SchedulerConfigPath, tc.Workloads)
			}
			pods, appGroups := 0, 0
			for _, op := range tc.WorkloadTemplate {
				if op["opcode"] == "createPods" {
					pods++
					if op["count"] != float64(3) {
						t.Errorf("%s %s: createPods of %v pods, want 3 (the replicas)", file, tc.Name, op["count"])
					}
				}
				for _, k := range []string{"templatePath", "nodeTemplatePath", "podTemplatePath"} {
					if p, ok := op[k].(string); ok {
						if _, err := os.Stat(p); err != nil {
							t.Errorf("%s: %v", file, err)
						}
						if strings.Contains(p, "/appgroups/") {
							appGroups++
						}
					}
				}
			}
			if pods != w.Shops*len(OnlineBoutique) {
				t.Errorf("%s %s creates %d pods, want %d", file, tc.Name, pods, w.Shops*len(OnlineBoutique))
			}
			if want := map[bool]int{true: w.Shops, false: 0}[file == "peers.yaml"]; appGroups != want {
				t.Errorf("%s %s creates %d AppGroups, want %d", file, tc.Name, appGroups, want)
			}
		}
	}
	back, err := Load(filepath.Join(dir, "world.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Sites, w.Sites) || back.RTT[0][2] != 100 {
		t.Errorf("world.json reads back as %+v", back)
	}
}

func read(t *testing.T, dir, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
