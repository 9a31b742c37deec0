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

// Package controlplane runs a real Kubernetes control plane (etcd and
// kube-apiserver, built from the pinned modules into bin/ by `make tools`)
// and the real Proxima scheduler in this process, for the demo, integration
// tests and benchmarks. Tests usually go through test/harness, which stops
// what they start when the test ends; this package does not link package
// testing, so commands such as proxima-demo can use it.
//
// The control plane is controller-runtime's envtest pointed at bin/: it picks
// free loopback ports, writes certificates and data into a temporary
// directory, waits for readiness, installs Proxima's CRDs from the embedded
// manifests/crds (exactly the files that ship), and removes everything on
// Stop. Nothing is downloaded.
//
// Nodes: kube-apiserver's TaintNodesByCondition admission plugin adds the
// node.kubernetes.io/not-ready:NoSchedule taint to every Node created through
// the API, and no kubelet ever clears it here. Like scheduler-plugins'
// integration tests, Start disables that admission plugin (and Priority,
// which needs the built-in PriorityClasses a controller-manager would
// create), so a Node object created through the API is schedulable as
// written.
//
// Controllers and kubelets: the control plane runs no controller manager and
// no kubelet. A test that needs Deployments, ReplicaSets,
// PodDisruptionBudgets, namespace deletion or garbage collection starts the
// real kube-controller-manager (bin/, built from the same pinned
// k8s.io/kubernetes as kube-apiserver) with only the controllers it names
// (StartControllerManager), as a child process that logs into a directory
// of the caller's. RunPodLifecycle stands in for the kubelets, as KWOK
// does: it marks pods bound to a node Running and Ready and finishes the
// deletion of those marked for deletion, writing through the apiserver, so
// that the Eviction API, ReplicaSets and budgets behave as on a cluster.
// The demo's comparison and the benchmarks run neither; its outage scene
// runs both.
//
// Live signals: StartPrometheus runs the real Prometheus (bin/) and
// StartExporter serves series a caller sets (site health, RTTs, prices,
// node utilization) for it to scrape, so that the scheduler and the
// rebalancer read live telemetry as they would from a cluster's Prometheus.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/proxima-sched/proxima/manifests"
)

// BinDirEnv names the environment variable that overrides where the tool
// binaries (etcd, kube-apiserver, kube-controller-manager, prometheus) are
// looked up.
const BinDirEnv = "PROXIMA_BIN_DIR"

var setLoggerOnce sync.Once

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface

	// version is the Kubernetes version of the binaries this control
	// plane runs; "" for the pinned one (Options.KubernetesVersion).
	version string

	env *envtest.Environment
	// certDir keeps kube-apiserver's serving certificates across
	// RestartAPIServer; Stop removes it.
	certDir string
}

// Options tune Start.
type Options struct {
	// NoCRDs skips installing Proxima's CRDs.
	NoCRDs bool
	// Output attaches the control plane's own logs to stdout/stderr.
	Output bool
	// APIServerArgs are more kube-apiserver flags, each replacing envtest's
	// default for that flag, e.g. "enable-admission-plugins":
	// {"NodeRestriction"} and "authorization-mode": {"Node,RBAC"} to hold
	// node credentials (NodeConfig) to what a kubelet may do. The
	// disable-admission-plugins flag Start sets is added to, not replaced.
	APIServerArgs map[string][]string
	// KubernetesVersion selects kube-apiserver (and, for
	// StartControllerManager, kube-controller-manager) of another
	// Kubernetes version than the pinned one, built by hack/tools.sh with
	// the version in their names (kube-apiserver-v1.37.2): the skew tests.
	// "" runs the pinned ones.
	KubernetesVersion string
}

// binary is the name in BinDir of a Kubernetes component of version ("" for
// the pinned one).
func binary(name, version string) string {
	if version == "" {
		return name
	}
	return name + "-" + version
}

// BinDir returns the directory holding etcd, kube-apiserver,
// kube-controller-manager and prometheus:
// $PROXIMA_BIN_DIR, else bin/ at the root of this module (found from this
// source file, two levels below it; the working directory when the source
// is not at hand).
func BinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the controlplane source to find bin/")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		wd, werr := os.Getwd()
		if werr != nil {
			return "", werr
		}
		root = wd
	}
	return filepath.Join(root, "bin"), nil
}

// Start starts etcd and kube-apiserver and installs the CRDs opts asks for.
// The caller must call Stop.
func Start(opts Options) (*ControlPlane, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	apiserver := binary("kube-apiserver", opts.KubernetesVersion)
	for _, name := range []string{"etcd", apiserver} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make tools` first: %w", name, bin, err)
		}
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	if !opts.NoCRDs {
		if crds, err = manifests.CRDs(); err != nil {
			return nil, err
		}
	}
	// envtest logs through controller-runtime's logger, which prints a stack
	// trace of its own unless it is set; send it to klog like the rest.
	setLoggerOnce.Do(func() { ctrllog.SetLogger(klog.Background()) })
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDs:                     crds,
		AttachControlPlaneOutput: opts.Output,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	// A directory of our own, not envtest's throwaway one, so that a
	// restarted kube-apiserver serves the same certificates and its
	// clients' trust in it holds (RestartAPIServer).
	certDir, err := os.MkdirTemp("", "proxima-apiserver-")
	if err != nil {
		return nil, err
	}
	env.ControlPlane.GetAPIServer().CertDir = certDir
	env.ControlPlane.GetAPIServer().Path = filepath.Join(bin, apiserver)
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Append("disable-admission-plugins", "TaintNodesByCondition", "Priority")
	for flag, values := range opts.APIServerArgs {
		if flag == "disable-admission-plugins" {
			args.Append(flag, values...)
			continue
		}
		args.Set(flag, values...)
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting the control plane from %s: %w", bin, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, err
	}
	return &ControlPlane{Config: cfg, Client: client, env: env, certDir: certDir, version: opts.KubernetesVersion}, nil
}

// EtcdURL is etcd's client URL, which also serves etcd's own metrics
// (/metrics).
func (c *ControlPlane) EtcdURL() *url.URL { return c.env.ControlPlane.Etcd.URL }

// Stop stops kube-apiserver and etcd and removes their data.
func (c *ControlPlane) Stop() error {
	err := c.env.Stop()
	if rmErr := os.RemoveAll(c.certDir); err == nil {
		err = rmErr
	}
	return err
}

// KillAPIServer kills kube-apiserver (SIGKILL, a crash) and starts it again
// on the same address, certificates and etcd, so every object survives and
// every client keeps working once it is back. It returns when the new one
// is healthy.
func (c *ControlPlane) KillAPIServer() error {
	s := c.env.ControlPlane.GetAPIServer()
	// envtest only stops gracefully, which with clients' watches open can
	// take its whole stop timeout: kill our kube-apiserver, the process
	// whose command line names our certificate directory, first.
	pid, err := c.apiServerPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing kube-apiserver (pid %d): %w", pid, err)
	}
	addr := net.JoinHostPort(s.SecureServing.Address, s.SecureServing.Port)
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true, nil
		}
		_ = conn.Close()
		return false, nil
	}); err != nil {
		return fmt.Errorf("the killed kube-apiserver still listens on %s", addr)
	}
	// Let envtest reap it; signalling a process already gone is no error
	// here.
	if err := s.Stop(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// Kubeconfig writes an admin kubeconfig for this control plane into dir and
// returns its path.
func (c *ControlPlane) Kubeconfig(dir string) (string, error) {
	user, err := c.env.AddUser(envtest.User{Name: "proxima-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// NodeConfig returns a client configuration with the credentials of the
// kubelet of the named node (user system:node:<node> in group
// system:nodes), which the Node authorizer and the NodeRestriction
// admission plugin confine to what a kubelet may do when they are enabled
// (Options.APIServerArgs).
func (c *ControlPlane) NodeConfig(node string) (*rest.Config, error) {
	user, err := c.env.AddUser(envtest.User{Name: "system:node:" + node, Groups: []string{"system:nodes"}}, nil)
	if err != nil {
		return nil, err
	}
	return user.Config(), nil
}

// apiServerPID finds this control plane's kube-apiserver: the process whose
// command line names certDir, which is this control plane's own.
func (c *ControlPlane) apiServerPID() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "kube-apiserver" && strings.Contains(string(cmdline), c.certDir) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no kube-apiserver process names %s", c.certDir)
}
