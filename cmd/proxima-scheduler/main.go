// Command proxima-scheduler is kube-scheduler with Proxima's plugins compiled
// in. Run it next to the default scheduler; pods opt in with
// spec.schedulerName: proxima-scheduler.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // REST client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // build version metric
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/proxima-sched/proxima/pkg/registry"
)

func main() {
	command := app.NewSchedulerCommand(registry.Options()...)
	command.Use = "proxima-scheduler"
	os.Exit(cli.Run(command))
}
