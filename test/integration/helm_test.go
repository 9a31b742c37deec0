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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/test/harness"
)

// TestHelmUpgradeCRDs runs the helm binary against a real apiserver: it
// installs a copy of the chart whose PlacementPolicy CRD lacks a status
// field (as an earlier release's did), upgrades to the tree's chart and
// checks that the CRD now has the field (Helm never upgrades a chart's
// crds/ folder, which is why the chart renders its CRDs as templates);
// then uninstalls and checks that the CRDs and the objects in them stay.
func TestHelmUpgradeCRDs(t *testing.T) {
	bin, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cp := harness.Start(t, controlplane.Options{NoCRDs: true})
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, cp, kubeconfig, &clientcmdapi.AuthInfo{ClientCertificateData: cp.Config.CertData, ClientKeyData: cp.Config.KeyData, Token: cp.Config.BearerToken})
	helm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "helm"), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+dir, "HELM_CACHE_HOME="+filepath.Join(dir, "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(dir, "config"), "HELM_DATA_HOME="+filepath.Join(dir, "data"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// The earlier release: the same chart without status.sitesWithoutNodes.
	old := filepath.Join(dir, "proxima-old")
	if err := os.CopyFS(old, os.DirFS(filepath.Join("..", "..", "manifests", "charts", "proxima"))); err != nil {
		t.Fatal(err)
	}
	crdFile := filepath.Join(old, "files", "crds", "placement.proxima.dev_placementpolicies.yaml")
	crd := string(mustRead(t, crdFile))
	start := strings.Index(crd, "              sitesWithoutNodes:\n")
	if start < 0 {
		t.Fatal("the PlacementPolicy CRD has no status.sitesWithoutNodes to remove")
	}
	end := start + len("              sitesWithoutNodes:\n")
	for strings.HasPrefix(crd[end:], "                ") {
		end += strings.Index(crd[end:], "\n") + 1
	}
	if err := os.WriteFile(crdFile, []byte(crd[:start]+crd[end:]), 0o644); err != nil {
		t.Fatal(err)
	}

	ext := apiextensionsclient.NewForConfigOrDie(cp.Config)
	hasField := func() bool {
		t.Helper()
		c, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), "placementpolicies.placement.proxima.dev", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, ok := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["sitesWithoutNodes"]
		return ok
	}
	helm("install", "proxima", old, "-n", "proxima-system", "--create-namespace")
	if hasField() {
		t.Fatal("the earlier chart's CRD already has status.sitesWithoutNodes")
	}
	// An object stored under the earlier CRD.
	pc := versioned.NewForConfigOrDie(cp.Config)
	var site *placementv1alpha1.Site
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		site, err = pc.PlacementV1alpha1().Sites().Create(ctx, &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: "paris"},
			Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierRegional, Country: "FR",
				Location: placementv1alpha1.GeoLocation{Latitude: "48.8566", Longitude: "2.3522"}}}, metav1.CreateOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("creating a Site under the installed CRDs: %v", err)
	}

	helm("upgrade", "proxima", filepath.Join("..", "..", "manifests", "charts", "proxima"), "-n", "proxima-system", "--reuse-values")
	if !hasField() {
		t.Error("helm upgrade did not update the PlacementPolicy CRD: status.sitesWithoutNodes is missing")
	}

	helm("uninstall", "proxima", "-n", "proxima-system")
	for _, name := range []string{"placementpolicies", "sites", "trafficsources"} {
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), name+".placement.proxima.dev", metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s after helm uninstall: %v", name, err)
		}
	}
	if got, err := pc.PlacementV1alpha1().Sites().Get(context.Background(), "paris", metav1.GetOptions{}); err != nil || got.UID != site.UID {
		t.Errorf("Site paris after helm uninstall: %v (uid %v, want %v)", err, got.GetUID(), site.UID)
	}
	crs, err := cp.Client.RbacV1().ClusterRoles().List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=proxima"})
	if err != nil {
		t.Fatal(err)
	}
	if len(crs.Items) != 0 {
		t.Errorf("helm uninstall left %d ClusterRoles", len(crs.Items))
	}
}
