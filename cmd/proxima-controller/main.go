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

// Command proxima-controller writes the status of Proxima's placement
// objects (node counts on Sites, unknown sites on TrafficSources, unknown
// sources and empty feasible sets on PlacementPolicies), lifts the
// placement.proxima.dev/policy scheduling gate from pods whose policy
// resolves, and runs the rebalancer, which moves the running pods of
// policies with spec.rebalance (docs/rebalancer.md). Run two replicas; one
// leads, through a Lease.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/component-base/metrics/legacyregistry"
	_ "k8s.io/component-base/metrics/prometheus/clientgo/leaderelection" // leader_election_master_status
	_ "k8s.io/component-base/metrics/prometheus/workqueue"               // the world model's and status controller's queues
	"k8s.io/klog/v2"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/manager"
	"github.com/proxima-sched/proxima/pkg/controller/probes"
	"github.com/proxima-sched/proxima/pkg/controller/serving"
	"github.com/proxima-sched/proxima/pkg/controller/status"
	"github.com/proxima-sched/proxima/pkg/version"
)

func main() {
	klog.InitFlags(nil)
	kubeconfig := flag.String("kubeconfig", "", "path to a kubeconfig; empty means in-cluster")
	leaderElect := flag.Bool("leader-elect", true, "take a Lease before writing status or moving pods, so that one replica acts")
	leaseNamespace := flag.String("leader-elect-namespace", "proxima-system", "namespace of the Lease")
	leaseName := flag.String("leader-elect-name", "proxima-controller", "name of the Lease")
	var opts manager.Options
	flag.StringVar(&opts.SchedulerConfig, "scheduler-config", "", "path of the scheduler's KubeSchedulerConfiguration: the EdgePlacement args of the first "+
		"--scheduler-names profile give the legacy site label, GPU resources, minCandidateNodes and the live telemetry to read, so that "+
		"status and the rebalancer judge the world as the scheduler does; empty means declared values only")
	flag.BoolVar(&opts.AcceptLegacySiteLabel, "accept-legacy-site-label", false, "without --scheduler-config: also count a node in the site named by its legacy label "+
		placementv1alpha1.LegacySiteLabel+" when it lacks "+placementv1alpha1.SiteLabel+
		"; the node itself can set the legacy label, so use this only while relabelling nodes on upgrade")
	schedulerNames := flag.String("scheduler-names", status.DefaultSchedulerName, "comma-separated schedulerNames that place pods with Proxima's rules "+
		"(the profiles of its KubeSchedulerConfiguration); a policy's matched pods naming another are counted in status.otherSchedulerPods and never moved")
	flag.BoolVar(&opts.Rebalance, "rebalance", true, "run the rebalancer; it moves only the pods of PlacementPolicies with spec.rebalance.mode On")
	flag.DurationVar(&opts.RebalanceInterval, "rebalance-interval", 10*time.Second, "time between the rebalancer's rounds")
	flag.Float64Var(&opts.EvictionsPerMinute, "rebalance-evictions-per-minute", 30, "the most evictions the rebalancer asks for per minute, over all policies")
	metricsAddr := flag.String("metrics-bind-address", "", "address to serve Prometheus metrics on at /metrics (plain HTTP), e.g. :8080; empty serves none")
	var serve serving.Options
	flag.StringVar(&serve.BindAddress, "secure-bind-address", "", "address to serve /metrics and "+probes.Path+" on over TLS to callers the apiserver "+
		"authenticates and authorizes (a ClusterRole with nonResourceURLs and verb get), e.g. :8443; empty serves neither")
	flag.StringVar(&serve.CertDir, "tls-cert-dir", "", "directory with tls.crt and tls.key for --secure-bind-address, reloaded when they change; empty or without them, a self-signed certificate")
	probeOpts := probes.Options{Port: 9115}
	planProbes := flag.Bool("probes", true, "plan RTT probes and serve them at "+probes.Path+" (needs --secure-bind-address) as Prometheus HTTP service discovery for the fleet's blackbox exporters")
	flag.DurationVar(&probeOpts.Interval, "probe-interval", 30*time.Second, "time between probe plans (rounds)")
	flag.StringVar(&probeOpts.Namespace, "probe-exporter-namespace", "monitoring", "namespace of the blackbox exporter pods: only pods there are trusted "+
		"to measure (a pod elsewhere with their labels could report a site faster than it is and loosen a max RTT)")
	exporterSelector := flag.String("probe-exporter-selector", "app.kubernetes.io/name=proxima-rtt-exporter", "label selector of the blackbox exporter pods (one per node, placed by the site label)")
	flag.IntVar(&probeOpts.Port, "probe-exporter-port", probeOpts.Port, "the exporter pods' port")
	tcpModule := flag.String("probe-tcp-module", probes.DefaultModules[placementv1alpha1.ProbeTCP], "the exporters' module for TrafficSources with probe.module TCP")
	icmpModule := flag.String("probe-icmp-module", probes.DefaultModules[placementv1alpha1.ProbeICMP], "the exporters' module for TrafficSources with probe.module ICMP")
	probeOpts.Budget.AddFlags(flag.CommandLine)
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("proxima-controller"))
		return
	}
	if *planProbes && serve.BindAddress != "" {
		sel, err := labels.Parse(*exporterSelector)
		if err != nil {
			klog.ErrorS(err, "--probe-exporter-selector")
			os.Exit(2)
		}
		if probeOpts.Namespace == "" {
			klog.ErrorS(nil, "--probe-exporter-namespace must name the exporters' namespace: a pod in any other could measure RTTs for its site")
			os.Exit(2)
		}
		probeOpts.Selector = sel
		probeOpts.Modules = probes.Modules{placementv1alpha1.ProbeTCP: *tcpModule, placementv1alpha1.ProbeICMP: *icmpModule}
		opts.Probes = probes.NewServer(probeOpts)
	} else if *planProbes {
		klog.InfoS("Not planning RTT probes: they are served at " + probes.Path + " on --secure-bind-address, which is empty")
	}
	opts.SchedulerNames = strings.Split(*schedulerNames, ",")

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, *kubeconfig, *leaderElect, *leaseNamespace, *leaseName, *metricsAddr, serve, opts); err != nil {
		klog.ErrorS(err, "proxima-controller failed")
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig string, leaderElect bool, leaseNamespace, leaseName, metricsAddr string, serve serving.Options,
	opts manager.Options) error {
	logger := klog.FromContext(ctx)
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg = rest.AddUserAgent(cfg, "proxima-controller")
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	logger.Info("Starting proxima-controller", "version", version.Version)
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return fmt.Errorf("serving metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", legacyregistry.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error(err, "Metrics server stopped")
			}
		}()
		defer srv.Close()
	}
	if serve.BindAddress != "" {
		handlers := map[string]http.Handler{"/metrics": legacyregistry.Handler()}
		if opts.Probes != nil {
			handlers[probes.Path] = opts.Probes
		}
		if _, err := serving.Serve(ctx, cfg, serve, handlers); err != nil {
			return fmt.Errorf("secure serving: %w", err)
		}
	}
	runController := func(ctx context.Context) {
		if err := manager.Run(ctx, cfg, opts); err != nil && ctx.Err() == nil {
			// Holding the Lease with nothing running would keep the other
			// replica from taking over: exit, and let the Lease expire.
			klog.FromContext(ctx).Error(err, "Controllers stopped; exiting")
			klog.FlushAndExit(klog.ExitFlushTimeout, 1)
		}
	}
	if !leaderElect {
		return manager.Run(ctx, cfg, opts)
	}
	id, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, leaseNamespace, leaseName,
		core.CoreV1(), core.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock,
		// The name of leader_election_master_status, which the
		// ProximaControllerNoLeader alert reads.
		Name:            leaseName,
		ReleaseOnCancel: true,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: runController,
			OnStoppedLeading: func() { logger.Info("Lost the lease; stopping") },
		},
	})
	return nil
}
