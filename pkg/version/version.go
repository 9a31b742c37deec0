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

// Package version holds Proxima's build version, set at link time:
//
//	go build -ldflags "-X github.com/proxima-sched/proxima/pkg/version.Version=v0.1.0"
package version

import (
	"fmt"

	kubeversion "k8s.io/component-base/version"
)

// Version is Proxima's release version; "dev" in builds without ldflags.
var Version = "dev"

// Commit is the source commit of the build, when known.
var Commit = "unknown"

// String is how a component reports its version: its name, Proxima's
// release and the Kubernetes release its scheduler framework and client
// come from (stamped at link time, as kube-scheduler's own).
func String(component string) string {
	return fmt.Sprintf("%s %s (Kubernetes %s)", component, Version, kubeversion.Get().GitVersion)
}
