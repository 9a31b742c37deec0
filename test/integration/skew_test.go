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
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/test/harness"
)

var nextKubernetesVersion = sync.OnceValue(func() string { return pinned()["KUBERNETES_NEXT_VERSION"] })

// skewVersions are the apiserver versions a proxima-scheduler and
// proxima-controller built on the pinned Kubernetes may talk to under the
// version-skew policy, each as Options.KubernetesVersion ("" for the
// pinned) with the version it reports.
func skewVersions() []struct{ option, want string } {
	return []struct{ option, want string }{
		{"", pinnedKubernetesVersion()},
		{nextKubernetesVersion(), nextKubernetesVersion()},
	}
}

// TestVersionSkew runs the shipped install (kustomize's rendering: CRDs,
// RBAC, the scheduler's configuration) with the real proxima-scheduler and
// proxima-controller binaries, each with a token of its own ServiceAccount,
// against the real kube-apiserver and kube-controller-manager of every
// version in skewVersions: the CRDs apply and serve, a pod is placed by
// residency and latency, the rebalancer moves it when its policy is
// narrowed, and the scheduler keeps opportunistic batching on (no
// "Disabling signatures" in its log).
func TestVersionSkew(t *testing.T) {
	rendered := renderInstall(t)
	for _, v := range skewVersions() {
		t.Run(v.want, func(t *testing.T) {
			cp, configPath, schedKubeconfig, schedBin := installedOn(t, controlplane.Options{NoCRDs: true, KubernetesVersion: v.option}, rendered)
			info, err := cp.Client.Discovery().ServerVersion()
			if err != nil {
				t.Fatal(err)
			}
			if info.GitVersion != v.want {
				t.Fatalf("the apiserver reports %s, want %s", info.GitVersion, v.want)
			}
			harness.StartControllerManager(t, cp, "deployment", "replicaset")
			harness.SimulatePods(t, cp)
			sched := startScheduler(t, schedBin, configPath, schedKubeconfig, "proxima-scheduler")
			startController(t, cp, rendered, "--rebalance-interval=500ms")

			e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "skew")}
			e.site(siteSpec{name: "de", country: "DE", nodes: 1})
			e.site(siteSpec{name: "fr", country: "FR", nodes: 1})
			e.site(siteSpec{name: "us", country: "US", nodes: 1})
			e.source("users", map[string]int32{"de": 10, "fr": 20, "us": 5})
			spec := latencyPolicy("users")
			spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"DE", "FR"}}}
			spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 300, 600)
			e.policy("eu", spec)
			re := &rebalanceEnv{env: e}
			re.deployment("api", "eu", 1, "500m")
			re.eventually("the pod placed in de (closest allowed; us is closer but not allowed)", time.Minute, func() bool {
				sites := re.placed("api")
				return len(sites) == 1 && sites[firstKey(sites)] == "de"
			})
			re.setMode("eu", func(s *placementv1alpha1.PlacementPolicySpec) {
				s.Residency.Allowed.Countries = []placementv1alpha1.CountryCode{"FR"}
			})
			re.eventually("the rebalancer moved the pod to fr", 2*time.Minute, func() bool {
				sites := re.placed("api")
				return len(sites) == 1 && sites[firstKey(sites)] == "fr"
			})
			if log := sched.logText(t); strings.Contains(log, "Disabling signatures") {
				t.Errorf("proxima-scheduler disabled opportunistic batching:\n%s", grepLines(log, "Disabling signatures"))
			}
		})
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// startController runs the proxima-controller binary as the install's
// Deployment does: a token of its own ServiceAccount and the scheduler's
// configuration from the rendered ConfigMap, with more flags. It returns the
// running command.
func startController(t *testing.T, cp *controlplane.ControlPlane, rendered []byte, flags ...string) *exec.Cmd {
	t.Helper()
	ctx := context.Background()
	var config string
	for _, o := range objects(t, rendered) {
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "proxima-scheduler-config") {
			config, _, _ = unstructured.NestedString(o.Object, "data", "scheduler-config.yaml")
		}
	}
	if config == "" {
		t.Fatal("the rendered install has no proxima-scheduler-config ConfigMap")
	}
	dir := t.TempDir()
	configPath := filepath.Join(dir, "scheduler-config.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := cp.Client.CoreV1().ServiceAccounts("proxima-system").CreateToken(ctx, "proxima-controller",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for proxima-controller: %v", err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, cp, kubeconfig, &clientcmdapi.AuthInfo{Token: tok.Status.Token})
	args := append([]string{"--kubeconfig=" + kubeconfig, "--leader-elect-namespace=proxima-system",
		"--scheduler-config=" + configPath}, flags...)
	cmd := exec.Command(buildBinary(t, "cmd/proxima-controller", dir), args...)
	var log bytes.Buffer
	var mu sync.Mutex
	w := lockedWriter{mu: &mu, w: &log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("proxima-controller log:\n%s", lastLines(log.String(), 40))
		}
	})
	return cmd
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
