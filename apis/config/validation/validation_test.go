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

package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/proxima-sched/proxima/apis/config"
)

func TestValidateEdgePlacementArgs(t *testing.T) {
	tests := []struct {
		name string
		args config.EdgePlacementArgs
		want string // "" for valid
	}{
		{"valid", config.EdgePlacementArgs{MinCandidateNodes: 100, CacheSyncTimeoutSeconds: 60}, ""},
		{"zero candidates", config.EdgePlacementArgs{MinCandidateNodes: 0, CacheSyncTimeoutSeconds: 60}, "args.minCandidateNodes"},
		{"huge timeout", config.EdgePlacementArgs{MinCandidateNodes: 1, CacheSyncTimeoutSeconds: 7200}, "args.cacheSyncTimeoutSeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateEdgePlacementArgs(field.NewPath("args"), &tc.args)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
