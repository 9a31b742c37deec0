// Package integration runs Proxima against a real etcd and kube-apiserver
// (built into bin/ by `make tools`) with the real scheduler in-process.
package integration

import "path/filepath"

// schedulerConfig is the KubeSchedulerConfiguration that ships in the install
// manifests; the tests schedule with exactly it.
var schedulerConfig = filepath.Join("..", "..", "manifests", "install", "scheduler-config.yaml")
