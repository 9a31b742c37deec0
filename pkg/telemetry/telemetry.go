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

// Package telemetry reads Proxima's live signals from Prometheus in the
// background — node CPU utilization, RTT per (source, site), a price
// multiplier and a health gauge per site — and publishes them, with each
// signal's freshness, as a state.Live for the next world snapshot. Nothing
// in a scheduling cycle waits on it: when Prometheus is slow or down, the
// last values age past their maximum age and the snapshot falls back to the
// declared values (or, per policy, rejects the sites). So does a value the
// collector has none for: before a signal's first successful read, or for a
// site, pair or node its last read had no usable series for.
//
// Metric contracts (the default queries; all are configurable):
//
//	node utilization  1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[2m]))
//	                  node_exporter; "instance" (host:port, the port dropped) is the Node name.
//	RTT               proxima_rtt_seconds{source="<TrafficSource>", site="<Site>"}
//	                  a gauge, e.g. recorded from blackbox_exporter probes:
//	                    - record: proxima_rtt_seconds
//	                      expr: label_replace(label_replace(probe_duration_seconds{job="rtt"},
//	                              "source", "$1", "probe_source", "(.*)"), "site", "$1", "probe_site", "(.*)")
//	price             proxima_site_price_multiplier{site="<Site>"}  (1 = declared price)
//	health            proxima_site_up{site="<Site>"}               (0 = down: no new pods)
//	site RTT          proxima_site_rtt_seconds{from_site="<Site>", to_site="<Site>"}
//	                  (read only when its query is set; a pair measured both
//	                  ways counts at the larger value)
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"k8s.io/klog/v2"

	"github.com/proxima-sched/proxima/pkg/state"
)

// Signal names a live signal.
type Signal string

// Signals.
const (
	// NodeLoad is the node utilization signal, named as in the
	// EdgePlacement args (telemetry.nodeUtilization) and a policy's
	// telemetry.onStale.nodeUtilization.
	NodeLoad Signal = "nodeUtilization"
	RTT      Signal = "rtt"
	Price    Signal = "price"
	Health   Signal = "health"
	SiteRTT  Signal = "siteRTT"
)

// Query is one signal's PromQL and how to read its series.
type Query struct {
	// PromQL is an instant query; empty disables the signal.
	PromQL string
	// MaxAge is how old the last successful read may be before the signal
	// counts as stale.
	MaxAge time.Duration
	// Labels: NodeLabel names the node (node utilization), SourceLabel and
	// SiteLabel the TrafficSource and Site, FromSiteLabel and ToSiteLabel
	// the two Sites of a site RTT.
	NodeLabel, SourceLabel, SiteLabel, FromSiteLabel, ToSiteLabel string
}

// Config configures a Collector.
type Config struct {
	Address string
	// Refresh is the interval between reads; Timeout bounds each query.
	Refresh, Timeout time.Duration
	// Credentials are read from files, never from the configuration:
	// the bearer token is re-read on every request, so a rotated token is
	// picked up.
	CAFile, CertFile, KeyFile, BearerTokenFile string

	NodeLoad, RTT, Price, Health, SiteRTT Query
}

// Collector polls Prometheus and publishes the latest Live.
type Collector struct {
	cfg      Config
	api      promv1.API
	onUpdate func()
	current  atomic.Pointer[state.Live]

	mu   sync.Mutex
	last map[Signal]*reading
	once sync.Map // messages already logged
}

type reading struct {
	at      time.Time
	rtt     map[state.SourceSite]float64
	siteRTT map[state.SitePair]float64
	values  map[string]float64
	healthy map[string]bool
}

// New builds a collector; onUpdate is called after a refresh that changed
// any value or freshness.
func New(cfg Config, onUpdate func()) (*Collector, error) {
	hc := promconfig.HTTPClientConfig{
		BearerTokenFile: cfg.BearerTokenFile,
		TLSConfig:       promconfig.TLSConfig{CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile},
	}
	rt, err := promconfig.NewRoundTripperFromConfig(hc, "proxima-scheduler")
	if err != nil {
		return nil, fmt.Errorf("telemetry credentials: %w", err)
	}
	client, err := api.NewClient(api.Config{Address: cfg.Address, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("telemetry address %q: %w", cfg.Address, err)
	}
	c := &Collector{cfg: cfg, api: promv1.NewAPI(client), onUpdate: onUpdate, last: map[Signal]*reading{}}
	registerMetrics()
	// Until the first read, every enabled signal is read and missing.
	c.mu.Lock()
	c.current.Store(c.liveAt(time.Now()))
	c.mu.Unlock()
	return c, nil
}

// Load returns the latest Live; never nil.
func (c *Collector) Load() *state.Live { return c.current.Load() }

// Run refreshes until ctx is done. The first refresh doubles as the
// start-up check: a query that fails, or returns series without the mapped
// labels, is logged once with what to fix. Between refreshes, a signal
// whose last read passes its maximum age is published as stale at that
// moment, not at the next refresh.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Refresh)
	defer t.Stop()
	expire := time.NewTimer(time.Hour)
	defer expire.Stop()
	for {
		c.Refresh(ctx)
		for {
			expire.Reset(c.untilExpiry(time.Now()))
			select {
			case <-ctx.Done():
				return
			case <-expire.C:
				c.publish(time.Now())
				continue
			case <-t.C:
			}
			break
		}
	}
}

// Refresh reads every enabled signal once, concurrently (each query bounded
// by the timeout, so one refresh takes at most one timeout), and publishes
// the result.
func (c *Collector) Refresh(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range []struct {
		sig Signal
		q   Query
	}{{NodeLoad, c.cfg.NodeLoad}, {RTT, c.cfg.RTT}, {Price, c.cfg.Price}, {Health, c.cfg.Health}, {SiteRTT, c.cfg.SiteRTT}} {
		if s.q.PromQL == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.read(ctx, s.sig, s.q)
			if err != nil {
				queryErrors.WithLabelValues(string(s.sig)).Inc()
				c.logOnce(ctx, string(s.sig)+"/"+errKind(err), "Telemetry query failed; using the last values until they are too old, then declared values",
					"signal", s.sig, "query", s.q.PromQL, "err", err)
				return
			}
			c.mu.Lock()
			c.last[s.sig] = r
			c.mu.Unlock()
			lastSuccess.WithLabelValues(string(s.sig)).Set(float64(r.at.Unix()))
		}()
	}
	wg.Wait()
	c.publish(time.Now())
}

// untilExpiry is how long until the next signal that is fresh at now goes
// stale (an hour when none will).
func (c *Collector) untilExpiry(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := time.Hour
	for sig, q := range c.queries() {
		if r := c.last[sig]; r != nil && q.PromQL != "" {
			// Just past the maximum age, so that liveAt sees it stale.
			if d := r.at.Add(q.MaxAge).Sub(now) + time.Millisecond; d > 0 && d < next {
				next = d
			}
		}
	}
	return next
}

func (c *Collector) queries() map[Signal]Query {
	return map[Signal]Query{NodeLoad: c.cfg.NodeLoad, RTT: c.cfg.RTT, Price: c.cfg.Price, Health: c.cfg.Health, SiteRTT: c.cfg.SiteRTT}
}

// publish computes freshness at now and stores a new Live.
func (c *Collector) publish(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.liveAt(now)
	prev := c.current.Swap(live)
	// Rebuild the world (and retry waiting pods) only when something a
	// placement depends on changed, not on every refresh.
	if c.onUpdate != nil && !sameLive(prev, live) {
		c.onUpdate()
	}
}

// liveAt is the Live of the last reads at now: each signal enabled when it
// has a query, with the values of its last successful read (nil before the
// first) and whether that read is within the maximum age. It sets the stale
// gauge of every enabled signal. c.mu must be held.
func (c *Collector) liveAt(now time.Time) *state.Live {
	read := func(sig Signal, q Query) (r *reading, enabled, fresh bool) {
		r = c.last[sig]
		enabled, fresh = q.PromQL != "", r != nil && now.Sub(r.at) <= q.MaxAge
		if enabled {
			staleGauge.WithLabelValues(string(sig)).Set(b2f(!fresh))
		}
		if r == nil {
			r = &reading{} // never read: no values
		}
		return r, enabled, fresh
	}
	live := &state.Live{At: now}
	r, on, ok := read(NodeLoad, c.cfg.NodeLoad)
	live.NodeLoad = state.Signal[string, float64]{Enabled: on, Fresh: ok, Values: r.values}
	r, on, ok = read(RTT, c.cfg.RTT)
	live.RTT = state.Signal[state.SourceSite, float64]{Enabled: on, Fresh: ok, Values: r.rtt}
	r, on, ok = read(Price, c.cfg.Price)
	live.Price = state.Signal[string, float64]{Enabled: on, Fresh: ok, Values: r.values}
	r, on, ok = read(Health, c.cfg.Health)
	live.Health = state.Signal[string, bool]{Enabled: on, Fresh: ok, Values: r.healthy}
	r, on, ok = read(SiteRTT, c.cfg.SiteRTT)
	live.SiteRTT = state.Signal[state.SitePair, float64]{Enabled: on, Fresh: ok, Values: r.siteRTT}
	return live
}

// sameLive reports whether two Lives hold the same values and freshness.
func sameLive(a, b *state.Live) bool {
	return a != nil && b != nil &&
		a.RTT.Equal(&b.RTT) && a.Price.Equal(&b.Price) && a.Health.Equal(&b.Health) && a.NodeLoad.Equal(&b.NodeLoad) &&
		a.SiteRTT.Equal(&b.SiteRTT)
}

func (c *Collector) read(ctx context.Context, sig Signal, q Query) (*reading, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	val, warnings, err := c.api.Query(ctx, q.PromQL, start)
	queryDuration.WithLabelValues(string(sig)).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		c.logOnce(ctx, string(sig)+"/warnings", "Telemetry query returned warnings", "signal", sig, "warnings", warnings)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query must return an instant vector, got %s", val.Type())
	}
	r := &reading{at: start, rtt: map[state.SourceSite]float64{}, siteRTT: map[state.SitePair]float64{}, values: map[string]float64{}, healthy: map[string]bool{}}
	mapped, unmapped := 0, 0
	for _, smp := range vec {
		v := float64(smp.Value)
		switch sig {
		case NodeLoad:
			node := nodeName(string(smp.Metric[model.LabelName(q.NodeLabel)]))
			if node == "" {
				unmapped++
				c.logOnce(ctx, string(sig)+"/label", "Telemetry series lacks the node label; fix the query or nodeLabel", "signal", sig, "label", q.NodeLabel, "series", smp.Metric.String())
				continue
			}
			if !(v >= 0 && v <= 1.5) {
				unmapped++
				c.logOnce(ctx, string(sig)+"/value", "Dropping node utilization outside 0..1.5", "node", node, "value", v)
				continue
			}
			r.values[node] = min(v, 1)
		case RTT:
			src, site := string(smp.Metric[model.LabelName(q.SourceLabel)]), string(smp.Metric[model.LabelName(q.SiteLabel)])
			if src == "" || site == "" {
				unmapped++
				c.logOnce(ctx, string(sig)+"/label", "Telemetry series lacks the source or site label; fix the query, sourceLabel or siteLabel", "signal", sig, "series", smp.Metric.String())
				continue
			}
			ms := v * 1000
			if !(ms >= 0 && ms <= 10000) {
				unmapped++
				c.logOnce(ctx, string(sig)+"/value", "Dropping RTT outside 0..10 s", "source", src, "site", site, "seconds", v)
				continue
			}
			r.rtt[state.SourceSite{Source: src, Site: site}] = ms
		case SiteRTT:
			from, to := string(smp.Metric[model.LabelName(q.FromSiteLabel)]), string(smp.Metric[model.LabelName(q.ToSiteLabel)])
			if from == "" || to == "" {
				unmapped++
				c.logOnce(ctx, string(sig)+"/label", "Telemetry series lacks a site label; fix the query, fromSiteLabel or toSiteLabel", "signal", sig, "series", smp.Metric.String())
				continue
			}
			ms := v * 1000
			if !(ms >= 0 && ms <= 10000) {
				unmapped++
				c.logOnce(ctx, string(sig)+"/value", "Dropping site RTT outside 0..10 s", "from", from, "to", to, "seconds", v)
				continue
			}
			k := state.PairOfSites(from, to)
			r.siteRTT[k] = max(r.siteRTT[k], ms)
		case Price:
			site := string(smp.Metric[model.LabelName(q.SiteLabel)])
			if site == "" {
				unmapped++
				c.logOnce(ctx, string(sig)+"/label", "Telemetry series lacks the site label; fix the query or siteLabel", "signal", sig, "series", smp.Metric.String())
				continue
			}
			if !(v > 0 && v <= 100) {
				unmapped++
				c.logOnce(ctx, string(sig)+"/value", "Dropping price multiplier outside (0, 100]", "site", site, "value", v)
				continue
			}
			r.values[site] = v
		case Health:
			site := string(smp.Metric[model.LabelName(q.SiteLabel)])
			if site == "" || math.IsNaN(v) {
				unmapped++
				c.logOnce(ctx, string(sig)+"/label", "Telemetry health series lacks the site label or a value", "series", smp.Metric.String())
				continue
			}
			r.healthy[site] = v > 0
		}
		mapped++
	}
	seriesGauge.WithLabelValues(string(sig), "true").Set(float64(mapped))
	seriesGauge.WithLabelValues(string(sig), "false").Set(float64(unmapped))
	return r, nil
}

// nodeName maps an instance label to a Node name: "host:port" → "host".
func nodeName(instance string) string {
	if host, _, err := net.SplitHostPort(instance); err == nil {
		return host
	}
	return instance
}

func (c *Collector) logOnce(ctx context.Context, key, msg string, kv ...any) {
	if _, seen := c.once.LoadOrStore(key, true); seen {
		return
	}
	klog.FromContext(ctx).Info(msg, kv...)
}

func errKind(err error) string {
	var apiErr *promv1.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded"):
		return "timeout"
	case errors.As(err, &apiErr):
		return "api:" + string(apiErr.Type)
	default:
		var ne net.Error
		if errors.As(err, &ne) {
			return "network"
		}
		return "other"
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
