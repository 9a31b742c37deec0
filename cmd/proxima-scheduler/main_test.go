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
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
	"github.com/proxima-sched/proxima/test/harness"
)

// TestShippedConfig builds the scheduler from the shipped configuration file,
// exactly as the binary does, and checks the resulting profile.
func TestShippedConfig(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	s, err := cp.RunScheduler(context.Background(), t.TempDir(), filepath.Join("..", "..", "manifests", "install", "scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	if got := slices.Sorted(func(yield func(string) bool) {
		for name := range s.Profiles {
			if !yield(name) {
				return
			}
		}
	}); !cmp.Equal(got, []string{"proxima-scheduler"}) {
		t.Fatalf("profiles = %v, want only proxima-scheduler", got)
	}
	plugins := s.Profiles["proxima-scheduler"].ListPlugins()
	want := map[string][]config.Plugin{
		"PreFilter": {{Name: edgeplacement.Name}},
		"Filter":    {{Name: edgeplacement.Name}},
		"PreScore":  {{Name: edgeplacement.Name}},
		"Score":     {{Name: edgeplacement.Name, Weight: 20}},
		"PostBind":  {{Name: edgeplacement.Name}},
	}
	sets := map[string]config.PluginSet{
		"PreFilter": plugins.PreFilter, "Filter": plugins.Filter, "PreScore": plugins.PreScore,
		"Score": plugins.Score, "PostBind": plugins.PostBind,
	}
	for point, w := range want {
		var got []config.Plugin
		for _, p := range sets[point].Enabled {
			if p.Name == edgeplacement.Name {
				got = append(got, p)
			}
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s: EdgePlacement (-want,+got):\n%s", point, diff)
		}
		if point == "Filter" && len(sets[point].Enabled) < 5 {
			t.Errorf("Filter has %d plugins; the default plugins must stay enabled next to EdgePlacement", len(sets[point].Enabled))
		}
	}
}
