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

package controlplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// ControllerManagerStopTimeout is how long Stop waits for
// kube-controller-manager to exit after SIGTERM before it kills it.
const ControllerManagerStopTimeout = 30 * time.Second

// ControllerManager is a real kube-controller-manager (bin/, built by `make
// tools`) running as a child process against a ControlPlane.
type ControllerManager struct {
	// LogPath is the file that holds its output.
	LogPath string
	// Controllers are the canonical names of the controllers it runs, e.g.
	// deployment-controller.
	Controllers []string

	proc *Process
	// done is proc.Done().
	done <-chan struct{}
	// stopping is set once it has been asked to stop, by Stop or ctx.
	stopping atomic.Bool
}

// StartControllerManager runs bin/kube-controller-manager against this
// control plane with only the named controllers, and returns once every one
// of them has started. It runs until Stop (or, if ctx ends first, until then:
// ctx also bounds the wait for it to start). Its kubeconfig and its log,
// kube-controller-manager.log, go into dir, which must outlive it.
//
// Controllers are kube-controller-manager's names, with or without the
// -controller suffix: deployment, replicaset, disruption, namespace,
// garbage-collector (the canonical garbage-collector-controller; its old
// alias "garbagecollector" is not accepted here). "*" and "-name" are not
// accepted either: the wait for readiness needs the exact list.
//
// Every controller acts as the admin (system:masters) of c.Kubeconfig
// (--use-service-account-credentials=false), without leader election. The
// serviceaccount-token controller (which needs a signing key) and CSR
// signing (which needs a CA) never run here, nor does any controller not
// named: nothing mints ServiceAccount token Secrets, signs certificates or
// publishes kube-root-ca.crt.
//
// It runs the kube-controller-manager of the control plane's Kubernetes
// version (Options.KubernetesVersion). It serves HTTPS only on a free
// loopback port, for its healthz: it accepts
// --secure-port=0, but then nothing says when the controllers have started.
// kube-controller-manager adds one named check per controller to /healthz
// only after all of them have been constructed and started (just before its
// informers start), so "[+]<controller> ok" for every name in /healthz?verbose
// means each one is running and will see every object created from then on,
// in its informers' initial list or their watch. /healthz alone answers ok
// before that, with no checks at all.
func (c *ControlPlane) StartControllerManager(ctx context.Context, dir string, controllers ...string) (*ControllerManager, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	name := binary("kube-controller-manager", c.version)
	path := filepath.Join(bin, name)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s not found in %s: run `make tools` first: %w", name, bin, err)
	}
	if len(controllers) == 0 {
		return nil, errors.New("StartControllerManager needs the controllers to run")
	}
	names := make([]string, 0, len(controllers))
	for _, name := range controllers {
		if name == "" || name == "*" || strings.HasPrefix(name, "-") {
			return nil, fmt.Errorf("controller %q: name each controller to run", name)
		}
		if !strings.HasSuffix(name, "-controller") {
			name += "-controller"
		}
		names = append(names, name)
	}
	kubeconfig, err := c.Kubeconfig(dir)
	if err != nil {
		return nil, err
	}
	// A free port can be taken by someone else before the process binds it;
	// start again on another one if so.
	for attempt := 1; ; attempt++ {
		m, err := startControllerManager(ctx, path, dir, kubeconfig, names)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 {
			return m, err
		}
	}
}

var errPortTaken = errors.New("its port was taken")

func startControllerManager(ctx context.Context, path, dir, kubeconfig string, names []string) (*ControllerManager, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "kube-controller-manager.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(names, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		// Without --authentication-kubeconfig requests are anonymous, and
		// without --authorization-kubeconfig only these paths are allowed:
		// healthz is all the readiness check needs.
		"--authorization-always-allow-paths=/healthz,/readyz,/livez",
		// Not the defaults (5, 5, 20, 10 workers; 20 QPS): few workers on
		// a small test machine, and no client-side throttling to slow a
		// test down.
		"--concurrent-deployment-syncs=2",
		"--concurrent-replicaset-syncs=2",
		"--concurrent-gc-syncs=4",
		"--concurrent-namespace-syncs=2",
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--v=2",
	}
	// Not CommandContext: a cancelled ctx is handled below, as SIGTERM then
	// kill, like Stop.
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if _, err := fmt.Fprintf(logFile, "=== %s %s\n", path, strings.Join(args, " ")); err != nil {
		return nil, err
	}
	proc, err := StartProcess(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting kube-controller-manager (log %s): %w", logPath, err)
	}
	m := &ControllerManager{LogPath: logPath, Controllers: names, proc: proc, done: proc.Done()}
	go func() {
		select {
		case <-ctx.Done():
			_ = m.stop()
		case <-m.done:
		}
	}()

	client := &http.Client{
		Timeout: 5 * time.Second,
		// Its serving certificate is self-signed, made up at start.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback healthz only
	}
	defer client.CloseIdleConnections()
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz?verbose", port)
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-m.done:
			return false, errors.New("it exited")
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
		for _, name := range names {
			if !bytes.Contains(body, []byte("[+]"+name+" ok")) {
				return false, nil
			}
		}
		return true, nil
	})
	if err == nil {
		return m, nil
	}
	stopErr := m.stop()
	tail := LogTail(logPath, 20)
	if stopErr != nil && strings.Contains(tail, "address already in use") {
		return nil, fmt.Errorf("kube-controller-manager exited: %w (port %d, log %s)", errPortTaken, port, logPath)
	}
	if stopErr != nil {
		return nil, fmt.Errorf("kube-controller-manager exited before its controllers %v started (%v); log %s ends:\n%s", names, stopErr, logPath, tail)
	}
	return nil, fmt.Errorf("kube-controller-manager's controllers %v did not all start: %w (its healthz last said %q); log %s ends:\n%s", names, err, last, logPath, tail)
}

// Stop stops kube-controller-manager: SIGTERM, then SIGKILL after
// ControllerManagerStopTimeout. It reports whether the process had exited
// before it was asked to stop.
func (m *ControllerManager) Stop() error {
	if err := m.stop(); err != nil {
		return fmt.Errorf("kube-controller-manager exited before it was asked to stop (%v); see %s", err, m.LogPath)
	}
	return nil
}

// stop ends the process. If it had exited before anyone asked it to stop,
// stop returns how.
func (m *ControllerManager) stop() error {
	if m.stopping.Swap(true) {
		<-m.done
		return nil
	}
	select {
	case <-m.done:
		if m.proc.Err() == nil {
			return errors.New("exit status 0")
		}
		return m.proc.Err()
	default:
	}
	m.proc.Stop(syscall.SIGTERM, ControllerManagerStopTimeout)
	return nil
}

// FreePort returns a free loopback TCP port (free when asked: another
// process may take it before it is bound).
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// LogTail returns the last n lines of the file at path, or why it cannot.
func LogTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
