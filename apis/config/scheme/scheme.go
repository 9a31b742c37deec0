// Package scheme registers Proxima's plugin args into kube-scheduler's
// config scheme; import it for its side effect.
package scheme

import (
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/proxima-sched/proxima/apis/config"
	v1 "github.com/proxima-sched/proxima/apis/config/v1"
)

func init() {
	utilruntime.Must(config.AddToScheme(kubeschedulerscheme.Scheme))
	utilruntime.Must(v1.AddToScheme(kubeschedulerscheme.Scheme))
}
