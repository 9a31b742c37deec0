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

// Package harness ties package controlplane to tests and benchmarks: Start,
// StartScheduler, StartControllerManager and SimulatePods start a control
// plane, a scheduler, a kube-controller-manager or stand-in kubelets that
// stop when the test ends, pass or fail. It also runs a real Prometheus scraping an
// exporter of controllable series, for the telemetry tests.
package harness

import (
	"context"
	"testing"

	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/proxima-sched/proxima/pkg/controlplane"
)

// Start starts a control plane for a test and stops it when the test ends,
// pass or fail.
func Start(tb testing.TB, opts controlplane.Options) *controlplane.ControlPlane {
	tb.Helper()
	cp, err := controlplane.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			tb.Errorf("stopping the control plane: %v", err)
		}
	})
	return cp
}

// StartScheduler runs the scheduler against cp with the configuration file
// at configPath and any extra kube-scheduler flags (see
// controlplane.ControlPlane.RunScheduler). The scheduler stops when the test
// ends, and the test fails if it had stopped before.
func StartScheduler(tb testing.TB, cp *controlplane.ControlPlane, configPath string, flags ...string) *controlplane.Scheduler {
	tb.Helper()
	return StartSchedulerWith(tb, cp, configPath, nil, flags...)
}

// StartSchedulerWith is StartScheduler with plugins added to the shipped
// registry (see controlplane.ControlPlane.RunSchedulerWith).
func StartSchedulerWith(tb testing.TB, cp *controlplane.ControlPlane, configPath string, plugins frameworkruntime.Registry, flags ...string) *controlplane.Scheduler {
	tb.Helper()
	s, err := cp.RunSchedulerWith(context.Background(), tb.TempDir(), configPath, plugins, flags...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// StartControllerManager runs the real kube-controller-manager against cp
// with only the named controllers (see
// controlplane.ControlPlane.StartControllerManager), and returns once they
// have started. It stops when the test ends, and the test fails if it had
// exited before.
func StartControllerManager(tb testing.TB, cp *controlplane.ControlPlane, controllers ...string) *controlplane.ControllerManager {
	tb.Helper()
	m, err := cp.StartControllerManager(context.Background(), tb.TempDir(), controllers...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Stop(); err != nil {
			tb.Error(err)
		}
		if tb.Failed() {
			tb.Logf("kube-controller-manager log %s ends:\n%s", m.LogPath, controlplane.LogTail(m.LogPath, 40))
		}
	})
	return m
}

// SimulatePods stands in for the kubelets of cp's nodes until the test ends
// (see controlplane.RunPodLifecycle): pods bound to a node start running and
// ready, and pods marked for deletion are deleted for good.
func SimulatePods(tb testing.TB, cp *controlplane.ControlPlane) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- controlplane.RunPodLifecycle(ctx, cp.Client) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("pod lifecycle simulator: %v", err)
		}
	})
}
