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

package schedconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/utils/ptr"

	proximaconfig "github.com/proxima-sched/proxima/apis/config"
	_ "github.com/proxima-sched/proxima/apis/config/scheme"
	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
)

// shipped is the KubeSchedulerConfiguration of the install manifests.
var shipped = filepath.Join("..", "..", "manifests", "install", "scheduler-config.yaml")

// load reads a configuration file as kube-scheduler does: strictly, with
// defaults, into the internal types, plugin args included.
func load(t *testing.T, path string) *config.KubeSchedulerConfiguration {
	t.Helper()
	cfg, err := options.LoadConfigFromFile(klog.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func rewrite(t *testing.T, edit func(*schedv1.KubeSchedulerConfiguration) error) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := Rewrite(shipped, dst, edit); err != nil {
		t.Fatal(err)
	}
	return dst
}

func edgePlacementArgs(t *testing.T, cfg *config.KubeSchedulerConfiguration) *proximaconfig.EdgePlacementArgs {
	t.Helper()
	for _, p := range cfg.Profiles {
		for _, pc := range p.PluginConfig {
			if args, ok := pc.Args.(*proximaconfig.EdgePlacementArgs); ok && p.SchedulerName == "proxima-scheduler" {
				return args
			}
		}
	}
	t.Fatal("no EdgePlacement args in profile proxima-scheduler")
	return nil
}

func TestRewriteWithoutEditLoadsTheSame(t *testing.T) {
	if diff := cmp.Diff(load(t, shipped), load(t, rewrite(t, nil))); diff != "" {
		t.Errorf("the copy loads differently (-shipped,+copy):\n%s", diff)
	}
}

func TestEditEdgePlacementArgsChangesOnlyThatField(t *testing.T) {
	out := rewrite(t, func(cfg *schedv1.KubeSchedulerConfiguration) error {
		return EditEdgePlacementArgs(cfg, "proxima-scheduler", func(args *configv1.EdgePlacementArgs) {
			// The args as written: what the file sets, nothing defaulted.
			want := &configv1.EdgePlacementArgs{MinCandidateNodes: ptr.To[int32](100), CacheSyncTimeoutSeconds: ptr.To[int32](60), PlacedEvents: ptr.To(false),
				AcceptLegacySiteLabel: ptr.To(false)}
			if diff := cmp.Diff(want, args); diff != "" {
				t.Errorf("args given to edit (-want,+got):\n%s", diff)
			}
			args.PlacedEvents = ptr.To(true)
		})
	})
	want := load(t, shipped)
	edgePlacementArgs(t, want).PlacedEvents = true
	if diff := cmp.Diff(want, load(t, out)); diff != "" {
		t.Errorf("the edited copy (-want,+got):\n%s", diff)
	}
	written, err := read(out)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(written.Profiles[0].PluginConfig[0].Args.Raw)
	for _, s := range []string{`"apiVersion":"kubescheduler.config.k8s.io/v1"`, `"kind":"EdgePlacementArgs"`} {
		if !strings.Contains(raw, s) {
			t.Errorf("written args %s lack %s", raw, s)
		}
	}
}

func TestRewriteAddsProfile(t *testing.T) {
	out := rewrite(t, func(cfg *schedv1.KubeSchedulerConfiguration) error {
		cfg.ClientConnection.Kubeconfig = "/some/kubeconfig"
		cfg.Profiles = append(cfg.Profiles, schedv1.KubeSchedulerProfile{SchedulerName: ptr.To("default-scheduler")})
		return nil
	})
	got := load(t, out)
	if got.ClientConnection.Kubeconfig != "/some/kubeconfig" {
		t.Errorf("clientConnection.kubeconfig = %q", got.ClientConnection.Kubeconfig)
	}
	var names []string
	for _, p := range got.Profiles {
		names = append(names, p.SchedulerName)
	}
	if diff := cmp.Diff([]string{"proxima-scheduler", "default-scheduler"}, names); diff != "" {
		t.Errorf("profiles (-want,+got):\n%s", diff)
	}
}

func TestRewriteErrors(t *testing.T) {
	data, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	editArgs := func(cfg *schedv1.KubeSchedulerConfiguration) error {
		return EditEdgePlacementArgs(cfg, "proxima-scheduler", func(*configv1.EdgePlacementArgs) {})
	}
	for _, tc := range []struct {
		name     string
		file     string
		edit     func(*schedv1.KubeSchedulerConfiguration) error
		contains string
	}{
		{name: "unknown field", file: string(data) + "percentageOfNodes: 50\n", contains: "unknown field"},
		{name: "other kind", file: strings.Replace(string(data), "kind: KubeSchedulerConfiguration", "kind: KubeProxyConfiguration", 1), contains: "want kubescheduler.config.k8s.io/v1"},
		{name: "unknown args field", file: strings.Replace(string(data), "placedEvents: false", "placedEvent: false", 1), edit: editArgs, contains: "unknown field"},
		{name: "args of another kind", file: strings.Replace(string(data), "placedEvents: false", "placedEvents: false\n          kind: NodeResourcesFitArgs", 1), edit: editArgs, contains: "want kubescheduler.config.k8s.io/v1"},
		{name: "no such profile", file: string(data), edit: func(cfg *schedv1.KubeSchedulerConfiguration) error {
			return EditEdgePlacementArgs(cfg, "default-scheduler", func(*configv1.EdgePlacementArgs) {})
		}, contains: "no profile default-scheduler"},
		{name: "no EdgePlacement pluginConfig", file: string(data), edit: func(cfg *schedv1.KubeSchedulerConfiguration) error {
			cfg.Profiles[0].PluginConfig = nil
			return editArgs(cfg)
		}, contains: "has no EdgePlacement pluginConfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "in.yaml")
			if err := os.WriteFile(src, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Rewrite(src, filepath.Join(dir, "out.yaml"), tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("Rewrite: got error %v, want one containing %q", err, tc.contains)
			}
		})
	}
}

// TestReadEdgePlacementArgsAsKubeScheduler: the args kubectl proxima reads
// are those kube-scheduler's own loader gives the plugin, defaults
// included, for the shipped file and one with telemetry.
func TestReadEdgePlacementArgsAsKubeScheduler(t *testing.T) {
	withTelemetry := rewrite(t, func(cfg *schedv1.KubeSchedulerConfiguration) error {
		return EditEdgePlacementArgs(cfg, "proxima-scheduler", func(a *configv1.EdgePlacementArgs) {
			a.Telemetry = &configv1.TelemetryArgs{Address: "http://prometheus:9090"}
		})
	})
	for _, path := range []string{shipped, withTelemetry} {
		got, err := ReadEdgePlacementArgs(path, "proxima-scheduler")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(edgePlacementArgs(t, load(t, path)), got); diff != "" {
			t.Errorf("%s: (-kube-scheduler,+ReadEdgePlacementArgs):\n%s", path, diff)
		}
	}
	if _, err := ReadEdgePlacementArgs(shipped, "nobody"); err == nil {
		t.Error("no error for a profile that does not exist")
	}
}
