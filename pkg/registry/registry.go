// Package registry lists the scheduler framework plugins compiled into the
// proxima-scheduler binary: Proxima's own and the scheduler-plugins peers it
// is compared against. The binary and the tests build their scheduler from the
// same list, so a test schedules with exactly what ships.
package registry

import (
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/networkoverhead"
	"sigs.k8s.io/scheduler-plugins/pkg/networkaware/topologicalsort"
	"sigs.k8s.io/scheduler-plugins/pkg/trimaran/targetloadpacking"

	// Registers the peers' plugin args into the kube-scheduler config scheme.
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"

	// Registers EdgePlacementArgs into the kube-scheduler config scheme.
	_ "github.com/proxima-sched/proxima/apis/config/scheme"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
)

// Options returns the out-of-tree plugin registrations for
// app.NewSchedulerCommand and app.Setup.
func Options() []app.Option {
	return []app.Option{
		app.WithPlugin(edgeplacement.Name, edgeplacement.New),
		app.WithPlugin(networkoverhead.Name, networkoverhead.New),
		app.WithPlugin(topologicalsort.Name, topologicalsort.New),
		app.WithPlugin(targetloadpacking.Name, targetloadpacking.New),
	}
}
