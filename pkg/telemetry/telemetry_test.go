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
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/proxima-sched/proxima/pkg/state"
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

// promAPI answers instant queries as Prometheus's HTTP API does, with one
// series per query carrying every label the signals map; block, when set,
// runs before each answer.
func promAPI(t *testing.T, block func()) (addr string, queries *atomic.Int32) {
	queries = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Add(1)
		if block != nil {
			block()
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"n1:9100","source":"s","site":"a"},"value":[%d,"0.5"]}]}}`, time.Now().Unix())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, queries
}

func allSignals(addr string, timeout, maxAge time.Duration) Config {
	q := Query{MaxAge: maxAge, NodeLabel: "instance", SourceLabel: "source", SiteLabel: "site"}
	cfg := Config{Address: addr, Refresh: time.Hour, Timeout: timeout, NodeLoad: q, RTT: q, Price: q, Health: q}
	cfg.NodeLoad.PromQL, cfg.RTT.PromQL, cfg.Price.PromQL, cfg.Health.PromQL = "load", "rtt", "price", "health"
	return cfg
}

// The four signals are read concurrently: a Prometheus that answers only
// once all four queries have arrived is read in one refresh (one after
// another, the first would time out waiting for the rest).
func TestSignalsAreReadConcurrently(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(4)
	addr, _ := promAPI(t, func() { arrived.Done(); arrived.Wait() })
	c, err := New(allSignals(addr, 30*time.Second, time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Refresh(context.Background())
	l := c.Load()
	if !l.NodeLoad.Fresh || !l.RTT.Fresh || !l.Price.Fresh || !l.Health.Fresh {
		t.Errorf("after one refresh: node load %t, RTT %t, price %t, health %t fresh; want all four",
			l.NodeLoad.Fresh, l.RTT.Fresh, l.Price.Fresh, l.Health.Fresh)
	}
}

// A signal goes stale when its last read passes its maximum age, not at the
// next refresh: with refreshes an hour apart and a maximum age of a second,
// the published Live turns stale after one read, and the world is asked to
// rebuild.
func TestStalenessIsPublishedWhenItHappens(t *testing.T) {
	addr, queries := promAPI(t, nil)
	var updates atomic.Int32
	c, err := New(allSignals(addr, 5*time.Second, time.Second), func() { updates.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		l := c.Load()
		return queries.Load() == 4 && l.Health.Values != nil && !l.Health.Fresh && !l.RTT.Fresh, nil
	})
	if err != nil {
		t.Fatalf("the signals never turned stale after their one read (queries %d, live %+v)", queries.Load(), c.Load())
	}
	if n := queries.Load(); n != 4 {
		t.Errorf("Prometheus was queried %d times, want 4 (one refresh)", n)
	}
	if n := updates.Load(); n < 2 {
		t.Errorf("the world was asked to rebuild %d times, want the read and the expiry", n)
	}
}

// TestSiteRTTSeries: a site RTT measured both ways counts once, at the
// larger value; a series without both site labels, and one outside
// 0..10 s, are dropped.
func TestSiteRTTSeries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().Unix()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[
			{"metric":{"from_site":"fra","to_site":"par"},"value":[%d,"0.009"]},
			{"metric":{"from_site":"par","to_site":"fra"},"value":[%d,"0.011"]},
			{"metric":{"from_site":"par","to_site":"nyc"},"value":[%d,"0.080"]},
			{"metric":{"from_site":"fra"},"value":[%d,"0.001"]},
			{"metric":{"from_site":"fra","to_site":"nyc"},"value":[%d,"20"]}]}}`, now, now, now, now, now)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Address: srv.URL, Refresh: time.Hour, Timeout: 10 * time.Second,
		SiteRTT: Query{PromQL: "proxima_site_rtt_seconds", MaxAge: time.Hour, FromSiteLabel: "from_site", ToSiteLabel: "to_site"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Refresh(context.Background())
	l := c.Load()
	want := map[state.SitePair]float64{state.PairOfSites("fra", "par"): 11, state.PairOfSites("nyc", "par"): 80}
	if !l.SiteRTT.Enabled || !l.SiteRTT.Fresh || len(l.SiteRTT.Values) != len(want) {
		t.Fatalf("site RTT signal %+v, want fresh with %v", l.SiteRTT, want)
	}
	for k, v := range want {
		if got := l.SiteRTT.Values[k]; math.Abs(got-v) > 1e-9 {
			t.Errorf("%v = %v ms, want %v", k, got, v)
		}
	}
}
