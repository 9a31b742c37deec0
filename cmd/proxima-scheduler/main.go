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

// Command proxima-scheduler is kube-scheduler with Proxima's plugins compiled
// in. Run it next to the default scheduler; pods opt in with
// spec.schedulerName: proxima-scheduler.
package main

import (
	"fmt"
	"os"
	"slices"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"  // REST client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"   // build version metric
	_ "k8s.io/component-base/metrics/prometheus/workqueue" // the world model's rebuild queue
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/proxima-sched/proxima/pkg/registry"
	"github.com/proxima-sched/proxima/pkg/version"
)

func main() {
	// --version names Proxima's release and the kube-scheduler it is built
	// on (kube-scheduler's own flag would name only the latter).
	if slices.Contains(os.Args[1:], "--version") || slices.Contains(os.Args[1:], "--version=true") {
		fmt.Println(version.String("proxima-scheduler"))
		return
	}
	command := app.NewSchedulerCommand(registry.Options()...)
	command.Use = "proxima-scheduler"
	os.Exit(cli.Run(command))
}
