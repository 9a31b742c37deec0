//go:build schedperf

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

package e2e

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"sigs.k8s.io/yaml"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
)

// unsignedName is EdgePlacement without SignPod, for the Proxima_Unsigned
// test case (config/proxima-unsigned.yaml): a profile with it cannot batch,
// which measures what EdgePlacement's signatures are worth.
const unsignedName = "EdgePlacementUnsigned"

// unsigned forwards every extension point of EdgePlacement but SignPod.
type unsigned struct {
	fwk.PreFilterPlugin
	fwk.FilterPlugin
	fwk.PostFilterPlugin
	fwk.PreScorePlugin
	fwk.ScorePlugin
	fwk.ReservePlugin
	fwk.BindPlugin
	fwk.PostBindPlugin
	fwk.EnqueueExtensions
}

func (unsigned) Name() string { return unsignedName }

// newUnsigned builds EdgePlacement from its args, which kube-scheduler
// leaves undecoded under a name of no registered args kind.
func newUnsigned(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	var v1args configv1.EdgePlacementArgs
	if u, ok := obj.(*runtime.Unknown); ok && u != nil {
		if err := yaml.UnmarshalStrict(u.Raw, &v1args); err != nil {
			return nil, fmt.Errorf("%s args: %w", unsignedName, err)
		}
	}
	args, err := schedconfig.DefaultedArgs(&v1args)
	if err != nil {
		return nil, fmt.Errorf("%s args: %w", unsignedName, err)
	}
	p, err := edgeplacement.New(ctx, args, h)
	if err != nil {
		return nil, err
	}
	ep := p.(*edgeplacement.EdgePlacement)
	var u fwk.Plugin = unsigned{ep, ep, ep, ep, ep, ep, ep, ep, ep}
	if _, signs := u.(fwk.SignPlugin); signs {
		return nil, fmt.Errorf("%s signs pods", unsignedName)
	}
	return u, nil
}

// withUnsigned adds EdgePlacementUnsigned to a registry.
func withUnsigned(r frameworkruntime.Registry) frameworkruntime.Registry {
	r[unsignedName] = newUnsigned
	return r
}
