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
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/test/harness"
)

// A node cannot choose its site, so data residency does not rest on what a
// node says about itself. With the Node authorizer and the NodeRestriction
// admission plugin enforcing what a kubelet may do, a node's own credential
// (a) cannot move it to another site through the site label, and (b) can set
// the legacy site label, but the scheduler with the shipped configuration
// does not count it: a DE-only pod stays pending while the only nodes in
// the DE site are ones that put themselves there, and lands on the node an
// administrator puts there.
func TestNodeCannotChooseItsSite(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{APIServerArgs: map[string][]string{
		"enable-admission-plugins": {"NodeRestriction"},
		"authorization-mode":       {"Node,RBAC"},
	}})
	e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "edge")}
	e.site(siteSpec{name: "lyon", country: "FR", cpuPrice: "0.01", nodes: 1})
	e.site(siteSpec{name: "frankfurt", country: "DE", cpuPrice: "0.09"})
	capacity := map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "16Gi"}
	// A node that has joined but that no administrator has put in a site yet.
	createNode(t, cp.Client, st.MakeNode().Name("spare").Capacity(capacity).Obj())
	spec := costPolicy
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []string{"DE"}}}
	e.policy("de-only", spec)
	e.startScheduler()

	ctx := context.Background()
	for _, node := range []string{"lyon-0", "spare"} {
		cfg, err := cp.NodeConfig(node)
		if err != nil {
			t.Fatal(err)
		}
		kubelet := kubernetes.NewForConfigOrDie(cfg)
		label := func(key string) error {
			patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"frankfurt"}}}`, key)
			_, err := kubelet.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}
		// (a) The site label is the administrator's alone.
		if err := label(placementv1alpha1.SiteLabel); !apierrors.IsForbidden(err) {
			t.Errorf("node %s setting its own %s: got %v, want Forbidden", node, placementv1alpha1.SiteLabel, err)
		}
		// (b) The legacy label is the node's to set, which is why it does not count.
		if err := label(placementv1alpha1.LegacySiteLabel); err != nil {
			t.Fatalf("node %s setting its own %s: %v", node, placementv1alpha1.LegacySiteLabel, err)
		}
	}
	for node, want := range map[string]string{"lyon-0": "lyon", "spare": ""} {
		n, err := cp.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Labels[placementv1alpha1.SiteLabel]; got != want || n.Labels[placementv1alpha1.LegacySiteLabel] != "frankfurt" {
			t.Fatalf("node %s labels %v: want %s=%q and %s=frankfurt", node, n.Labels,
				placementv1alpha1.SiteLabel, want, placementv1alpha1.LegacySiteLabel)
		}
	}

	pod := e.pod("de-only", "de-only", "100m")
	waitForEvent(t, cp.Client, pod, "FailedScheduling")
	p, err := cp.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" {
		t.Fatalf("the DE-only pod was bound to %s, a node that named its site itself", p.Spec.NodeName)
	}
	// The control: a node the administrator puts in frankfurt takes the pod.
	// A pod binds once, so binding there also shows that no retry in the
	// meantime placed it on a node that named its own site: nothing a node
	// did counts.
	createNode(t, cp.Client, st.MakeNode().Name("frankfurt-0").Label(placementv1alpha1.SiteLabel, "frankfurt").Capacity(capacity).Obj())
	if node := waitForBinding(t, cp.Client, pod); node != "frankfurt-0" {
		t.Errorf("the DE-only pod landed on %s, a node that named its site itself; want frankfurt-0", node)
	}
}
