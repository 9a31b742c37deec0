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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/test/harness"
)

// TestAdmissionPolicyExample applies manifests/examples/admission to the
// real apiserver and checks that, in labelled namespaces only, pods that do
// not name proxima-scheduler (or, with the stricter label, their policy)
// are refused with a message that says why, and the others are admitted.
func TestAdmissionPolicyExample(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	ctx := context.Background()
	dir := filepath.Join("..", "..", "manifests", "examples", "admission")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := applyYAML(t, cp, mustRead(t, filepath.Join(dir, e.Name()))); err != nil {
			t.Fatalf("applying %s: %v", e.Name(), err)
		}
	}
	label := func(ns string, labels map[string]string) {
		n, err := cp.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels = labels
		if _, err := cp.Client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	enforced := createNamespace(t, cp.Client, "shop")
	label(enforced, map[string]string{"placement.proxima.dev/require-scheduler": "true"})
	strict := createNamespace(t, cp.Client, "strict")
	label(strict, map[string]string{"placement.proxima.dev/require-scheduler": "true", "placement.proxima.dev/require-policy-label": "true"})
	free := createNamespace(t, cp.Client, "free")

	pod := func(ns, name, scheduler string, policyLabel bool) *v1.Pod {
		w := st.MakePod().Namespace(ns).Name(name).Container("registry.k8s.io/pause:3.10")
		if scheduler != "" {
			w = w.SchedulerName(scheduler)
		}
		if policyLabel {
			w = w.Label(placementv1alpha1.PolicyLabel, "eu-api")
		}
		return w.Obj()
	}
	create := func(p *v1.Pod) error {
		_, err := cp.Client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	// A new policy takes effect once the apiserver has compiled it: wait
	// for the first refusal.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		return apierrors.IsForbidden(create(pod(enforced, "default-scheduler", "", false))) &&
			apierrors.IsForbidden(create(pod(strict, "no-label", "proxima-scheduler", false))), nil
	}); err != nil {
		t.Fatalf("the admission policies never took effect: %v", err)
	}
	for _, tc := range []struct {
		name, ns, scheduler string
		policyLabel         bool
		refusedWith         string
	}{
		{"default scheduler in an enforced namespace", enforced, "", false, "requires spec.schedulerName: proxima-scheduler (label placement.proxima.dev/require-scheduler), not default-scheduler"},
		{"another scheduler in an enforced namespace", enforced, "my-scheduler", false, "not my-scheduler"},
		{"proxima-scheduler in an enforced namespace", enforced, "proxima-scheduler", false, ""},
		{"proxima-scheduler without a policy label, strict", strict, "proxima-scheduler", false, "requires the pod label placement.proxima.dev/policy"},
		{"default scheduler with a policy label, strict", strict, "", true, "requires spec.schedulerName"},
		{"proxima-scheduler with a policy label, strict", strict, "proxima-scheduler", true, ""},
		{"default scheduler in an unlabelled namespace", free, "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := create(pod(tc.ns, "p", tc.scheduler, tc.policyLabel))
			switch {
			case tc.refusedWith == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refusedWith != "" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.refusedWith)):
				t.Errorf("error %v, want Forbidden saying %q", err, tc.refusedWith)
			}
		})
	}
}
