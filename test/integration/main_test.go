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

// Package integration runs Proxima against a real etcd and kube-apiserver
// (built into bin/ by `make tools`) with the real scheduler in-process, and,
// where a test needs Kubernetes' own controllers, the real
// kube-controller-manager with simulated kubelets.
package integration

import (
	"path/filepath"
	"testing"

	schedv1 "k8s.io/kube-scheduler/config/v1"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
)

// schedulerConfig is the KubeSchedulerConfiguration that ships in the install
// manifests; the tests schedule with exactly it.
var schedulerConfig = filepath.Join("..", "..", "manifests", "install", "scheduler-config.yaml")

// shippedConfigWith writes the shipped configuration with the
// proxima-scheduler profile's EdgePlacement args changed by edit (which sees
// them as written, without defaults), and returns its path.
func shippedConfigWith(t *testing.T, edit func(args *configv1.EdgePlacementArgs)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := schedconfig.Rewrite(schedulerConfig, path, func(cfg *schedv1.KubeSchedulerConfiguration) error {
		return schedconfig.EditEdgePlacementArgs(cfg, "proxima-scheduler", edit)
	}); err != nil {
		t.Fatal(err)
	}
	return path
}
