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

package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/legacyregistry"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/pkg/telemetry"
)

// ProbingOptions configure RunProbing.
type ProbingOptions struct {
	// Scenario declares a share of its measured pairs (SetDeclared).
	Scenario *Scenario
	// SchedulerConfig is the shipped KubeSchedulerConfiguration; the run
	// points its telemetry at its own Prometheus, RTT only.
	SchedulerConfig string
	Budget          probeplan.Budget
	Rounds          int
	Progress        io.Writer
	SettleTimeout   time.Duration
}

// RunProbing is SimulateProbing on the real parts: etcd, kube-apiserver,
// proxima-scheduler reading live RTTs from a real Prometheus, and an
// exporter that serves, as the fleet's probes would, the measured RTT of
// exactly the pairs the last probe plan asked for. The plan is made as
// proxima-controller makes it (the world model over the listed objects
// and one read of the same Prometheus). The all-declared placement first;
// then round 0 with nothing measured, and one round per plan.
func RunProbing(ctx context.Context, opts ProbingOptions) (*Probing, error) {
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	sc := opts.Scenario
	m, err := LoadMeasurements()
	if err != nil {
		return nil, err
	}
	if err := sc.Validate(m); err != nil {
		return nil, err
	}
	out := &Probing{Budget: opts.Budget}
	for _, e := range EstimatorErrors(sc, m) {
		out.Hidden = e.Pairs
	}
	dir, err := os.MkdirTemp("", "proxima-demo-probing")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	say("==> starting Prometheus (from bin/), scraping proxima_rtt_seconds every second")
	exp, prom, stop, err := startTelemetry(dir)
	if err != nil {
		return nil, err
	}
	defer stop()
	cfg := filepath.Join(dir, "probing-scheduler-config.yaml")
	if err := schedconfig.Rewrite(opts.SchedulerConfig, cfg, func(c *schedv1.KubeSchedulerConfiguration) error {
		return schedconfig.EditEdgePlacementArgs(c, ProximaScheduler, func(args *configv1.EdgePlacementArgs) {
			off := &configv1.SignalArgs{Query: ptr.To("")}
			args.Telemetry = &configv1.TelemetryArgs{
				Address: prom.URL, RefreshSeconds: ptr.To[int32](1), QueryTimeoutSeconds: ptr.To[int32](1),
				NodeUtilization: off, Price: off, Health: off,
				RTT: &configv1.SignalArgs{MaxAgeSeconds: ptr.To[int32](10)},
			}
		})
	}); err != nil {
		return nil, err
	}
	args, err := schedconfig.ReadEdgePlacementArgs(cfg, ProximaScheduler)
	if err != nil {
		return nil, err
	}
	collector, err := telemetry.New(telemetry.ConfigFromArgs(args.Telemetry), nil)
	if err != nil {
		return nil, err
	}

	say("==> starting etcd and kube-apiserver (from bin/), installing the CRDs")
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return nil, err
	}
	defer func() { _ = cp.Stop() }()
	pc := versioned.NewForConfigOrDie(cp.Config)
	full := *sc
	full.declaredSet = false
	measured, _, err := createWorld(ctx, cp.Client, pc, &full, m)
	if err != nil {
		return nil, err
	}
	place := func(label string) ([]ClassReport, error) {
		start := time.Now()
		placements, err := runPods(ctx, cp.Client, pc, sc, ProximaScheduler, label, opts.SettleTimeout, nil)
		if err != nil {
			return nil, err
		}
		r := &Report{Scenario: sc, measurements: m, Runs: []RunResult{{Scheduler: ProximaScheduler, Placements: placements}}}
		if err := r.evaluate(); err != nil {
			return nil, err
		}
		say("    %d pods settled in %s", len(placements), time.Since(start).Round(100*time.Millisecond))
		return r.Classes, nil
	}
	say("==> every one of the %d measured RTTs declared: the placement to match", measured)
	sched, err := runScheduler(ctx, cp, filepath.Join(dir, "all-declared"), cfg)
	if err != nil {
		return nil, err
	}
	out.AllDeclared, err = place("all-declared")
	_ = sched.Stop()
	if err != nil {
		return nil, err
	}
	declared, err := declareShare(ctx, pc, sc, m)
	if err != nil {
		return nil, err
	}
	say("==> declaring %d of them (%.0f%%, seed %d); probing at most %d pairs a round", declared, 100*sc.DeclaredFraction(), sc.seed, opts.Budget.Pairs)
	sched, err = runScheduler(ctx, cp, filepath.Join(dir, "probing"), cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sched.Stop() }()
	settings := simulate.Settings{GPUs: state.NewGPUResources(args.GPUResources), SchedulerName: ProximaScheduler}
	served := 0
	for r := 0; r <= opts.Rounds; r++ {
		say("==> round %d: %d pairs measured", r, served)
		classes, err := place(fmt.Sprintf("round-%d", r))
		if err != nil {
			return nil, err
		}
		round := ProbeRound{Measured: served, Classes: classes}
		// The next round's probes, planned as proxima-controller plans
		// them, and measured as the fleet's exporters would.
		collector.Refresh(ctx)
		settings.Live = collector.Load()
		w, err := simulate.Lister{Kube: cp.Client, Placement: pc}.Load(ctx, settings)
		if err != nil {
			return nil, err
		}
		plan := w.Snap.ProbePlan(opts.Budget, uint64(r))
		exp.RTT.Reset()
		cities := map[string]string{}
		for _, s := range sc.Sites {
			cities["site/"+s.Name] = s.City
		}
		for _, s := range sc.Sources {
			cities["source/"+s.Name] = s.City
		}
		for _, p := range plan.Pairs {
			round.Planned[p.Tier]++
			src, site := w.Snap.World.SourceNames[p.Source], w.Snap.World.Sites.Names[p.Site]
			ms, _ := m.TrueRTT(cities["source/"+src], cities["site/"+site])
			exp.RTT.WithLabelValues(src, site).Set(ms / 1000)
		}
		served = len(plan.Pairs)
		out.Rounds = append(out.Rounds, round)
		if r == opts.Rounds {
			break
		}
		// Prometheus holds exactly the served pairs; then the scheduler
		// (in this process) has read them, and read again a refresh later,
		// so its world model was rebuilt from the first of those reads.
		if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			series, err := prom.Query(ctx, "proxima_rtt_seconds")
			return err == nil && len(series) == served, nil
		}); err != nil {
			return nil, fmt.Errorf("Prometheus never held the %d probed pairs: %w", served, err)
		}
		held := float64(time.Now().UnixNano()) / 1e9
		if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			last, ok := lastRTTRead()
			return ok && last > held+float64(args.Telemetry.RefreshSeconds), nil
		}); err != nil {
			return nil, fmt.Errorf("proxima-scheduler did not read the probed pairs: %w", err)
		}
	}
	return out, nil
}

// lastRTTRead is when the scheduler running in this process last read the
// RTT signal (proxima_telemetry_last_success_timestamp_seconds).
func lastRTTRead() (float64, bool) {
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		if f.GetName() != "proxima_telemetry_last_success_timestamp_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "signal" && l.GetValue() == "rtt" {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}
