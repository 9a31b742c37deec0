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
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/proxima-sched/proxima/manifests"
	"github.com/proxima-sched/proxima/pkg/controlplane"
)

// TestRelease runs make release's script and checks its artefacts: the
// rendered install is the tree's with the release's images (one per
// component), crds.yaml holds exactly the generated CRDs, the packaged
// chart carries the release's version and images and renders what the
// tree's chart renders with them, and SHA256SUMS matches.
func TestRelease(t *testing.T) {
	bin, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	const version, registry = "v0.3.0-rc.1", "registry.example.com/edge"
	// Each Deployment runs its own image.
	wantImages := map[string]string{"proxima-scheduler": registry + "/proxima-scheduler:" + version,
		"proxima-controller": registry + "/proxima-controller:" + version}
	cmd := exec.Command("./hack/release.sh", version, out, registry)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), controlplane.BinDirEnv+"="+bin)
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/release.sh: %v\n%s", err, log)
	}

	images := func(objs []unstructured.Unstructured) map[string]string {
		out := map[string]string{}
		for _, u := range objs {
			if u.GetKind() != "Deployment" {
				continue
			}
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			for _, c := range cs {
				out[u.GetName()] = c.(map[string]any)["image"].(string)
			}
		}
		return out
	}
	install := objects(t, mustRead(t, filepath.Join(out, "install.yaml")))
	if got := images(install); !maps.Equal(got, wantImages) {
		t.Errorf("install.yaml images = %v, want %v", got, wantImages)
	}
	var keys, want []string
	for _, u := range install {
		keys = append(keys, objectKey(u))
	}
	for _, u := range objects(t, renderInstall(t)) {
		want = append(want, objectKey(u))
	}
	slices.Sort(keys)
	slices.Sort(want)
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("install.yaml objects differ from manifests/install (-tree,+release):\n%s", diff)
	}

	crds, err := manifests.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	var crdNames, released []string
	for _, c := range crds {
		crdNames = append(crdNames, c.Name)
	}
	for _, u := range objects(t, mustRead(t, filepath.Join(out, "crds.yaml"))) {
		released = append(released, u.GetName())
	}
	slices.Sort(crdNames)
	slices.Sort(released)
	if !slices.Equal(crdNames, released) {
		t.Errorf("crds.yaml holds %v, want %v", released, crdNames)
	}

	tgz := filepath.Join(out, "proxima-0.3.0-rc.1.tgz")
	chrt, err := loader.Load(tgz)
	if err != nil {
		t.Fatalf("loading the packaged chart: %v", err)
	}
	if chrt.Metadata.Version != "0.3.0-rc.1" || chrt.Metadata.AppVersion != version {
		t.Errorf("packaged chart version %s appVersion %s, want 0.3.0-rc.1 and %s", chrt.Metadata.Version, chrt.Metadata.AppVersion, version)
	}
	tree, err := loader.Load(filepath.Join("..", "..", "manifests", "charts", "proxima"))
	if err != nil {
		t.Fatal(err)
	}
	if chrt.Metadata.KubeVersion != tree.Metadata.KubeVersion {
		t.Errorf("packaged kubeVersion %q, tree's %q", chrt.Metadata.KubeVersion, tree.Metadata.KubeVersion)
	}
	helm := exec.Command(filepath.Join(bin, "helm"), "template", "proxima", tgz, "-n", "proxima-system")
	rendered, err := helm.Output()
	if err != nil {
		t.Fatalf("helm template of the packaged chart: %v", err)
	}
	if got := images(objects(t, rendered)); !maps.Equal(got, wantImages) {
		t.Errorf("the packaged chart's default images = %v, want %v", got, wantImages)
	}
	fromTree, err := renderChartValues(map[string]any{"image": map[string]any{"registry": registry, "tag": version}})
	if err != nil {
		t.Fatal(err)
	}
	strip := func(objs []unstructured.Unstructured) map[string]any {
		out := map[string]any{}
		for _, u := range objs {
			if u.GetKind() != "Namespace" {
				out[objectKey(u)] = u.Object
			}
		}
		return out
	}
	if diff := cmp.Diff(strip(objects(t, fromTree)), strip(objects(t, rendered))); diff != "" {
		t.Errorf("the packaged chart renders differently from the tree's with images %v (-tree,+packaged):\n%s", wantImages, diff)
	}

	sums := string(mustRead(t, filepath.Join(out, "SHA256SUMS")))
	for _, name := range []string{"install.yaml", "crds.yaml", filepath.Base(tgz)} {
		sum := sha256.Sum256(mustRead(t, filepath.Join(out, name)))
		if !strings.Contains(sums, hex.EncodeToString(sum[:])+"  "+name+"\n") {
			t.Errorf("SHA256SUMS lacks %s's sum:\n%s", name, sums)
		}
	}
}
