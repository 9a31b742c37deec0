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

// Package peers holds Proxima's comparisons with scheduler-plugins'
// network-aware plugins (NetworkOverhead, TopologicalSort), which are built
// for the Kubernetes 1.34 scheduler framework and do not compile against the
// one Proxima builds with. This is a module of its own, pinned to
// k8s.io/kubernetes v1.34.3 and sigs.k8s.io/scheduler-plugins v0.34.7; it
// imports nothing from Proxima's module (which would then be compiled
// against 1.34). What it needs of Proxima it reads as files from the
// repository: the CRDs in manifests/crds, the scheduler_perf templates in
// bench/e2e/templates, and the tools in bin/. See bench/README.md.
package peers

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// SiteLabel on a Node names the Proxima Site it belongs to. The source of
// truth is SiteLabel in apis/placement/v1alpha1 of Proxima's module; a test
// there (bench/plugin_bench_test.go) checks that this copy agrees.
const SiteLabel = "node-restriction.kubernetes.io/placement.proxima.dev-site"

// BinDirEnv names the environment variable that overrides where etcd and
// kube-apiserver are looked up, as in Proxima's pkg/controlplane.
const BinDirEnv = "PROXIMA_BIN_DIR"

// mainModule is the module path of the repository's root module.
const mainModule = "github.com/proxima-sched/proxima"

// RepoRoot returns the directory of Proxima's own module: the nearest
// directory above this source file (or, when the source is not at hand,
// above the working directory) whose go.mod declares mainModule.
func RepoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if modulePath(filepath.Join(dir, "go.mod")) == mainModule {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("no directory above %v holds the go.mod of %s", starts, mainModule)
}

// modulePath returns the module path declared in the go.mod at path, or ""
// if there is none.
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// BinDir returns the directory holding etcd and kube-apiserver (built by
// Proxima's `make tools`): $PROXIMA_BIN_DIR, else bin/ at the repository
// root.
func BinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// ProximaCRDDir returns manifests/crds, the CRDs that ship with Proxima
// (Site, TrafficSource, PlacementPolicy). Install it as a directory: the
// kustomization.yaml in it is not a CRD and envtest skips it.
func ProximaCRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "manifests", "crds")
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// CRDPaths returns the AppGroup and NetworkTopology CRD files that ship in
// the API modules scheduler-plugins' network-aware plugins use, from the
// module cache (at the versions this module requires).
func CRDPaths() ([]string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, errors.New("cannot locate the peers module's source")
	}
	var paths []string
	for _, mod := range []string{"github.com/diktyo-io/appgroup-api", "github.com/diktyo-io/networktopology-api"} {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod)
		// In this module, whatever the working directory.
		if filepath.IsAbs(file) {
			cmd.Dir = filepath.Dir(file)
		}
		out, err := cmd.Output()
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(exit.Stderr)))
			}
			return nil, fmt.Errorf("locating module %s: %w", mod, err)
		}
		dir := strings.TrimSpace(string(out))
		if dir == "" {
			return nil, fmt.Errorf("module %s is not in the module cache: run `go mod download` in bench/peers", mod)
		}
		paths = append(paths, filepath.Join(dir, "manifests", "crd.yaml"))
	}
	return paths, nil
}
