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

package probes

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/pkg/telemetry"
)

// Path is where the probe targets are served.
const Path = "/probes/targets"

// Options configure the probe targets.
type Options struct {
	// Interval between plans (one round each).
	Interval time.Duration
	// Budget of each round.
	Budget probeplan.Budget
	// Exporter pods: in Namespace (only pods there are trusted to
	// measure), selected by Selector, with metrics on Port.
	Namespace string
	Selector  labels.Selector
	Port      int
	// Modules name the exporter's modules (DefaultModules when nil).
	Modules Modules
}

// World is what the targets are planned from.
type World interface {
	Load() *state.Snapshot
	HasSynced() bool
}

// Server plans a round of probes every Interval and serves the last one as
// Prometheus HTTP service discovery. Until it has planned (a replica that
// does not lead, a world not synced yet) it answers 503, and Prometheus
// keeps the targets of its last successful refresh.
type Server struct {
	opts    Options
	world   World
	cluster state.Cluster
	pods    corelisters.PodLister
	nodes   corelisters.NodeLister
	doc     atomic.Pointer[[]byte]
	round   uint64
}

// NewServer makes a Server that answers 503 until Run plans.
func NewServer(opts Options) *Server {
	if opts.Modules == nil {
		opts.Modules = DefaultModules
	}
	return &Server{opts: opts}
}

// Exporters say which pods are the exporters: namespace and
// selector.
func (s *Server) Exporters() (namespace string, selector labels.Selector) {
	return s.opts.Namespace, s.opts.Selector
}

// Run plans every Interval until ctx ends, from world, where cluster says
// the policies' dependencies run (for the pairs of sites; nil plans none),
// the exporter pods and the nodes (listers whose informers the caller
// starts).
func (s *Server) Run(ctx context.Context, world World, cluster state.Cluster, pods corelisters.PodLister, nodes corelisters.NodeLister) {
	s.world, s.cluster, s.pods, s.nodes = world, cluster, pods, nodes
	wait.UntilWithContext(ctx, s.plan, s.opts.Interval)
}

func (s *Server) plan(ctx context.Context) {
	logger := klog.FromContext(ctx).WithName("probes")
	if !s.world.HasSynced() {
		return
	}
	snap := s.world.Load()
	plan, err := snap.ProbePlanWith(s.cluster, s.opts.Budget, s.round)
	if err != nil {
		// The other policies' links and every pair are planned still.
		logger.Error(err, "Locating dependencies for the pairs of sites to probe")
	}
	s.round++
	exporters, err := s.pods.Pods(s.opts.Namespace).List(s.opts.Selector)
	if err != nil {
		logger.Error(err, "Listing exporter pods")
		return
	}
	nodeSite := func(name string) (int, bool) {
		n, err := s.nodes.Get(name)
		if err != nil {
			return 0, false
		}
		return snap.SiteOfNode(n)
	}
	groups, un := Targets(snap, plan, exporters, nodeSite, s.opts.Port, s.opts.Modules)
	doc, err := encode(groups)
	if err != nil {
		logger.Error(err, "Encoding probe targets")
		return
	}
	s.doc.Store(&doc)
	var pairs, links [probeplan.NumTiers]int
	for _, p := range plan.Pairs {
		pairs[p.Tier]++
	}
	for _, l := range plan.Links {
		links[l.Tier]++
	}
	for t := range probeplan.NumTiers {
		plannedPairs.WithLabelValues(t.String(), kindSource).Set(float64(pairs[t]))
		plannedPairs.WithLabelValues(t.String(), kindSite).Set(float64(links[t]))
		deferredPairs.WithLabelValues(t.String()).Set(float64(plan.Deferred[t]))
	}
	unprobedPairs.WithLabelValues("no_targets").Set(float64(un.NoTargets))
	unprobedPairs.WithLabelValues("no_exporter").Set(float64(un.NoExporter))
	targets.Set(float64(len(groups)))
	logger.V(2).Info("Planned probes", "round", s.round-1, "pairs", len(plan.Pairs), "sitePairs", len(plan.Links), "targets", len(groups),
		"noTargets", un.NoTargets, "noExporter", un.NoExporter, "sitePairsNoExporter", un.Links, "deferred", plan.Deferred)
}

// ServeHTTP serves the last plan's targets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	doc := s.doc.Load()
	if doc == nil {
		http.Error(w, "no probe plan yet: this replica does not lead, or its world model has not synced", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(*doc)
}

// Kinds of planned pairs (the kind label).
const (
	kindSource = "source"
	kindSite   = "site"
)

var (
	plannedOpts = &metrics.GaugeOpts{
		Namespace: "proxima", Subsystem: "probes", Name: "planned_pairs",
		Help:           "RTT pairs the last probe plan measures, per tier and kind (a TrafficSource and a Site, or two Sites).",
		StabilityLevel: metrics.ALPHA,
	}
	deferredOpts = &metrics.GaugeOpts{
		Namespace: "proxima", Subsystem: "probes", Name: "deferred_pairs",
		Help:           "RTT pairs the last probe plan wanted and its budget left for a later round, per tier (both kinds).",
		StabilityLevel: metrics.ALPHA,
	}
	unprobedOpts = &metrics.GaugeOpts{
		Namespace: "proxima", Subsystem: "probes", Name: "unprobed_pairs",
		Help:           "Planned RTT pairs served no target, per reason.",
		StabilityLevel: metrics.ALPHA,
	}
	targetsOpts = &metrics.GaugeOpts{
		Namespace: "proxima", Subsystem: "probes", Name: "targets",
		Help:           "Scrape targets served to Prometheus by the last plan (one per planned pair and probe target).",
		StabilityLevel: metrics.ALPHA,
	}
	plannedPairs  = metrics.NewGaugeVec(plannedOpts, []string{"tier", "kind"})
	deferredPairs = metrics.NewGaugeVec(deferredOpts, []string{"tier"})
	unprobedPairs = metrics.NewGaugeVec(unprobedOpts, []string{"reason"})
	targets       = metrics.NewGauge(targetsOpts)
)

func init() {
	legacyregistry.MustRegister(plannedPairs, deferredPairs, unprobedPairs, targets)
}

// Metrics describes the metrics of this package (docs/reference/metrics.md).
func Metrics() []telemetry.MetricInfo {
	tier := telemetry.MetricLabel{Name: "tier", Values: "`bound`, `ranking`, `refresh`"}
	return []telemetry.MetricInfo{
		telemetry.Describe("gauge", (*metrics.KubeOpts)(plannedOpts), tier,
			telemetry.MetricLabel{Name: "kind", Values: "`" + kindSource + "` (a TrafficSource and a Site), `" + kindSite + "` (two Sites, for a dependency)"}),
		telemetry.Describe("gauge", (*metrics.KubeOpts)(deferredOpts), tier),
		telemetry.Describe("gauge", (*metrics.KubeOpts)(unprobedOpts), telemetry.MetricLabel{Name: "reason",
			Values: "`no_targets` (the TrafficSource has no `spec.probe`), `no_exporter` (no ready exporter pod in the site, or in either site of a pair of sites)"}),
		telemetry.Describe("gauge", (*metrics.KubeOpts)(targetsOpts)),
	}
}
