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

// Package registry lists the scheduler framework plugins compiled into the
// proxima-scheduler binary: Proxima's own. The scheduler-plugins peers it is
// compared against build against an older framework and live in their own
// module (bench/peers). The binary, the tests and the end-to-end benchmark
// build their scheduler from the same list, so each schedules with exactly
// what ships.
package registry

import (
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	// Registers EdgePlacementArgs into the kube-scheduler config scheme.
	_ "github.com/proxima-sched/proxima/apis/config/scheme"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
)

// Plugins returns the out-of-tree plugin factories by plugin name.
func Plugins() frameworkruntime.Registry {
	return frameworkruntime.Registry{
		edgeplacement.Name: edgeplacement.New,
	}
}

// Options returns Plugins as options for app.NewSchedulerCommand and
// app.Setup, with extra factories added or replacing a shipped one of the
// same name (a test's probe or wrapper).
func Options(extra ...frameworkruntime.Registry) []app.Option {
	plugins := Plugins()
	for _, r := range extra {
		for name, factory := range r {
			plugins[name] = factory
		}
	}
	opts := make([]app.Option, 0, len(plugins))
	for name, factory := range plugins {
		opts = append(opts, app.WithPlugin(name, factory))
	}
	return opts
}
