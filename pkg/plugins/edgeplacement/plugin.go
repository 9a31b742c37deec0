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

// Package edgeplacement is the EdgePlacement scheduler plugin: it places each
// pod governed by a PlacementPolicy where the policy's hard rules allow
// (residency, tier, hardware, max RTT, max cost, site health, node load)
// and, among those, where its objective (latency, cost, load) is best, and
// it says why. The world it places against is pkg/state's model; the rules
// and scores are pkg/scoring's. This package holds the extension points
// (filtering.go, scoring.go, binding.go) and the explanations (explain.go).
// See README.md.
package edgeplacement

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/proxima-sched/proxima/apis/config"
	"github.com/proxima-sched/proxima/apis/config/validation"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/pkg/telemetry"
)

// What EdgePlacement reads, beyond what kube-scheduler itself needs (the
// built-in system:kube-scheduler and system:volume-scheduler roles):
// +kubebuilder:rbac:groups=placement.proxima.dev,resources=sites;trafficsources;placementpolicies,verbs=get;list;watch

// Name is the plugin's name in a KubeSchedulerConfiguration.
const Name = "EdgePlacement"

const preFilterStateKey fwk.StateKey = "PreFilter" + Name

// EdgePlacement is the plugin.
type EdgePlacement struct {
	handle        framework.Handle
	model         *state.Model
	nodes         corelisters.NodeLister
	waiting       *waitingPods
	minCandidates int
	placedEvents  bool
	acceptLegacy  bool               // NodeSite reads the legacy site label too
	gpus          state.GPUResources // the extended resources priced as GPUs
}

var (
	_ framework.PreFilterPlugin   = &EdgePlacement{}
	_ framework.FilterPlugin      = &EdgePlacement{}
	_ framework.PreScorePlugin    = &EdgePlacement{}
	_ framework.ScorePlugin       = &EdgePlacement{}
	_ framework.ScoreExtensions   = &EdgePlacement{}
	_ framework.BindPlugin        = &EdgePlacement{}
	_ framework.PostBindPlugin    = &EdgePlacement{}
	_ framework.EnqueueExtensions = &EdgePlacement{}
)

// New builds the plugin from its args: a world model over the scheduler's
// informers (and Prometheus, with telemetry args), synced before it
// returns, so the first scheduling cycle sees every Site, TrafficSource and
// PlacementPolicy.
func New(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, ok := obj.(*config.EdgePlacementArgs)
	if !ok {
		return nil, fmt.Errorf("want args of type EdgePlacementArgs, got %T", obj)
	}
	if err := validation.ValidateEdgePlacementArgs(field.NewPath("args"), args); err != nil {
		return nil, err
	}
	model, collector, err := newModel(ctx, h, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	go model.Run(ctx)
	if collector != nil {
		go collector.Run(ctx)
	}
	return &EdgePlacement{handle: h, model: model, nodes: h.SharedInformerFactory().Core().V1().Nodes().Lister(), waiting: newWaitingPods(model, h.Activate),
		minCandidates: int(args.MinCandidateNodes), placedEvents: args.PlacedEvents, acceptLegacy: args.AcceptLegacySiteLabel,
		gpus: state.NewGPUResources(args.GPUResources)}, nil
}

// newModel builds and syncs the world model; collector is nil without
// telemetry args.
func newModel(ctx context.Context, h framework.Handle, args *config.EdgePlacementArgs) (*state.Model, *telemetry.Collector, error) {
	inf, err := schedulerInformers(h)
	if err != nil {
		return nil, nil, err
	}
	var (
		model     *state.Model
		collector *telemetry.Collector
		opts      = state.Options{AcceptLegacySiteLabel: args.AcceptLegacySiteLabel}
	)
	if args.Telemetry != nil {
		// The collector runs only after the model exists.
		collector, err = telemetry.New(telemetry.ConfigFromArgs(args.Telemetry), func() { model.LiveChanged() })
		if err != nil {
			return nil, nil, err
		}
		opts.Live = collector.Load
	}
	if model, err = state.NewModel(inf, opts); err != nil {
		return nil, nil, err
	}
	// Start the informers now (the scheduler starts its factory only after
	// every plugin is built; starting twice is a no-op) so that start-up
	// can wait for them here and fail with a cause if it cannot.
	h.SharedInformerFactory().Start(ctx.Done())
	if err := model.WaitForCacheSync(ctx, time.Duration(args.CacheSyncTimeoutSeconds)*time.Second); err != nil {
		return nil, nil, err
	}
	return model, collector, nil
}

// Name returns the plugin's name.
func (pl *EdgePlacement) Name() string { return Name }

// preFilterState is a pod's policy evaluated against one snapshot;
// immutable once written.
type preFilterState struct {
	pod    *state.PodPlan // the policy, requests, rules and plan below
	policy *state.ResolvedPolicy
	snap   *state.Snapshot
	plan   *scoring.Plan
	rules  *scoring.Policy
	podCPU int64 // millicores requested
}

// newPreFilterState is the state for a pod planned against snap.
func newPreFilterState(snap *state.Snapshot, pp *state.PodPlan) *preFilterState {
	return &preFilterState{pod: pp, policy: pp.Policy, snap: snap, plan: &pp.Plan, rules: &pp.Rules, podCPU: pp.CPUMilli()}
}

// Clone returns the state itself: it is never modified after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

func getPreFilterState(cs fwk.CycleState) (*preFilterState, error) {
	c, err := cs.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("%+v cannot be converted to *edgeplacement.preFilterState", c)
	}
	return s, nil
}

// EventsToRegister lists what can make a rejected pod schedulable: a change
// to a Site, TrafficSource or PlacementPolicy, or a node gaining labels.
// (Pods EdgePlacement rejected are also re-activated after the world model
// publishes a new snapshot, which covers the scheduler seeing an event
// before the model does.)
func (pl *EdgePlacement) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	crd := func(plural string) fwk.ClusterEventWithHint {
		return fwk.ClusterEventWithHint{Event: fwk.ClusterEvent{
			Resource:   fwk.EventResource(plural + ".v1alpha1." + placementv1alpha1.GroupName),
			ActionType: fwk.Add | fwk.Update | fwk.Delete,
		}}
	}
	return []fwk.ClusterEventWithHint{
		crd("sites"), crd("trafficsources"), crd("placementpolicies"),
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

// isSchedulableAfterNodeChange queues a pod only for nodes in a site.
func (pl *EdgePlacement) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	node, ok := newObj.(*v1.Node)
	if !ok {
		return fwk.Queue, fmt.Errorf("want a *v1.Node, got %T", newObj)
	}
	if _, ok := state.NodeSite(node.Labels, pl.acceptLegacy); !ok {
		return fwk.QueueSkip, nil
	}
	return fwk.Queue, nil
}
