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
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/test/harness"
)

// renderInstall renders manifests/install with the kustomize library, as
// `kubectl apply -k` does, and returns the YAML stream.
func renderInstall(t *testing.T) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("..", "..", "manifests", "install"))
	if err != nil {
		t.Fatalf("kustomize build manifests/install: %v", err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// renderChart renders manifests/charts/proxima with the Helm library and
// default values, as `helm template --namespace proxima-system` does, with
// the namespace prepended (Helm leaves creating it to --create-namespace).
func renderChart(t *testing.T) []byte {
	t.Helper()
	out, err := renderChartValues(map[string]any{})
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return out
}

// renderChartValues renders the chart with values (as --set would give
// them), for the pinned Kubernetes version.
func renderChartValues(values map[string]any) ([]byte, error) {
	chrt, err := loader.Load(filepath.Join("..", "..", "manifests", "charts", "proxima"))
	if err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	v := pinnedKubernetesVersion()
	major, minor, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	caps.KubeVersion = chartutil.KubeVersion{Version: v, Major: major, Minor: minor}
	vals, err := chartutil.ToRenderValues(chrt, values,
		chartutil.ReleaseOptions{Name: "proxima", Namespace: "proxima-system", IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, vals)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: proxima-system\n")
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, ".tpl") || strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		b.WriteString("\n---\n")
		b.WriteString(files[name])
	}
	return []byte(b.String()), nil
}

// buildBinary builds a command of this module into dir.
func buildBinary(t *testing.T, pkg, dir string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "../../"+pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build %s: %v", pkg, err)
	}
	return out
}

// installed applies the rendered install manifests to a fresh control plane
// and returns it with a scheduler configuration file (the rendered
// ConfigMap's, connecting with a token minted for the proxima-scheduler
// ServiceAccount) and the scheduler binary built from this module.
func installed(t *testing.T, rendered []byte) (cp *controlplane.ControlPlane, configPath, kubeconfig, bin string) {
	t.Helper()
	return installedOn(t, controlplane.Options{NoCRDs: true}, rendered)
}

// installedOn is installed on a control plane started with opts.
func installedOn(t *testing.T, opts controlplane.Options, rendered []byte) (cp *controlplane.ControlPlane, configPath, kubeconfig, bin string) {
	t.Helper()
	cp = harness.Start(t, opts)
	ctx := context.Background()
	objs, err := applyYAML(t, cp, rendered)
	if err != nil {
		t.Fatalf("applying the rendered install: %v", err)
	}
	var config string
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "proxima-scheduler-config") {
			config, _, _ = unstructured.NestedString(o.Object, "data", "scheduler-config.yaml")
		}
	}
	if config == "" {
		t.Fatal("the rendered install has no proxima-scheduler-config ConfigMap")
	}
	// The CRDs are part of the install; wait until they serve.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := cp.Client.Discovery().ServerResourcesForGroupVersion("placement.proxima.dev/v1alpha1")
		return err == nil, nil
	}); err != nil {
		t.Fatalf("placement CRDs never served: %v", err)
	}
	tok, err := cp.Client.CoreV1().ServiceAccounts("proxima-system").CreateToken(ctx, "proxima-scheduler",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for proxima-scheduler: %v", err)
	}
	dir := t.TempDir()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cp.Config.Host, CertificateAuthorityData: cp.Config.CAData}
	kc.AuthInfos["proxima-scheduler"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "proxima-scheduler"}
	kc.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	fromConfigMap := filepath.Join(dir, "configmap-scheduler-config.yaml")
	if err := os.WriteFile(fromConfigMap, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	configPath = filepath.Join(dir, "scheduler-config.yaml")
	if err := schedconfig.Rewrite(fromConfigMap, configPath, func(cfg *schedv1.KubeSchedulerConfiguration) error {
		cfg.ClientConnection.Kubeconfig = kubeconfig
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return cp, configPath, kubeconfig, buildBinary(t, "cmd/proxima-scheduler", dir)
}

// process is a running scheduler binary, its log and its secure port.
type process struct {
	cmd  *exec.Cmd
	log  string
	port int
}

func (p *process) logText(t *testing.T) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// startScheduler runs the binary as the Deployment does, on a free port.
func startScheduler(t *testing.T, bin, configPath, kubeconfig, name string) *process {
	t.Helper()
	dir := t.TempDir()
	port, err := controlplane.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config="+configPath, fmt.Sprintf("--secure-port=%d", port), "--bind-address=127.0.0.1",
		"--cert-dir="+dir, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig, "--v=2")
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logFile.Name(), port: port}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, lastLines(p.logText(t), 40))
		}
	})
	return p
}

// TestInstallRBAC runs the real scheduler binary with the installed RBAC
// and configuration and a token of its own ServiceAccount: if the RBAC
// lacked anything the scheduler needs, it could not schedule.
func TestInstallRBAC(t *testing.T) {
	for name, render := range map[string]func(*testing.T) []byte{"kustomize": renderInstall, "helm": renderChart} {
		t.Run(name, func(t *testing.T) { testInstalled(t, render(t)) })
	}
}

func testInstalled(t *testing.T, rendered []byte) {
	cp, configPath, kubeconfig, bin := installed(t, rendered)
	sched := startScheduler(t, bin, configPath, kubeconfig, "scheduler")

	e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "installed")}
	e.site(siteSpec{name: "edge", country: "FR", cpuPrice: "0.05", nodes: 1})
	e.policy("anywhere", costPolicy)
	pod := e.pod("opted-in", "anywhere", "100m")
	if site := e.siteOfPod(pod); site != "edge" {
		t.Errorf("pod bound in site %q, want edge", site)
	}
	if msg := placementOf(t, cp.Client, pod); !strings.Contains(msg, "site edge") {
		t.Errorf("placement annotation %q does not name the site", msg)
	}
	// Nothing the scheduler tried was refused, its delegated authentication
	// (the kube-system ConfigMap) included.
	for _, line := range strings.Split(sched.logText(t), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the scheduler was refused something with the installed RBAC: %s", line)
		}
	}
}

// TestLeaderElection runs two scheduler processes with the installed
// configuration: only the leader schedules; when it stops, the other takes
// the Lease and schedules the rest, and no pod is bound twice.
func TestLeaderElection(t *testing.T) {
	cp, configPath, kubeconfig, bin := installed(t, renderInstall(t))
	procs := []*process{
		startScheduler(t, bin, configPath, kubeconfig, "scheduler-a"),
		startScheduler(t, bin, configPath, kubeconfig, "scheduler-b"),
	}
	leader := func() int {
		t.Helper()
		found := -1
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			for i, p := range procs {
				if p.cmd.ProcessState == nil && acquiredLease(p.logText(t)) {
					found = i
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			t.Fatal("no scheduler acquired the lease")
		}
		return found
	}
	e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "ha")}
	e.site(siteSpec{name: "edge", country: "FR", cpuPrice: "0.05", nodes: 2})
	e.policy("anywhere", costPolicy)
	first := leader()
	var pods []string
	for i := range 5 {
		p := e.pod(fmt.Sprintf("before-%d", i), "anywhere", "100m")
		waitForBinding(t, cp.Client, p)
		// Events are written asynchronously: let the leader's reach the
		// apiserver before it is stopped.
		waitForEvent(t, cp.Client, p, "Scheduled")
		pods = append(pods, p.Name)
	}
	other := 1 - first
	if n := strings.Count(procs[other].logText(t), "Successfully bound pod"); n != 0 {
		t.Errorf("the follower bound %d pods while the leader was up", n)
	}
	// Stop the leader as Kubernetes would (SIGTERM): it releases the Lease.
	if err := procs[first].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = procs[first].cmd.Wait()
	for i := range 5 {
		p := e.pod(fmt.Sprintf("after-%d", i), "anywhere", "100m")
		waitForBinding(t, cp.Client, p)
		waitForEvent(t, cp.Client, p, "Scheduled")
		pods = append(pods, p.Name)
	}
	if got := leader(); got != other {
		t.Errorf("leader after failover = %d, want %d", got, other)
	}
	if n := strings.Count(procs[other].logText(t), "Successfully bound pod"); n != 5 {
		t.Errorf("the new leader bound %d pods, want the 5 created after the failover", n)
	}
	for _, name := range pods {
		scheduled := 0
		for _, ev := range podEvents(t, cp.Client, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}}) {
			if ev.Reason == "Scheduled" {
				scheduled++
			}
		}
		if scheduled != 1 {
			t.Errorf("pod %s has %d Scheduled events, want exactly 1", name, scheduled)
		}
	}
}

// acquiredLease says whether a component's log has client-go's leader
// election line for taking the Lease ("successfully acquired lease" until
// 1.35, capitalized since).
func acquiredLease(log string) bool {
	return strings.Contains(strings.ToLower(log), "successfully acquired lease")
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestRenderingsAgree checks that the kustomize install and the Helm chart
// (default values) render the same RBAC and the same scheduler
// configuration.
func TestRenderingsAgree(t *testing.T) {
	type key struct{ kind, namespace, name string }
	summarize := func(rendered []byte) (map[key]string, map[string]any) {
		rbac := map[key]string{}
		var config map[string]any
		for _, doc := range strings.Split(string(rendered), "\n---") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
				continue
			}
			u := unstructured.Unstructured{Object: obj}
			switch u.GetKind() {
			case "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ServiceAccount":
				ns := u.GetNamespace()
				if ns == "" && (u.GetKind() == "Role" || u.GetKind() == "RoleBinding" || u.GetKind() == "ServiceAccount") {
					ns = "proxima-system"
				}
				body := map[string]any{"rules": obj["rules"], "roleRef": obj["roleRef"], "subjects": obj["subjects"]}
				out, _ := yaml.Marshal(body)
				rbac[key{u.GetKind(), ns, u.GetName()}] = string(out)
			case "ConfigMap":
				data, _, _ := unstructured.NestedString(obj, "data", "scheduler-config.yaml")
				if err := yaml.Unmarshal([]byte(data), &config); err != nil {
					t.Fatal(err)
				}
			}
		}
		return rbac, config
	}
	kRBAC, kConfig := summarize(renderInstall(t))
	hRBAC, hConfig := summarize(renderChart(t))
	if len(kRBAC) < 10 {
		t.Fatalf("kustomize rendered only %d RBAC objects", len(kRBAC))
	}
	if diff := cmp.Diff(kRBAC, hRBAC); diff != "" {
		t.Errorf("RBAC differs (-kustomize,+helm):\n%s", diff)
	}
	if kConfig == nil {
		t.Fatal("no scheduler configuration rendered")
	}
	if diff := cmp.Diff(kConfig, hConfig); diff != "" {
		t.Errorf("scheduler configuration differs (-kustomize,+helm):\n%s", diff)
	}
}
