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
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartControllerManagerArgs: a missing binary says how to build it,
// and the controllers must be named one by one, before anything starts.
func TestStartControllerManagerArgs(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	t.Setenv(BinDirEnv, empty)
	_, err := (&ControlPlane{}).StartControllerManager(ctx, t.TempDir(), "deployment")
	if err == nil || !strings.Contains(err.Error(), "run `make tools`") {
		t.Errorf("without bin/kube-controller-manager: %v, want it to say run `make tools`", err)
	}

	if err := os.WriteFile(filepath.Join(empty, "kube-controller-manager"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, names := range [][]string{nil, {"*"}, {"deployment", "-disruption"}, {""}} {
		if _, err := (&ControlPlane{}).StartControllerManager(ctx, t.TempDir(), names...); err == nil {
			t.Errorf("controllers %q: no error, want one", names)
		}
	}
}
