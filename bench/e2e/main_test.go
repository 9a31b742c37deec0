//go:build schedperf

package e2e

import (
	"testing"

	"k8s.io/klog/v2"
	benchmark "k8s.io/kubernetes/test/integration/scheduler_perf"
)

func TestMain(m *testing.M) {
	if err := benchmark.InitTests(); err != nil {
		klog.Fatalf("%v", err)
	}
	m.Run()
}
