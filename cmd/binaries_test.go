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

// Package cmd holds the shipped commands, one directory each; its test
// checks what they link.
package cmd

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestBinariesDoNotLinkTesting fails when a command here links package
// testing, e.g. through a test helper package: test code has no place in a
// shipped binary. It reports the import chain that brings testing in.
func TestBinariesDoNotLinkTesting(t *testing.T) {
	const forbidden = "testing"
	// Every package the commands build from, with its non-test imports;
	// DepOnly is false for the commands themselves.
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{.DepOnly}} {{.Name}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	var commands []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("unexpected go list line %q", line)
		}
		imports[f[0]] = f[3:]
		if depOnly, _ := strconv.ParseBool(f[1]); !depOnly && f[2] == "main" {
			commands = append(commands, f[0])
		}
	}
	if len(commands) == 0 {
		t.Fatal("go list found no commands")
	}
	for _, cmd := range commands {
		if chain := importChain(imports, cmd, forbidden); chain != nil {
			t.Errorf("%s links %s: %s", cmd, forbidden, strings.Join(chain, " → "))
		} else {
			t.Logf("%s does not link %s", cmd, forbidden)
		}
	}
}

// importChain is a shortest chain of imports from one package to another,
// or nil when from does not depend on to.
func importChain(imports map[string][]string, from, to string) []string {
	parent := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = parent[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range imports[p] {
			if _, seen := parent[q]; !seen {
				parent[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

// TestVersionsAgree builds the three shipped binaries with the version
// stamps the Makefile sets and checks that each reports the same release.
func TestVersionsAgree(t *testing.T) {
	const release, kube = "v9.8.7", "v1.36.99"
	ldflags := "-X github.com/proxima-sched/proxima/pkg/version.Version=" + release +
		" -X k8s.io/component-base/version.gitVersion=" + kube
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"proxima-scheduler":  {"--version"},
		"proxima-controller": {"--version"},
		"kubectl-proxima":    {"version"},
	} {
		bin := filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./"+name).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		want := name + " " + release + " (Kubernetes " + kube + ")\n"
		if err != nil || string(out) != want {
			t.Errorf("%s %s: %q, %v; want %q", name, strings.Join(args, " "), out, err, want)
		}
	}
}
