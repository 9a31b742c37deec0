package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
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

// installed applies the rendered install manifests to a fresh control plane
// and returns it with a scheduler configuration file (the rendered
// ConfigMap's, connecting with a token minted for the proxima-scheduler
// ServiceAccount) and the scheduler binary built from this module.
func installed(t *testing.T) (cp *harness.ControlPlane, configPath, kubeconfig, bin string) {
	t.Helper()
	cp = harness.Start(t, harness.Options{NoCRDs: true})
	ctx := context.Background()
	objs, err := applyYAML(t, cp, renderInstall(t))
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
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(config), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig}
	cfgData, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configPath = filepath.Join(dir, "scheduler-config.yaml")
	if err := os.WriteFile(configPath, cfgData, 0o600); err != nil {
		t.Fatal(err)
	}
	return cp, configPath, kubeconfig, buildBinary(t, "cmd/proxima-scheduler", dir)
}

// process is a running scheduler binary and its log.
type process struct {
	cmd *exec.Cmd
	log string
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
	port, err := harness.FreePort()
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
	p := &process{cmd: cmd, log: logFile.Name()}
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
	cp, configPath, kubeconfig, bin := installed(t)
	sched := startScheduler(t, bin, configPath, kubeconfig, "scheduler")

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
	cp, configPath, kubeconfig, bin := installed(t)
	procs := []*process{
		startScheduler(t, bin, configPath, kubeconfig, "scheduler-a"),
		startScheduler(t, bin, configPath, kubeconfig, "scheduler-b"),
	}
	leader := func() int {
		t.Helper()
		found := -1
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			for i, p := range procs {
				if p.cmd.ProcessState == nil && strings.Contains(p.logText(t), "successfully acquired lease") {
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

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
