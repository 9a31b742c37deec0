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

// Command proxima-demo shows what Proxima is for, on real parts and without
// a cluster: it starts etcd and kube-apiserver (from bin/, built by `make
// tools`), creates a world of sites and client cities with RTTs measured
// between real cities, schedules the same workload once with
// proxima-scheduler and once with the default scheduler, reads the bindings
// back and compares both with an offline optimum.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/demo"
	"github.com/proxima-sched/proxima/pkg/probeplan"
)

func main() {
	fs := flag.NewFlagSet("proxima-demo", flag.ExitOnError)
	scenario := fs.String("scenario", "", "scenario file (YAML; see pkg/demo/default-scenario.yaml for the format); empty: the embedded one")
	sites := fs.Int("sites", 0, "keep only the first N sites of the scenario (0: all)")
	nodes := fs.Int("nodes-per-site", 0, "set every site's node count to N (0: as the scenario says)")
	pods := fs.Int("pods", 0, "total pods, spread over the classes in the scenario's proportions (0: as the scenario says; with --scene outage, 60)")
	declared := fs.Float64("declared-fraction", 1, "declare only this share (0..1) of the measured source-site RTTs, chosen with --seed; Proxima estimates the rest, and the report compares with a run that declares them all")
	seed := fs.Uint64("seed", 1, "seed for the declared RTTs (--declared-fraction)")
	citiesSeed := fs.Uint64("cities-seed", 0, "move every site to another city of its country and every source to another city of its country, chosen with this seed (0: the scenario's cities)")
	estimates := fs.String("estimates", "", "override how the classes' RTT bounds judge estimated RTTs: Conservative, Central or Reject (empty: as the scenario's policies say)")
	out := fs.String("out", "out", "directory for the charts")
	config := fs.String("scheduler-config", filepath.Join("manifests", "install", "scheduler-config.yaml"), "the KubeSchedulerConfiguration to run proxima-scheduler with")
	timeout := fs.Duration("settle-timeout", 3*time.Minute, "how long to wait for one scheduler's pods to be bound or reported unschedulable")
	hold := fs.Bool("hold", false, "after proxima-scheduler's run, write an admin kubeconfig to OUT/kubeconfig and wait for Enter, to look with kubectl proxima")
	scene := fs.String("scene", "", "empty: the comparison above; outage: the site outage and recovery scene; dependencies: the dependency scene (see above)")
	probeBudget := fs.Int("probe-budget", 0, "with --declared-fraction below 1: instead of the comparison, place the scenario round after round with "+
		"the scheduler's own model, each round measuring the pairs the previous round's probe plan asked for, at most this many per round (see above)")
	probeRounds := fs.Int("probe-rounds", 3, "rounds of probing (--probe-budget)")
	probeSimulate := fs.Bool("probe-simulate", false, "with --probe-budget: place with the scheduler's own model in this process (pkg/simulate), without a control plane: seconds instead of minutes")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: proxima-demo [flags]

Runs Proxima against the default scheduler on a real control plane and
prints, per workload class, the demand-weighted mean and p95 RTT (on
measured RTTs), the hourly cost, hard-rule violations and unschedulable pods
for each, next to an offline optimum (a transportation LP), and writes
charts. Needs bin/etcd and bin/kube-apiserver: run it with 'make demo'.

With --scene outage it runs a site outage and recovery instead ('make
demo-outage'): on the same world, with only the classes that have traffic
sources, as Deployments, three configurations one after another, each on a
fresh control plane with kube-controller-manager, simulated kubelets and a
Prometheus the scheduler reads site health from: proxima-scheduler with the
rebalancer (policies' rebalance On: grace 5 s, dwell 10 s, cooldown 10 s,
maxMoving 100%%), proxima-scheduler without it, and the default scheduler.
20 s after the pods settle, the site holding the most of them goes down
(proxima_site_up=0) for 40 s, then 60 s of recovery follow; every second the
mean RTT (measured) and the pods breaking a hard rule (the down site
included) are sampled. It prints a table per configuration and writes
OUT/outage-timeline.png, and the components' logs to OUT/outage.log. Needs bin/kube-controller-manager and
bin/prometheus too; --scenario, --sites, --nodes-per-site, --pods (default
here 60: at full size eu-api fills exactly the EU sites within its SLO, and
the pods of the site that goes down have nowhere to go), --settle-timeout,
--scheduler-config and --out apply; the others do not.

With --scene dependencies it runs the dependency scene instead (also run by
'make demo'): on the same world, every pair of sites declaring its measured
RTT, a database in an EU cloud region (orders-db), a feature cache in
regional points of presence within 30 ms of it, a store's camera ingest
pinned to store-munich and the stream analytics that receive 40 GiB an hour
of its video, and the stores' API serving EU shoppers and calling the cache
(within 20 ms) and the database; each class deployed once the one before
has settled, for proxima-scheduler and then the default scheduler. It
prints the RTT of every call edge and each class's hourly cost (CPU and
memory, and egress where the traffic leaves a site, at the site's
egressGiB) next to the optimum of the same order, and writes
OUT/demo-dependencies.png. --scenario, --sites, --nodes-per-site,
--settle-timeout, --scheduler-config and --out apply.

With --probe-budget B (and --declared-fraction below 1) it shows how
placement converges when Proxima plans its own probes: on a real control
plane, proxima-scheduler reading live RTTs from a real Prometheus places
the scenario's pods with every measured pair declared, then, with only the
share declared, round after round (--probe-rounds); after each round the
probe plan is made as proxima-controller makes it, and an exporter serves,
as the fleet's probes would, the measured RTT of exactly the pairs it asks
for (at most B). It prints per round and per class with traffic sources
the mean measured RTT divided by the all-declared placement's, the pods
left Pending that that placement placed, and SLO violations on measured
RTT, and writes OUT/probing-rounds.png. --probe-simulate does the same in
this process with the scheduler's own model (pkg/simulate), in seconds.

Flags:
`)
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	knowledge := knowledge{declared: *declared, seed: *seed, citiesSeed: *citiesSeed, estimates: *estimates}
	var err error
	switch {
	case *probeBudget > 0 && *scene == "":
		err = runProbing(ctx, *scenario, *sites, *nodes, *pods, knowledge, *probeBudget, *probeRounds, *probeSimulate, *out, *config, *timeout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "proxima-demo:", err)
			os.Exit(1)
		}
		return
	case *probeBudget < 0:
		fmt.Fprintln(os.Stderr, "proxima-demo: --probe-budget must not be negative")
		os.Exit(2)
	}
	switch *scene {
	case "":
		err = run(ctx, *scenario, *sites, *nodes, *pods, knowledge, *out, *config, *timeout, *hold)
	case "outage":
		err = runOutage(ctx, *scenario, *sites, *nodes, *pods, *out, *config, *timeout)
	case "dependencies":
		err = runDependencies(ctx, *scenario, *sites, *nodes, *out, *config, *timeout)
	default:
		err = fmt.Errorf("--scene %q: want outage, dependencies or nothing", *scene)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxima-demo:", err)
		os.Exit(1)
	}
}

// knowledge is what the scenario tells the scheduler of the measured RTTs.
type knowledge struct {
	declared         float64
	seed, citiesSeed uint64
	estimates        string
}

func run(ctx context.Context, scenarioPath string, sites, nodes, pods int, k knowledge, out, config string, timeout time.Duration, hold bool) error {
	sc, err := loadScenario(scenarioPath, sites, nodes, pods)
	if err != nil {
		return err
	}
	if k.citiesSeed != 0 {
		m, err := demo.LoadMeasurements()
		if err != nil {
			return err
		}
		sc.RedrawCities(m, k.citiesSeed)
	}
	if !(k.declared >= 0 && k.declared <= 1) {
		return fmt.Errorf("--declared-fraction %v: want a share in 0..1", k.declared)
	}
	sc.SetDeclared(k.declared, k.seed)
	switch h := placementv1alpha1.EstimateHandling(k.estimates); h {
	case "":
	case placementv1alpha1.EstimatesConservative, placementv1alpha1.EstimatesCentral, placementv1alpha1.EstimatesReject:
		sc.SetEstimates(h)
	default:
		return fmt.Errorf("--estimates %q: want Conservative, Central or Reject", k.estimates)
	}
	start := time.Now()
	opts := demo.Options{Scenario: sc, SchedulerConfig: config, Progress: os.Stdout, SettleTimeout: timeout}
	if hold {
		opts.Hold = func(ctx context.Context, cp *controlplane.ControlPlane) error {
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			kubeconfig, err := cp.Kubeconfig(out)
			if err != nil {
				return err
			}
			fmt.Printf("==> holding: proxima-scheduler's pods are in namespace demo-%s; try\n", demo.ProximaScheduler)
			fmt.Printf("      kubectl proxima --kubeconfig %s -n demo-%s sites\n", kubeconfig, demo.ProximaScheduler)
			fmt.Println("    press Enter to go on")
			done := make(chan struct{})
			go func() { _, _ = bufio.NewReader(os.Stdin).ReadString('\n'); close(done) }()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	report, err := demo.Run(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Println()
	report.Print(os.Stdout)
	if report.Estimators != nil {
		fmt.Println()
		report.PrintKnowledge(os.Stdout)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files, err := report.WriteCharts(out)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("Violations count pods placed against a hard rule of their class (residency or tier, hardware, RTT SLO, cost cap).")
	fmt.Println("RTTs are measured between the cities (WonderProxy, 2020-07-19) where measured, else estimated from distance.")
	fmt.Println("The optimum is a bound: it ignores node boundaries and the order pods arrive in.")
	for _, f := range files {
		fmt.Println("chart:", f)
	}
	fmt.Printf("done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// runProbing runs probing rounds (--probe-budget).
func runProbing(ctx context.Context, scenarioPath string, sites, nodes, pods int, k knowledge, budget, rounds int, simulated bool,
	out, config string, timeout time.Duration) error {
	sc, err := loadScenario(scenarioPath, sites, nodes, pods)
	if err != nil {
		return err
	}
	m, err := demo.LoadMeasurements()
	if err != nil {
		return err
	}
	if err := sc.Validate(m); err != nil {
		return err
	}
	if k.citiesSeed != 0 {
		sc.RedrawCities(m, k.citiesSeed)
	}
	if !(k.declared >= 0 && k.declared < 1) {
		return fmt.Errorf("--probe-budget needs --declared-fraction below 1 (there is nothing to probe otherwise)")
	}
	if rounds < 1 {
		return fmt.Errorf("--probe-rounds %d: want at least 1", rounds)
	}
	sc.SetDeclared(k.declared, k.seed)
	b := probeplan.DefaultBudget
	b.Pairs = budget
	var p *demo.Probing
	if simulated {
		p, err = demo.SimulateProbing(sc, m, b, rounds)
	} else {
		p, err = demo.RunProbing(ctx, demo.ProbingOptions{Scenario: sc, SchedulerConfig: config, Budget: b, Rounds: rounds,
			Progress: os.Stdout, SettleTimeout: timeout})
	}
	if err != nil {
		return err
	}
	if simulated {
		fmt.Println("Placed with the scheduler's own world model and choice in this process (pkg/simulate, --probe-simulate).")
	} else {
		fmt.Println()
		fmt.Println("Placed by proxima-scheduler on a real control plane, reading the probed RTTs from a real Prometheus.")
	}
	p.Print(os.Stdout)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	chart, err := p.WriteChart(out)
	if err != nil {
		return err
	}
	fmt.Println("chart:", chart)
	return nil
}

func loadScenario(path string, sites, nodes, pods int) (*demo.Scenario, error) {
	sc, err := demo.DefaultScenario()
	if path != "" {
		sc, err = demo.LoadScenario(path)
	}
	if err != nil {
		return nil, err
	}
	sc.Scale(sites, nodes, pods)
	return sc, nil
}

func runDependencies(ctx context.Context, scenarioPath string, sites, nodes int, out, config string, timeout time.Duration) error {
	sc, err := loadScenario(scenarioPath, sites, nodes, 0)
	if err != nil {
		return err
	}
	start := time.Now()
	report, err := demo.RunDependencies(ctx, demo.DependencyOptions{Scenario: sc, SchedulerConfig: config, Progress: os.Stdout, SettleTimeout: timeout})
	if err != nil {
		return err
	}
	fmt.Println()
	report.Print(os.Stdout)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	chart, err := report.WriteChart(out)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("RTTs are measured between the cities (WonderProxy, 2020-07-19). The optimum places the classes in the same order,")
	fmt.Println("each pod on the feasible site with room best for its class's leading objective (latency, or cost with egress).")
	fmt.Println("chart:", chart)
	fmt.Printf("done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

func runOutage(ctx context.Context, scenarioPath string, sites, nodes, pods int, out, config string, timeout time.Duration) error {
	if pods == 0 {
		pods = demo.OutageDefaultPods
	}
	sc, err := loadScenario(scenarioPath, sites, nodes, pods)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	// The scheduler and the rebalancer log every move: to a file, so that
	// the timeline stays readable.
	logPath := filepath.Join(out, "outage.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	for name, value := range map[string]string{"logtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := klogFlags.Set(name, value); err != nil {
			return err
		}
	}
	klog.SetOutput(logFile)
	defer klog.Flush()
	fmt.Println("==> component logs (scheduler, rebalancer):", logPath)
	start := time.Now()
	report, err := demo.RunOutage(ctx, demo.OutageOptions{Scenario: sc, SchedulerConfig: config, Progress: os.Stdout, SettleTimeout: timeout})
	if err != nil {
		return err
	}
	fmt.Println()
	report.Print(os.Stdout)
	chart, err := report.WriteChart(out)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("Mean RTT: over the bound pods of the classes followed, each its class's demand-weighted RTT at its site, measured where measured.")
	fmt.Println("Violations: those pods on a site breaking a hard rule of their class at that moment (the down site included).")
	fmt.Printf("Before, during and after are the means of the steady, outage and recovery phases; back: from when every pod is bound within %.2f× of before.\n",
		demo.ReturnTolerance)
	fmt.Println("chart:", chart)
	fmt.Printf("done in %s\n", time.Since(start).Round(time.Second))
	return nil
}
