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

// The docs test runs the commands of README.md and docs/*.md as written,
// with the kubectl and helm that hack/tools.sh builds from the pinned
// modules, against a real control plane, with the real scheduler and
// controller binaries running on their installed ServiceAccounts' tokens
// and configuration, as the installed Deployments would.
//
// Every fenced sh block (and every `$ ` transcript) in those files is
// marked by an HTML comment on the line just above its fence:
//
//	<!-- docs-test: SCENARIO[,SCENARIO...] [STAGE] -->
//	<!-- docs-test: skip REASON -->
//
// SCENARIO is kustomize or helm: each runs on its own control plane, its
// blocks in stage order (install, use, upgrade, uninstall; use when
// omitted), then in the order of docFiles, then of the file. A yaml block
// with a marker is applied with `kubectl apply -f -`. For a transcript
// (lines starting with "$ "), each command runs and the column headers
// the transcript shows must be those printed. A skip names why the block
// cannot run here (it needs a Docker engine, a K3s host, ...);
// TestDocsBlocksMarked fails on a block with neither.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/test/harness"
)

// docFiles are the documents whose commands run, in the order a reader
// follows them.
var docFiles = []string{"docs/compatibility.md", "docs/quickstart.md", "docs/release.md", "docs/install.md", "README.md", "docs/troubleshooting.md", "docs/admission.md", "docs/rebalancer.md"}

var stages = []string{"install", "use", "upgrade", "uninstall"}

type docBlock struct {
	file      string
	line      int
	lang      string
	scenarios []string
	stage     string
	skip      string
	marked    bool
	body      string
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var markerRE = regexp.MustCompile(`^<!--\s*docs-test:\s*(.*?)\s*-->$`)

// docBlocks parses the fenced blocks of the doc files that hold commands:
// sh, bash, console, or a block of transcript lines, or a marked yaml block.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	var out []docBlock
	root := filepath.Join("..", "..")
	for _, file := range docFiles {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			line := strings.TrimSpace(lines[i])
			if !strings.HasPrefix(line, "```") {
				continue
			}
			lang := strings.TrimPrefix(line, "```")
			start := i
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, strings.TrimPrefix(lines[i], indentOf(lines[start])))
			}
			b := docBlock{file: file, line: start + 1, lang: lang, body: strings.Join(body, "\n")}
			isTranscript := lang == "" && len(body) > 0 && strings.HasPrefix(body[0], "$ ")
			if start > 0 {
				if m := markerRE.FindStringSubmatch(strings.TrimSpace(lines[start-1])); m != nil {
					b.marked = true
					if reason, ok := strings.CutPrefix(m[1], "skip"); ok {
						b.skip = strings.TrimSpace(reason)
						if b.skip == "" {
							t.Errorf("%s: a skip must say why", b)
						}
					} else {
						fields := strings.Fields(m[1])
						b.stage = "use"
						if len(fields) > 1 {
							b.stage = fields[1]
						}
						if !slices.Contains(stages, b.stage) {
							t.Errorf("%s: unknown stage %q (want one of %v)", b, b.stage, stages)
						}
						b.scenarios = strings.Split(fields[0], ",")
					}
				}
			}
			if lang == "sh" || lang == "bash" || lang == "console" || isTranscript || (b.marked && lang == "yaml") {
				if lang == "" {
					b.lang = "transcript"
				}
				out = append(out, b)
			}
		}
	}
	return out
}

func indentOf(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " "))] }

// TestDocsBlocksMarked checks that every command block of the docs either
// runs in the docs test or says why it cannot.
func TestDocsBlocksMarked(t *testing.T) {
	blocks := docBlocks(t)
	runs := 0
	for _, b := range blocks {
		if !b.marked {
			t.Errorf("%s: a %s block without a docs-test marker (run it in a scenario, or skip it with a reason)", b, b.lang)
		}
		for _, s := range b.scenarios {
			if s != "kustomize" && s != "helm" {
				t.Errorf("%s: unknown scenario %q", b, s)
			}
		}
		if b.skip == "" {
			runs++
		}
	}
	if runs < 10 {
		t.Errorf("only %d doc blocks run", runs)
	}
}

// docsEnv is one scenario's cluster and the environment its commands run in.
type docsEnv struct {
	t    *testing.T
	cp   *controlplane.ControlPlane
	env  []string
	root string
}

func (d *docsEnv) run(b docBlock) {
	t := d.t
	t.Helper()
	switch b.lang {
	case "yaml":
		d.shell(b, "kubectl apply -f - <<'DOCS_TEST_EOF'\n"+b.body+"\nDOCS_TEST_EOF")
	case "transcript":
		for _, cmd := range transcriptCommands(b.body) {
			out := d.shell(b, cmd.command)
			for _, header := range cmd.headers {
				if !slices.Contains(normalizedLines(out), header) {
					t.Errorf("%s: `%s` printed no header %q; it printed:\n%s", b, cmd.command, header, out)
				}
			}
		}
	default:
		d.shell(b, b.body)
	}
}

// shell runs a block's text with bash -euo pipefail in the repository root.
func (d *docsEnv) shell(b docBlock, script string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = d.root, d.env
	out, err := cmd.CombinedOutput()
	d.t.Logf("%s:\n%s\n%s", b, script, out)
	if err != nil {
		d.t.Fatalf("%s failed: %v\n%s", b, err, out)
	}
	return string(out)
}

type transcriptCommand struct {
	command string
	headers []string
}

// transcriptCommands reads "$ command" lines and the header lines (those
// starting with NAME or NAMESPACE) of the output shown after each.
func transcriptCommands(body string) []transcriptCommand {
	var out []transcriptCommand
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			out = append(out, transcriptCommand{command: cmd})
			continue
		}
		if len(out) > 0 && (strings.HasPrefix(line, "NAME ") || strings.HasPrefix(line, "NAMESPACE ")) {
			out[len(out)-1].headers = append(out[len(out)-1].headers, strings.Join(strings.Fields(line), " "))
		}
	}
	return out
}

func normalizedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

// TestDocsCommands runs the docs' commands, scenario by scenario.
func TestDocsCommands(t *testing.T) {
	blocks := docBlocks(t)
	bin, err := controlplane.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"kubectl", "helm"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("%s is not in %s: run `./hack/tools.sh %s` (make test builds it): %v", tool, bin, tool, err)
		}
	}
	for _, scenario := range []string{"kustomize", "helm"} {
		t.Run(scenario, func(t *testing.T) {
			var mine []docBlock
			for _, stage := range stages {
				for _, b := range blocks {
					if b.stage == stage && slices.Contains(b.scenarios, scenario) {
						mine = append(mine, b)
					}
				}
			}
			if len(mine) == 0 {
				t.Fatalf("no doc block runs in scenario %s", scenario)
			}
			d := newDocsEnv(t, bin)
			started := false
			for _, b := range mine {
				if b.stage != "install" && !started {
					d.startComponents()
					started = true
				}
				d.run(b)
			}
			if !started {
				t.Fatalf("scenario %s never installed Proxima", scenario)
			}
			d.checkUninstalled()
		})
	}
}

// newDocsEnv starts a control plane with the controllers a cluster would
// run for these commands (kube-controller-manager's namespace, Deployment
// and ReplicaSet controllers, the real binary), the nodes the docs label,
// and an admin kubeconfig.
func newDocsEnv(t *testing.T, bin string) *docsEnv {
	cp := harness.Start(t, controlplane.Options{NoCRDs: true})
	// kubectl delete namespace needs the namespace controller, and the
	// example Deployment's pods the Deployment and ReplicaSet ones. No
	// garbage collector: the uninstall deletes the namespace, and the
	// namespace controller deletes what is in it.
	harness.StartControllerManager(t, cp, "namespace", "deployment", "replicaset")
	for _, name := range []string{"store-lyon-1", "cloud-frankfurt-1", "cloud-frankfurt-2", "pop-paris-1"} {
		node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.NodeStatus{
			Capacity:    v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourceMemory: resource.MustParse("32Gi"), v1.ResourcePods: resource.MustParse("110")},
			Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourceMemory: resource.MustParse("32Gi"), v1.ResourcePods: resource.MustParse("110")},
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		}}
		createNode(t, cp.Client, node)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	writeKubeconfig(t, cp, kubeconfig, &clientcmdapi.AuthInfo{ClientCertificateData: cp.Config.CertData, ClientKeyData: cp.Config.KeyData, Token: cp.Config.BearerToken})
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// kubectl proxima, built from this checkout, on the PATH as a plugin.
	plugins := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	buildBinary(t, "cmd/kubectl-proxima", plugins)
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+dir,
		"PATH="+bin+string(os.PathListSeparator)+plugins+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HELM_CACHE_HOME="+filepath.Join(dir, "helm-cache"), "HELM_CONFIG_HOME="+filepath.Join(dir, "helm-config"),
		"HELM_DATA_HOME="+filepath.Join(dir, "helm-data"))
	return &docsEnv{t: t, cp: cp, env: env, root: abs}
}

func writeKubeconfig(t *testing.T, cp *controlplane.ControlPlane, path string, user *clientcmdapi.AuthInfo) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["docs"] = &clientcmdapi.Cluster{Server: cp.Config.Host, CertificateAuthorityData: cp.Config.CAData}
	kc.AuthInfos["docs"] = user
	kc.Contexts["docs"] = &clientcmdapi.Context{Cluster: "docs", AuthInfo: "docs", Namespace: "default"}
	kc.CurrentContext = "docs"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}

// startComponents runs the scheduler and the controller binaries as the
// installed Deployments would: with the installed configuration, on
// tokens of their own ServiceAccounts, and the flags their Deployments
// give.
func (d *docsEnv) startComponents() {
	t := d.t
	t.Helper()
	ctx := context.Background()
	var config string
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		cms, err := d.cp.Client.CoreV1().ConfigMaps("proxima-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=proxima"})
		if err != nil {
			return false, nil
		}
		for _, cm := range cms.Items {
			if strings.HasPrefix(cm.Name, "proxima-scheduler-config") {
				config = cm.Data["scheduler-config.yaml"]
			}
		}
		return config != "", nil
	}); err != nil {
		t.Fatal("the install created no proxima-scheduler-config ConfigMap")
	}
	dir := t.TempDir()
	kubeconfigFor := func(sa string) string {
		tok, err := d.cp.Client.CoreV1().ServiceAccounts("proxima-system").CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest for %s: %v", sa, err)
		}
		path := filepath.Join(dir, sa+".kubeconfig")
		writeKubeconfig(t, d.cp, path, &clientcmdapi.AuthInfo{Token: tok.Status.Token})
		return path
	}
	schedKubeconfig := kubeconfigFor("proxima-scheduler")
	fromConfigMap := filepath.Join(dir, "configmap-scheduler-config.yaml")
	if err := os.WriteFile(fromConfigMap, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// In a pod the scheduler finds the apiserver and its token in-cluster;
	// here the same token comes through a kubeconfig.
	configPath := filepath.Join(dir, "scheduler-config.yaml")
	if err := schedconfig.Rewrite(fromConfigMap, configPath, func(cfg *schedv1.KubeSchedulerConfiguration) error {
		cfg.ClientConnection.Kubeconfig = schedKubeconfig
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, buildBinary(t, "cmd/proxima-scheduler", dir), configPath, schedKubeconfig, "proxima-scheduler")

	ctrl := exec.Command(buildBinary(t, "cmd/proxima-controller", dir), "--kubeconfig="+kubeconfigFor("proxima-controller"),
		"--leader-elect-namespace=proxima-system", "--scheduler-config="+fromConfigMap)
	var log bytes.Buffer
	ctrl.Stdout, ctrl.Stderr = &log, &log
	if err := ctrl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ctrl.Process.Kill()
		_ = ctrl.Wait()
		if t.Failed() {
			t.Logf("proxima-controller log:\n%s", lastLines(log.String(), 40))
		}
	})
}

// checkUninstalled checks that the documented uninstall left no cluster-wide
// object of the install and kept the CRDs and the objects in them.
func (d *docsEnv) checkUninstalled() {
	t := d.t
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=proxima"}
	crs, err := d.cp.Client.RbacV1().ClusterRoles().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	crbs, err := d.cp.Client.RbacV1().ClusterRoleBindings().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	rbs, err := d.cp.Client.RbacV1().RoleBindings("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range rbs.Items {
		if strings.HasPrefix(rb.Name, "proxima") {
			t.Errorf("RoleBinding kube-system/%s left after the documented uninstall", rb.Name)
		}
	}
	if len(crs.Items)+len(crbs.Items) > 0 {
		t.Errorf("the documented uninstall left %d ClusterRoles and %d ClusterRoleBindings", len(crs.Items), len(crbs.Items))
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := d.cp.Client.CoreV1().Namespaces().Get(ctx, "proxima-system", metav1.GetOptions{})
		return err != nil, nil
	}); err != nil {
		t.Errorf("namespace proxima-system still exists after the documented uninstall")
	}
	pc := versioned.NewForConfigOrDie(d.cp.Config)
	sites, err := pc.PlacementV1alpha1().Sites().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing Sites after the uninstall (the CRDs must stay): %v", err)
	}
	if len(sites.Items) == 0 {
		t.Errorf("no Site left after the uninstall; the docs apply the examples, which must survive it")
	}
}
