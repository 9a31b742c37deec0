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

// Package demo is Proxima's demo and placement-quality harness: a scenario
// of sites, client populations and workload classes built from measured
// worldwide RTTs, run on a real control plane once with proxima-scheduler
// and once with the default scheduler, and compared with an offline optimum.
package demo

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
)

//go:embed default-scenario.yaml
var defaultScenario []byte

//go:embed data/wonderproxy-pings-2020-07-19/servers.csv
var serversCSV []byte

//go:embed data/wonderproxy-pings-2020-07-19/pings-grouped.csv
var pingsCSV []byte

// Scenario is the world and the workload of a demo run. See
// default-scenario.yaml for the format.
type Scenario struct {
	Sites   []SiteSpec   `json:"sites"`
	Sources []SourceSpec `json:"sources"`
	Classes []ClassSpec  `json:"classes"`

	// What the scenario declares of the measured RTTs (SetDeclared).
	declaredFraction float64
	seed             uint64
	declaredSet      bool
}

// SiteSpec is a site in a city of the measurements.
type SiteSpec struct {
	Name          string                        `json:"name"`
	City          string                        `json:"city"`
	Tier          placementv1alpha1.SiteTier    `json:"tier"`
	Country       string                        `json:"country"`
	Jurisdictions []string                      `json:"jurisdictions,omitempty"`
	Nodes         int                           `json:"nodes"`
	CPU           int                           `json:"cpu"`
	GPUs          int                           `json:"gpus,omitempty"`
	Pricing       placementv1alpha1.SitePricing `json:"pricing"`
}

// SourceSpec is a client population in a city of the measurements.
type SourceSpec struct {
	Name   string `json:"name"`
	City   string `json:"city"`
	Demand int32  `json:"demand"`
}

// ClassSpec is a workload class: identical pods under one policy.
type ClassSpec struct {
	Name   string            `json:"name"`
	Pods   int               `json:"pods"`
	CPU    resource.Quantity `json:"cpu"`
	Memory resource.Quantity `json:"memory"`
	GPUs   int               `json:"gpus,omitempty"`
	// NodeSelector pins the class's pods (every scheduler honours it):
	// for a workload that runs where its data is produced.
	NodeSelector map[string]string                     `json:"nodeSelector,omitempty"`
	Policy       placementv1alpha1.PlacementPolicySpec `json:"policy"`
}

// DefaultScenario is the embedded scenario.
func DefaultScenario() (*Scenario, error) { return parseScenario(defaultScenario) }

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseScenario(data)
}

func parseScenario(data []byte) (*Scenario, error) {
	s := &Scenario{}
	if err := yaml.UnmarshalStrict(data, s); err != nil {
		return nil, fmt.Errorf("parsing scenario: %w", err)
	}
	if len(s.Sites) == 0 || len(s.Classes) == 0 {
		return nil, errors.New("a scenario needs at least one site and one class")
	}
	return s, nil
}

// Scale trims and scales the scenario: the first sites sites (0: all), every
// site's node count (0: as written) and the total pods, spread over the
// classes in proportion (0: as written).
func (s *Scenario) Scale(sites, nodesPerSite, pods int) {
	if sites > 0 && sites < len(s.Sites) {
		s.Sites = s.Sites[:sites]
	}
	if nodesPerSite > 0 {
		for i := range s.Sites {
			s.Sites[i].Nodes = nodesPerSite
		}
	}
	if pods > 0 {
		total := 0
		for _, c := range s.Classes {
			total += c.Pods
		}
		for i := range s.Classes {
			s.Classes[i].Pods = max(1, int(math.Round(float64(s.Classes[i].Pods)*float64(pods)/float64(total))))
		}
	}
}

// City is a measured server's city.
type City struct {
	ID       int
	Name     string
	Lat, Lon float64
	// Country is the country's name.
	Country string
}

// Measurements are the cities and the measured RTTs between them.
type Measurements struct {
	Cities map[string]City
	rtt    map[[2]int]float64
}

// LoadMeasurements parses the embedded WonderProxy data.
func LoadMeasurements() (*Measurements, error) {
	m := &Measurements{Cities: map[string]City{}, rtt: map[[2]int]float64{}}
	rows, err := csv.NewReader(bytes.NewReader(serversCSV)).ReadAll()
	if err != nil {
		return nil, err
	}
	for _, r := range rows[1:] {
		id, err1 := strconv.Atoi(r[0])
		lat, err2 := strconv.ParseFloat(r[8], 64)
		lon, err3 := strconv.ParseFloat(r[9], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		m.Cities[r[1]] = City{ID: id, Name: r[1], Lat: lat, Lon: lon, Country: r[5]}
	}
	rd := csv.NewReader(bytes.NewReader(pingsCSV))
	if _, err := rd.Read(); err != nil {
		return nil, err
	}
	sum := map[[2]int][2]float64{}
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		a, err1 := strconv.Atoi(r[0])
		b, err2 := strconv.Atoi(r[1])
		avg, err3 := strconv.ParseFloat(r[3], 64)
		if err1 != nil || err2 != nil || err3 != nil || a == b || !(avg > 0) {
			continue
		}
		k := [2]int{min(a, b), max(a, b)}
		v := sum[k]
		sum[k] = [2]float64{v[0] + avg, v[1] + 1}
	}
	for k, v := range sum {
		m.rtt[k] = v[0] / v[1] // the mean of both directions' averages
	}
	return m, nil
}

// RTT is the measured RTT between two cities; ok is false when the pair was
// not measured.
func (m *Measurements) RTT(a, b string) (ms float64, ok bool) {
	ca, okA := m.Cities[a]
	cb, okB := m.Cities[b]
	if !okA || !okB {
		return 0, false
	}
	if ca.ID == cb.ID {
		return 0.5, true
	}
	ms, ok = m.rtt[[2]int{min(ca.ID, cb.ID), max(ca.ID, cb.ID)}]
	return ms, ok
}

// TrueRTT is the RTT the report evaluates with: measured when it was, else
// Proxima's distance estimate (estimated is then true).
func (m *Measurements) TrueRTT(a, b string) (ms float64, estimated bool) {
	if v, ok := m.RTT(a, b); ok {
		return v, false
	}
	ca, cb := m.Cities[a], m.Cities[b]
	return rttmodel.EstimateRTT(ca.Lat, ca.Lon, cb.Lat, cb.Lon), true
}

// Validate checks that every city is in the measurements and names are unique.
func (s *Scenario) Validate(m *Measurements) error {
	var errs []error
	seen := map[string]bool{}
	check := func(kind, name, city string) {
		if seen[kind+"/"+name] {
			errs = append(errs, fmt.Errorf("%s %q is listed twice", kind, name))
		}
		seen[kind+"/"+name] = true
		if _, ok := m.Cities[city]; !ok {
			errs = append(errs, fmt.Errorf("%s %q: city %q is not in the measurements (servers.csv)", kind, name, city))
		}
	}
	for _, site := range s.Sites {
		check("site", site.Name, site.City)
		if site.Nodes < 1 || site.CPU < 1 {
			errs = append(errs, fmt.Errorf("site %q needs at least one node and one CPU", site.Name))
		}
	}
	for _, src := range s.Sources {
		check("source", src.Name, src.City)
	}
	for _, c := range s.Classes {
		if c.Pods < 1 {
			errs = append(errs, fmt.Errorf("class %q needs at least one pod", c.Name))
		}
	}
	return errors.Join(errs...)
}
