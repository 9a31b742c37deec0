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
	"os"
	"path/filepath"
	"testing"
)

// TestBinDir: bin/ at the module root, two directories above this package,
// unless the environment says otherwise.
func TestBinDir(t *testing.T) {
	t.Setenv(BinDirEnv, "")
	got, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.Abs(filepath.Join("..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if gotAbs, _ := filepath.Abs(got); gotAbs != want {
		t.Errorf("BinDir() = %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(want), "go.mod")); err != nil {
		t.Errorf("%s is not the module root: %v", filepath.Dir(want), err)
	}

	t.Setenv(BinDirEnv, "/elsewhere")
	if got, err := BinDir(); err != nil || got != "/elsewhere" {
		t.Errorf("with %s=/elsewhere, BinDir() = %q, %v", BinDirEnv, got, err)
	}
}
