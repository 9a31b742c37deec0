package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
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

// TestInstallRBAC applies the rendered install manifests, mints a token for
// the proxima-scheduler ServiceAccount, and runs the real scheduler binary
// with that token and the rendered ConfigMap's configuration: if the RBAC
// lacked anything the scheduler needs, it could not schedule.
func TestInstallRBAC(t *testing.T) {
	cp := harness.Start(t, harness.Options{NoCRDs: true})
	ctx := context.Background()
	rendered := renderInstall(t)
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
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cp.Config.Host, CertificateAuthorityData: cp.Config.CAData}
	kc.AuthInfos["proxima-scheduler"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "proxima-scheduler"}
	kc.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(config), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig}
	cfgData, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "scheduler-config.yaml")
	if err := os.WriteFile(cfgPath, cfgData, 0o600); err != nil {
		t.Fatal(err)
	}

	bin := buildBinary(t, "cmd/proxima-scheduler", dir)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sched := exec.Command(bin, "--config="+cfgPath, fmt.Sprintf("--secure-port=%d", port), "--bind-address=127.0.0.1",
		"--cert-dir="+dir, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig, "--v=2")
	logFile, err := os.Create(filepath.Join(dir, "scheduler.log"))
	if err != nil {
		t.Fatal(err)
	}
	sched.Stdout, sched.Stderr = logFile, logFile
	if err := sched.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sched.Process.Kill()
		_ = sched.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("scheduler log:\n%s", lastLines(string(data), 60))
		}
	})

	// A site, a node in it, a policy and a pod.
	e := &env{t: t, cp: cp, pc: versioned.NewForConfigOrDie(cp.Config), ns: createNamespace(t, cp.Client, "installed")}
	e.site(siteSpec{name: "edge", country: "FR", cpuPrice: "0.05", nodes: 1})
	e.policy("anywhere", costPolicy)
	pod := e.pod("opted-in", "anywhere", "100m")
	if site := e.siteOfPod(pod); site != "edge" {
		t.Errorf("pod bound in site %q, want edge", site)
	}
	if msg := waitForEvent(t, cp.Client, pod, "Placed"); !strings.Contains(msg, "site edge") {
		t.Errorf("Placed event %q does not name the site", msg)
	}
	// Nothing the scheduler tried was refused, its delegated authentication
	// (the kube-system ConfigMap) included.
	logData, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(logData), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the scheduler was refused something with the installed RBAC: %s", line)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
