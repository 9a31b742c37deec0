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

package controlplane

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/component-base/configz"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/proxima-sched/proxima/pkg/registry"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
)

// Scheduler is a proxima-scheduler running in this process, built exactly as
// the binary builds it (app.Setup with the shipped plugin registry), from a
// KubeSchedulerConfiguration file.
type Scheduler struct {
	*scheduler.Scheduler
	cancel context.CancelFunc
	done   chan error
}

// RunScheduler runs the scheduler against this control plane with the
// configuration file at configPath and any extra kube-scheduler flags, until
// ctx ends or Stop. Leader election is off and no HTTP endpoints are served
// unless flags say otherwise. The scheduler's kubeconfig and its copy of the
// configuration go into dir, which must outlive the scheduler.
func (c *ControlPlane) RunScheduler(ctx context.Context, dir, configPath string, flags ...string) (*Scheduler, error) {
	return c.RunSchedulerWith(ctx, dir, configPath, nil, flags...)
}

// RunSchedulerWith is RunScheduler with plugins added to the shipped
// registry, or wrapping one of its plugins under the same name (a test's
// probe at an extension point the shipped plugins leave alone).
func (c *ControlPlane) RunSchedulerWith(ctx context.Context, dir, configPath string, plugins frameworkruntime.Registry, flags ...string) (*Scheduler, error) {
	kubeconfig, err := c.Kubeconfig(dir)
	if err != nil {
		return nil, err
	}
	// kube-scheduler ignores --kubeconfig when --config is given: the
	// connection belongs in the file. Point a copy of the file at this
	// control plane and leave the rest as written.
	copyPath := filepath.Join(dir, "scheduler-config.yaml")
	if err := schedconfig.Rewrite(configPath, copyPath, func(cfg *schedv1.KubeSchedulerConfiguration) error {
		cfg.ClientConnection.Kubeconfig = kubeconfig
		return nil
	}); err != nil {
		return nil, err
	}
	configPath = copyPath
	opts := options.NewOptions()
	fs := pflag.NewFlagSet("proxima-scheduler", pflag.ContinueOnError)
	for _, f := range opts.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	args := append([]string{
		"--config=" + configPath,
		"--leader-elect=false",
		"--secure-port=0",
	}, flags...)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("scheduler flags: %w", err)
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	cc, sched, err := app.Setup(ctx, opts, registry.Options(plugins)...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("scheduler setup with %s: %w", configPath, err)
	}
	s := &Scheduler{Scheduler: sched, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := app.Run(ctx, cc, sched)
		// app.Run registers the process-wide configz entry; release it so
		// that the next scheduler in this process can start.
		configz.Delete("componentconfig")
		s.done <- err
	}()
	return s, nil
}

// Stop stops the scheduler and waits for it to return. It reports whether
// the scheduler had failed before it was asked to stop.
func (s *Scheduler) Stop() error {
	select {
	case err := <-s.done:
		s.cancel()
		return fmt.Errorf("the scheduler stopped before it was asked to: %w", err)
	default:
	}
	s.cancel()
	<-s.done
	return nil
}
