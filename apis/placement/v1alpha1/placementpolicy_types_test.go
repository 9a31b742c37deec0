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

package v1alpha1

import "testing"

func TestNodeUtilizationAction(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *StaleActions
		want StaleAction
	}{
		{"no onStale", nil, UseDeclared},
		{"neither spelling", &StaleActions{RTT: Reject}, UseDeclared},
		{"nodeUtilization", &StaleActions{NodeUtilization: Reject}, Reject},
		{"deprecated nodeLoad alone", &StaleActions{NodeLoad: Reject}, Reject},
		{"nodeUtilization wins over nodeLoad", &StaleActions{NodeUtilization: UseDeclared, NodeLoad: Reject}, UseDeclared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.NodeUtilizationAction(); got != tc.want {
				t.Errorf("NodeUtilizationAction() = %s, want %s", got, tc.want)
			}
		})
	}
}
