// Package integration runs Proxima against a real etcd and kube-apiserver
// (built into bin/ by `make tools`) with the real scheduler in-process.
package integration

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
)

// schedulerConfig is the KubeSchedulerConfiguration that ships in the install
// manifests; the tests schedule with exactly it.
var schedulerConfig = filepath.Join("..", "..", "manifests", "install", "scheduler-config.yaml")

// shippedConfigWith writes the shipped configuration with EdgePlacement's
// args changed by edit, and returns its path.
func shippedConfigWith(t *testing.T, edit func(args map[string]any)) string {
	t.Helper()
	data, err := os.ReadFile(schedulerConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var args map[string]any
	for _, p := range doc["profiles"].([]any) {
		for _, pc := range p.(map[string]any)["pluginConfig"].([]any) {
			if pc := pc.(map[string]any); pc["name"] == edgeplacement.Name {
				args = pc["args"].(map[string]any)
			}
		}
	}
	if args == nil {
		t.Fatalf("%s has no %s pluginConfig", schedulerConfig, edgeplacement.Name)
	}
	edit(args)
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
