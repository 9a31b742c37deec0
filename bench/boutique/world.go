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
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/proxima-sched/proxima/pkg/demo"
)

// World is one comparison's cluster: Sites in measured cities, every pair
// of them measured, with a few nodes each, and the shops deployed on it.
type World struct {
	Seed  uint64 `json:"seed"`
	Shops int    `json:"shops"`
	// Replicas is how many pods each service of a shop runs.
	Replicas int    `json:"replicas"`
	Sites    []Site `json:"sites"`
	// RTT[i][j] is the measured RTT between sites i and j, in
	// milliseconds (the mean of both directions' averages; 0.5 within a
	// site): what the report judges placements by.
	RTT [][]float64 `json:"rtt"`
	// Order is the rollout order of the services (RolloutOrder).
	Order []string `json:"order"`
}

// Site is a Site of the world, in a city of the measurements.
type Site struct {
	Name    string  `json:"name"`
	City    string  `json:"city"`
	Country string  `json:"country"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Nodes   int     `json:"nodes"`
}

// WorldOptions shape a world.
type WorldOptions struct {
	Seed uint64
	// Sites is how many cities get a Site.
	Sites int
	// MinNodes and MaxNodes bound a Site's nodes (drawn uniformly).
	MinNodes, MaxNodes int
	// Shops is how many copies of the Online Boutique run, each in its own
	// namespace.
	Shops int
	// Replicas is how many pods each service runs (1 if 0).
	Replicas int
}

// NewWorld draws opts.Sites cities at random (by opts.Seed) among those
// whose every pair is measured, so that no RTT in the world is an estimate
// for any scheduler or for the report.
func NewWorld(m *demo.Measurements, opts WorldOptions) (*World, error) {
	if opts.Sites < 2 || opts.MinNodes < 1 || opts.MaxNodes < opts.MinNodes || opts.Shops < 1 {
		return nil, fmt.Errorf("a world needs at least 2 sites, 1 to %d nodes a site and a shop: %+v", opts.MaxNodes, opts)
	}
	codes := countryCodes()
	names := make([]string, 0, len(m.Cities))
	for name, c := range m.Cities {
		if codes[c.Country] != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	var picked []string
	for _, n := range names {
		if len(picked) == opts.Sites {
			break
		}
		ok := true
		for _, p := range picked {
			if _, measured := m.RTT(n, p); !measured {
				ok = false
				break
			}
		}
		if ok {
			picked = append(picked, n)
		}
	}
	if len(picked) < opts.Sites {
		return nil, fmt.Errorf("only %d cities are measured with each other, not %d", len(picked), opts.Sites)
	}
	slices.Sort(picked)
	w := &World{Seed: opts.Seed, Shops: opts.Shops, Replicas: max(opts.Replicas, 1), Order: RolloutOrder(OnlineBoutique)}
	for _, n := range picked {
		c := m.Cities[n]
		w.Sites = append(w.Sites, Site{Name: siteName(n), City: n, Country: codes[c.Country], Lat: c.Lat, Lon: c.Lon,
			Nodes: opts.MinNodes + rng.IntN(opts.MaxNodes-opts.MinNodes+1)})
	}
	w.RTT = make([][]float64, len(picked))
	for i, a := range picked {
		w.RTT[i] = make([]float64, len(picked))
		for j, b := range picked {
			w.RTT[i][j], _ = m.RTT(a, b)
		}
	}
	return w, nil
}

// DeclaredMs is the RTT between sites i and j as both schedulers are told
// it: the measurement rounded up to whole milliseconds (a Site's rtts and
// a NetworkTopology's networkCost are integers), so a bound met on what is
// declared is met on what was measured.
func (w *World) DeclaredMs(i, j int) int { return int(math.Ceil(w.RTT[i][j])) }

// siteName is a DNS label for a city: "SaoPaulo" → "saopaulo".
func siteName(city string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(city) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// countryCodes maps the measurements' country names to ISO 3166-1 alpha-2
// codes by their English names, with the two names that differ; countries
// without an officially assigned code (Kosovo) are left out.
func countryCodes() map[string]string {
	names := display.English.Regions()
	out := map[string]string{"Czech Republic": "CZ", "Hong Kong": "HK"}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			r, err := language.ParseRegion(string([]rune{a, b}))
			// Skip codes that are not a country's canonical one (UK for
			// GB), user-assigned ones and XK, which ISO has not assigned.
			if err != nil || !r.IsCountry() || r.IsPrivateUse() || r.Canonicalize() != r || r.String() == "XK" {
				continue
			}
			if n := names.Name(r); n != "" {
				out[n] = r.String()
			}
		}
	}
	return out
}

// Load reads a world written by Save.
func Load(path string) (*World, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	w := &World{}
	if err := json.Unmarshal(data, w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// Save writes the world as JSON.
func (w *World) Save(path string) error {
	data, err := json.MarshalIndent(w, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// SiteIndex is the index of the named site, -1 if there is none.
func (w *World) SiteIndex(name string) int {
	return slices.IndexFunc(w.Sites, func(s Site) bool { return s.Name == name })
}
