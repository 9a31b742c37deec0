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

package telemetry

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestNeverReadSignalsAreEnabled: from New on, and while Prometheus does not
// answer, the published Live says which signals are read, so that a world
// built before the first successful read treats their values as missing
// rather than as not expected.
func TestNeverReadSignalsAreEnabled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	updates := 0
	c, err := New(Config{Address: "http://" + addr, Refresh: time.Second, Timeout: time.Second,
		Health: Query{PromQL: "proxima_site_up", MaxAge: time.Minute, SiteLabel: "site"}}, func() { updates++ })
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		l := c.Load()
		if !l.Health.Enabled || l.Health.Fresh || l.Health.Values != nil || l.RTT.Enabled || l.Price.Enabled || l.NodeLoad.Enabled {
			t.Errorf("%s: live = %+v; want health enabled and never read, the other signals disabled", when, l)
		}
	}
	check("before the first read")
	c.Refresh(context.Background())
	check("after a failed read")
	if updates != 0 {
		t.Errorf("a failed first read asked for %d rebuilds, want none: nothing changed", updates)
	}
}
