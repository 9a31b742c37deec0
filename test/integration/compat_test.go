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
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/test/harness"
)

// TestSupportedKubernetesVersions checks what docs/compatibility.md claims:
// the chart's kubeVersion admits the apiserver the tests run (the pinned
// one, as it reports itself), and refuses the minor versions before it
// (no resource.k8s.io/v1) and two after it (outside the skew policy); that
// apiserver serves the APIs Proxima relies on.
func TestSupportedKubernetesVersions(t *testing.T) {
	chrt, err := loader.Load(filepath.Join("..", "..", "manifests", "charts", "proxima"))
	if err != nil {
		t.Fatal(err)
	}
	constraint := chrt.Metadata.KubeVersion
	cp := harness.Start(t, controlplane.Options{NoCRDs: true})
	info, err := cp.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if info.GitVersion != pinnedKubernetesVersion() {
		t.Errorf("the test apiserver reports %s, want the pinned %s", info.GitVersion, pinnedKubernetesVersion())
	}
	if !chartutil.IsCompatibleRange(constraint, info.GitVersion) {
		t.Errorf("chart kubeVersion %q refuses the tested apiserver %s", constraint, info.GitVersion)
	}
	for _, v := range []string{"v1.30.14", "v1.33.7", "v1.36.0"} {
		if chartutil.IsCompatibleRange(constraint, v) {
			t.Errorf("chart kubeVersion %q admits %s, which docs/compatibility.md says is unsupported", constraint, v)
		}
	}
	if !chartutil.IsCompatibleRange(constraint, "v1.35.0") {
		t.Errorf("chart kubeVersion %q refuses 1.35, which the skew policy allows and docs/compatibility.md lists", constraint)
	}

	// What the scheduler waits for, and what the admission example uses.
	for gv, resource := range map[string]string{
		"resource.k8s.io/v1":              "resourceclaims",
		"admissionregistration.k8s.io/v1": "validatingadmissionpolicies",
	} {
		list, err := cp.Client.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatalf("the apiserver does not serve %s: %v", gv, err)
		}
		found := false
		for _, r := range list.APIResources {
			found = found || r.Name == resource
		}
		if !found {
			t.Errorf("%s does not serve %s", gv, resource)
		}
	}
	if _, err := cp.Client.ResourceV1().ResourceClaims("default").List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("listing resource.k8s.io/v1 ResourceClaims, as kube-scheduler's informer does: %v", err)
	}

	doc := string(mustRead(t, filepath.Join("..", "..", "docs", "compatibility.md")))
	if !strings.Contains(doc, "`"+constraint+"`") {
		t.Errorf("docs/compatibility.md does not quote the chart's kubeVersion %q", constraint)
	}
	minor := strings.Join(strings.SplitN(strings.TrimPrefix(info.GitVersion, "v"), ".", 3)[:2], ".")
	if !strings.Contains(doc, "| **"+minor+"** | **supported** | **yes**") {
		t.Errorf("docs/compatibility.md does not list %s as supported and tested", minor)
	}
}
