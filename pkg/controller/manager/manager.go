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

// Package manager runs proxima-controller's controllers on one world
// model: the status controller, the policy scheduling gate and the
// rebalancer, with live telemetry read as the scheduler's configuration
// says. cmd/proxima-controller runs it under a Lease; tests run it
// directly.
package manager

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	coreinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/policygate"
	"github.com/proxima-sched/proxima/pkg/controller/probes"
	"github.com/proxima-sched/proxima/pkg/controller/rebalance"
	"github.com/proxima-sched/proxima/pkg/controller/status"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	informers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/pkg/telemetry"
)

// Options configure the controllers.
type Options struct {
	// SchedulerConfig is the path of the scheduler's
	// KubeSchedulerConfiguration; its EdgePlacement args (of the profile
	// SchedulerNames[0]) give the legacy-label acceptance, GPU resources,
	// minCandidateNodes and live telemetry. Empty: declared values only,
	// and the flags' AcceptLegacySiteLabel.
	SchedulerConfig string
	// SchedulerNames place pods with Proxima's rules.
	SchedulerNames []string
	// AcceptLegacySiteLabel when SchedulerConfig is empty.
	AcceptLegacySiteLabel bool
	// Rebalance runs the rebalancer (it moves only the pods of policies
	// with spec.rebalance.mode On).
	Rebalance bool
	// RebalanceInterval between the rebalancer's rounds.
	RebalanceInterval time.Duration
	// EvictionsPerMinute is the rebalancer's global rate limit.
	EvictionsPerMinute float64
	// Probes, when set, plans the RTT probes on the world model and
	// serves them (its handler is served by every replica; it plans only
	// here, under the Lease).
	Probes *probes.Server
}

// Run runs the controllers until ctx ends (or the status controller fails),
// and returns once every one of them has stopped.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	logger := klog.FromContext(ctx)
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg sync.WaitGroup
		// factories are the informer factories and the event
		// broadcaster, shut down once the controllers have stopped.
		factories []interface{ Shutdown() }
	)
	defer func() {
		cancel()
		wg.Wait()
		for _, f := range factories {
			f.Shutdown()
		}
	}()
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	settings := simulate.Settings{AcceptLegacySiteLabel: opts.AcceptLegacySiteLabel}
	if len(opts.SchedulerNames) > 0 {
		settings.SchedulerName = opts.SchedulerNames[0]
	}
	var collector *telemetry.Collector
	// onLive tells the world model of new telemetry; set once the model
	// exists, before the collector runs.
	onLive := func() {}
	if opts.SchedulerConfig != "" {
		args, err := schedconfig.ReadEdgePlacementArgs(opts.SchedulerConfig, settings.SchedulerName)
		if err != nil {
			return fmt.Errorf("reading the scheduler's configuration: %w", err)
		}
		settings.AcceptLegacySiteLabel = args.AcceptLegacySiteLabel
		settings.GPUs = state.NewGPUResources(args.GPUResources)
		settings.MinCandidateNodes = int(args.MinCandidateNodes)
		if args.Telemetry != nil {
			if collector, err = telemetry.New(telemetry.ConfigFromArgs(args.Telemetry), func() { onLive() }); err != nil {
				return err
			}
		}
	}
	stateOpts := state.Options{AcceptLegacySiteLabel: settings.AcceptLegacySiteLabel}
	if collector != nil {
		stateOpts.Live = collector.Load
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	coreFactory := coreinformers.NewSharedInformerFactory(core, 0)
	c, err := status.New(client, factory, coreFactory, stateOpts)
	if err != nil {
		return fmt.Errorf("creating the status controller: %w", err)
	}
	c.SetSchedulerNames(opts.SchedulerNames...)
	if collector != nil {
		onLive = c.Model().LiveChanged
		wg.Go(func() { collector.Run(ctx) })
	}
	unbound := policygate.UnboundPods(core)
	gate, err := policygate.New(core, c.Model(), unbound)
	if err != nil {
		return fmt.Errorf("creating the policy gate controller: %w", err)
	}
	var rb *rebalance.Rebalancer
	var boundFactory coreinformers.SharedInformerFactory
	if opts.Rebalance {
		// The status controller keeps slimmed pods; the rebalancer needs
		// the bound ones whole (requests, owners, tolerations, affinity).
		boundFactory = coreinformers.NewSharedInformerFactoryWithOptions(core, 0,
			coreinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
			}))
		scheme := runtime.NewScheme()
		if err := clientgoscheme.AddToScheme(scheme); err != nil {
			return err
		}
		if err := placementv1alpha1.AddToScheme(scheme); err != nil {
			return err
		}
		broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: core.EventsV1()})
		broadcaster.StartRecordingToSink(ctx.Done())
		factories = append(factories, broadcaster)
		pods := boundFactory.Core().V1().Pods()
		nodes := coreFactory.Core().V1().Nodes()
		// Whether a Job's pod or a pod with volumes may move.
		jobs := coreFactory.Batch().V1().Jobs()
		pvcs := coreFactory.Core().V1().PersistentVolumeClaims()
		pvs := coreFactory.Core().V1().PersistentVolumes()
		services := coreFactory.Core().V1().Services()
		rcfg := rebalance.Config{
			Kube: core, Placement: client, Model: c.Model(),
			Nodes: nodes.Lister(), Pods: pods.Lister(), AllPods: coreFactory.Core().V1().Pods().Lister(), Policies: factory.Placement().V1alpha1().PlacementPolicies().Lister(),
			Jobs: jobs.Lister(), PVCs: pvcs.Lister(), PVs: pvs.Lister(), Services: services.Lister(),
			Synced: []cache.InformerSynced{pods.Informer().HasSynced, coreFactory.Core().V1().Pods().Informer().HasSynced,
				nodes.Informer().HasSynced, c.Model().HasSynced, jobs.Informer().HasSynced, pvcs.Informer().HasSynced, pvs.Informer().HasSynced,
				services.Informer().HasSynced},
			Settings: settings, SchedulerNames: opts.SchedulerNames,
			Interval: opts.RebalanceInterval, EvictionsPerMinute: opts.EvictionsPerMinute,
			Recorder: broadcaster.NewRecorder(scheme, "proxima-rebalancer"),
		}
		if collector != nil {
			rcfg.TelemetryStale = func() []string { return state.StaleSignals(collector.Load()) }
		}
		rb = rebalance.New(rcfg)
	}
	factory.Start(ctx.Done())
	coreFactory.Start(ctx.Done())
	factories = append(factories, factory, coreFactory)
	if boundFactory != nil {
		boundFactory.Start(ctx.Done())
		factories = append(factories, boundFactory)
	}
	wg.Go(func() { unbound.Run(ctx.Done()) })
	wg.Go(func() {
		if err := gate.Run(ctx); err != nil {
			logger.Error(err, "Policy gate controller stopped")
		}
	})
	if rb != nil {
		wg.Go(func() { rb.Run(ctx) })
	}
	if opts.Probes != nil {
		ns, sel := opts.Probes.Exporters()
		exporters := coreinformers.NewSharedInformerFactoryWithOptions(core, 0, coreinformers.WithNamespace(ns),
			coreinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
		pods := exporters.Core().V1().Pods()
		pods.Informer()
		exporters.Start(ctx.Done())
		factories = append(factories, exporters)
		nodes := coreFactory.Core().V1().Nodes().Lister()
		wg.Go(func() {
			if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced, c.Model().HasSynced) {
				return
			}
			opts.Probes.Run(ctx, c.Model(), c.Cluster(), pods.Lister(), nodes)
		})
	}
	logger.Info("Controllers started", "rebalancer", opts.Rebalance, "telemetry", collector != nil, "probes", opts.Probes != nil)
	return c.Run(ctx)
}
