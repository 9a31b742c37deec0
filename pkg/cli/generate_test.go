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

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

func TestGenerateSites(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "manifests", "examples", "inventory", "stores.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := GenerateSites(f, "stores.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 5 {
		t.Fatalf("%d sites, want 5", len(objs))
	}
	s := objs[0].(*placementv1alpha1.Site)
	if s.Name != "store-0001-lyon" || s.Spec.Tier != placementv1alpha1.TierEdge || s.Spec.Country != "FR" ||
		s.Spec.Location.Latitude != "45.7640" || len(s.Spec.Jurisdictions) != 1 || s.Spec.Pricing == nil ||
		s.Spec.Pricing.CPUCoreHour.String() != "55m" || s.Spec.Pricing.GPUHour != nil {
		t.Errorf("first site %+v", s.Spec)
	}
	if g := objs[3].(*placementv1alpha1.Site); g.Spec.Jurisdictions != nil {
		t.Errorf("geneva's jurisdictions %v, want none", g.Spec.Jurisdictions)
	}
}

func TestGenerateSources(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "manifests", "examples", "inventory", "regions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := GenerateSources(f, "regions.csv")
	if err != nil {
		t.Fatal(err)
	}
	s := objs[0].(*placementv1alpha1.TrafficSource)
	if len(objs) != 3 || *s.Spec.Demand != 40 || s.Spec.Probe == nil || s.Spec.Probe.Module != placementv1alpha1.ProbeTCP ||
		objs[1].(*placementv1alpha1.TrafficSource).Spec.Probe != nil {
		t.Errorf("sources %+v", objs)
	}
}

// Every bad inventory is refused with the line and column named; all of a
// file's errors come at once.
func TestGenerateRefuses(t *testing.T) {
	const header = "name,tier,country,latitude,longitude,cpuCoreHour\n"
	for name, tc := range map[string]struct {
		sources bool
		csv     string
		want    []string
	}{
		"unknown column":      {csv: "name,tier,country,latitude,longitude,price\n", want: []string{`unknown column "price"`}},
		"missing column":      {csv: "name,tier,latitude,longitude\n", want: []string{`no column "country"`}},
		"duplicate column":    {csv: "name,name,tier,country,latitude,longitude\n", want: []string{`column "name" twice`}},
		"tier":                {csv: header + "a,Store,FR,1,2,\n", want: []string{`x.csv:2: spec.tier: Unsupported value: "Store"`}},
		"UK":                  {csv: header + "a,Edge,UK,1,2,\n", want: []string{`x.csv:2: spec.country: "UK" is not an officially assigned`, "the United Kingdom is GB"}},
		"latitude":            {csv: header + "a,Edge,FR,91,2,\n", want: []string{"x.csv:2: spec.location.latitude", "between -90 and 90"}},
		"negative price":      {csv: header + "a,Edge,FR,1,2,-1\n", want: []string{"x.csv:2: spec.pricing.cpuCoreHour", "must not be negative"}},
		"name":                {csv: header + "Store_1,Edge,FR,1,2,\n", want: []string{`x.csv:2: column name: "Store_1"`}},
		"duplicate name":      {csv: header + "a,Edge,FR,1,2,\nb,Edge,FR,1,2,\na,Edge,FR,1,2,\n", want: []string{`x.csv:4: column name: "a" already on line 2`}},
		"every error at once": {csv: header + "a,Edge,UK,1,2,\nb,Edge,FR,100,2,\n", want: []string{"x.csv:2: spec.country", "x.csv:3: spec.location.latitude"}},
		"demand":              {sources: true, csv: "name,latitude,longitude,demand\nc,1,2,lots\n", want: []string{`x.csv:2: column demand: "lots"`}},
		"module without targets": {sources: true, csv: "name,latitude,longitude,probeModule\nc,1,2,TCP\n",
			want: []string{"x.csv:2: column probeModule: set without probeTargets"}},
		"module": {sources: true, csv: "name,latitude,longitude,probeTargets,probeModule\nc,1,2,h:443,UDP\n",
			want: []string{`x.csv:2: spec.probe.module: Unsupported value: "UDP"`}},
	} {
		t.Run(name, func(t *testing.T) {
			gen := GenerateSites
			if tc.sources {
				gen = GenerateSources
			}
			objs, err := gen(strings.NewReader(tc.csv), "x.csv")
			if err == nil {
				t.Fatalf("accepted, %d objects", len(objs))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
