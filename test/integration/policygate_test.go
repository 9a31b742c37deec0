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

package integration

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/policygate"
	"github.com/proxima-sched/proxima/pkg/controller/status"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	informers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	"github.com/proxima-sched/proxima/pkg/state"
)

// startProximaController runs proxima-controller's controllers in-process,
// wired as its main wires them: the status controller and, over its world
// model, the policy gate controller.
func startProximaController(t *testing.T, cp *controlplane.ControlPlane) {
	t.Helper()
	client := versioned.NewForConfigOrDie(cp.Config)
	factory := informers.NewSharedInformerFactory(client, 0)
	core := coreinformers.NewSharedInformerFactory(cp.Client, 0)
	c, err := status.New(client, factory, core, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	unbound := policygate.UnboundPods(cp.Client)
	gate, err := policygate.New(cp.Client, c.Model(), unbound)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	factory.Start(ctx.Done())
	core.Start(ctx.Done())
	go func() { unbound.Run(ctx.Done()); done <- struct{}{} }()
	go func() { _ = gate.Run(ctx); done <- struct{}{} }()
	go func() { _ = c.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		for range 3 {
			<-done
		}
		factory.Shutdown()
		core.Shutdown()
	})
}

// A Deployment applied before its PlacementPolicy (as Helm orders unknown
// kinds last) makes pods its policy's podSelector will match, before the
// policy exists. With the policy gate they wait, and once the policy exists
// they are placed by its rules; a gated pod whose policy label names a
// policy that does not exist keeps waiting.
func TestPolicyGate(t *testing.T) {
	e := newEnv(t)
	e.site(siteSpec{name: "zurich", country: "CH", cpuPrice: "0.01", nodes: 2})
	e.site(siteSpec{name: "frankfurt", country: "DE", tags: []string{"EU"}, cpuPrice: "0.09", nodes: 2})
	e.startScheduler()
	startProximaController(t, e.cp)

	gated := func(name string, labels map[string]string) *v1.Pod {
		pod := st.MakePod().Namespace(e.ns).Name(name).SchedulerName(proximaScheduler).Labels(labels).
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).
			SchedulingGates([]string{placementv1alpha1.PolicyGate}).Obj()
		return createPod(t, e.cp.Client, pod)
	}
	early := gated("api-0", map[string]string{"app": "api"})
	ghost := gated("ghost", map[string]string{placementv1alpha1.PolicyLabel: "ghost"})

	// The policy comes after the pods: cost-led, so without its residency
	// rule the pod would go to zurich, the cheaper site.
	spec := costPolicy
	spec.PodSelector = &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "api"}}
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	spec.Priority = ptr.To[int32](0)
	e.policy("eu-api", spec)
	if site := e.siteOfPod(early); site != "frankfurt" {
		t.Errorf("gated pod created before its policy landed in %s, want frankfurt (the only EU site)", site)
	}
	bound, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), early.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bound.Annotations[placementv1alpha1.PolicyRequiredAnnotation]; got != "true" {
		t.Errorf("ungated pod's %s annotation = %q, want true (so a scheduler that has not seen the policy fails it closed)", placementv1alpha1.PolicyRequiredAnnotation, got)
	}
	if got, ok := bound.Labels[placementv1alpha1.PolicyLabel]; ok {
		t.Errorf("the gate tied the pod to policy %q with its %s label; a policy of higher priority could never govern it", got, placementv1alpha1.PolicyLabel)
	}

	// The controller has reconciled every gated pod since the policy
	// appeared; the pod naming a missing policy is still gated and unbound.
	got, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), ghost.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "" || len(got.Spec.SchedulingGates) != 1 {
		t.Errorf("pod naming a missing policy: node %q, gates %v; want unbound and still gated", got.Spec.NodeName, got.Spec.SchedulingGates)
	}
}
