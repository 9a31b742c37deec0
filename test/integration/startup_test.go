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

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/test/harness"
)

// Without the placement.proxima.dev CRDs the scheduler must not start: it
// fails after cacheSyncTimeoutSeconds with an error that names the likely
// cause, rather than waiting for caches that can never sync.
func TestStartWithoutCRDs(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{NoCRDs: true})
	cfg := shippedConfigWith(t, func(a *configv1.EdgePlacementArgs) { a.CacheSyncTimeoutSeconds = ptr.To[int32](2) })
	// A bound far above the 2 s timeout, only so that a hang fails the test
	// instead of the whole package.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		s, err := cp.RunScheduler(ctx, dir, cfg)
		if err == nil {
			_ = s.Stop()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the scheduler started without the placement.proxima.dev CRDs")
		}
		if !strings.Contains(err.Error(), "are the placement.proxima.dev CRDs installed") {
			t.Errorf("start-up error %q does not name the missing CRDs", err)
		}
	case <-ctx.Done():
		t.Fatal("the scheduler neither started nor failed without the placement.proxima.dev CRDs")
	}
}
