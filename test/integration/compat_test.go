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
	"os/exec"
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
// the chart's kubeVersion admits both real apiservers the skew tests run
// (the pinned minor and the next, as each reports itself), and refuses the
// minor before the pinned one (a scheduler newer than its apiserver) and
// two after it (outside the skew policy); each apiserver serves the APIs
// Proxima relies on.
func TestSupportedKubernetesVersions(t *testing.T) {
	chrt, err := loader.Load(filepath.Join("..", "..", "manifests", "charts", "proxima"))
	if err != nil {
		t.Fatal(err)
	}
	constraint := chrt.Metadata.KubeVersion
	for _, v := range []string{"v1.30.14", "v1.34.7", "v1.35.4", "v1.38.0", "v1.39.1"} {
		if chartutil.IsCompatibleRange(constraint, v) {
			t.Errorf("chart kubeVersion %q admits %s, which docs/compatibility.md says is unsupported", constraint, v)
		}
	}
	doc := string(mustRead(t, filepath.Join("..", "..", "docs", "compatibility.md")))
	if !strings.Contains(doc, "`"+constraint+"`") {
		t.Errorf("docs/compatibility.md does not quote the chart's kubeVersion %q", constraint)
	}
	for _, v := range skewVersions() {
		t.Run(v.want, func(t *testing.T) {
			cp := harness.Start(t, controlplane.Options{NoCRDs: true, KubernetesVersion: v.option})
			info, err := cp.Client.Discovery().ServerVersion()
			if err != nil {
				t.Fatal(err)
			}
			if info.GitVersion != v.want {
				t.Errorf("the test apiserver reports %s, want %s", info.GitVersion, v.want)
			}
			if !chartutil.IsCompatibleRange(constraint, info.GitVersion) {
				t.Errorf("chart kubeVersion %q refuses the tested apiserver %s", constraint, info.GitVersion)
			}
			minor := strings.Join(strings.SplitN(strings.TrimPrefix(info.GitVersion, "v"), ".", 3)[:2], ".")
			if !strings.Contains(doc, "| **"+minor+"** | **supported** | **yes**") {
				t.Errorf("docs/compatibility.md does not list %s as supported and tested", minor)
			}
			servesProximasAPIs(t, cp)
		})
	}
}

// servesProximasAPIs checks that the apiserver serves what the scheduler
// waits for and what the admission example uses.
func servesProximasAPIs(t *testing.T, cp *controlplane.ControlPlane) {
	t.Helper()
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
}

// TestHelmTemplateKubeVersions runs the real helm (bin/helm) as a user
// would: `helm template --kube-version` renders the chart for the two
// supported minors and refuses the one before and the one after.
func TestHelmTemplateKubeVersions(t *testing.T) {
	bin, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join("..", "..", "manifests", "charts", "proxima")
	for _, tc := range []struct {
		version string
		ok      bool
	}{{"1.35.4", false}, {pinnedKubernetesVersion(), true}, {nextKubernetesVersion(), true}, {"1.38.0", false}} {
		out, err := exec.Command(filepath.Join(bin, "helm"), "template", "proxima", chart, "--namespace", "proxima-system",
			"--kube-version", tc.version).CombinedOutput()
		if tc.ok && err != nil {
			t.Errorf("helm template --kube-version %s: %v\n%s", tc.version, err, lastLines(string(out), 5))
		}
		if !tc.ok && (err == nil || !strings.Contains(string(out), "kubeVersion")) {
			t.Errorf("helm template --kube-version %s: err %v, want a refusal naming kubeVersion\n%s", tc.version, err, lastLines(string(out), 5))
		}
	}
}
