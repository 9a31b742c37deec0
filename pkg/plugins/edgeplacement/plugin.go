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
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

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
	handle        fwk.Handle
	model         *state.Model
	nodes         corelisters.NodeLister
	waiting       *waitingPods
	minCandidates int
	placedEvents  bool
	acceptLegacy  bool // NodeSite reads the legacy site label too
	// plans plans pods with the extended resources priced as GPUs,
	// sharing one evaluation among the replicas of a workload.
	plans *state.PlanCache
	// room spares narrowing the sites replicas have filled.
	room *roomMemo
}

var (
	_ fwk.PreFilterPlugin   = &EdgePlacement{}
	_ fwk.FilterPlugin      = &EdgePlacement{}
	_ fwk.PostFilterPlugin  = &EdgePlacement{}
	_ fwk.PreScorePlugin    = &EdgePlacement{}
	_ fwk.ScorePlugin       = &EdgePlacement{}
	_ fwk.ScoreExtensions   = &EdgePlacement{}
	_ fwk.BindPlugin        = &EdgePlacement{}
	_ fwk.PostBindPlugin    = &EdgePlacement{}
	_ fwk.EnqueueExtensions = &EdgePlacement{}
)

// New builds the plugin from its args: a world model over the scheduler's
// informers (and Prometheus, with telemetry args), synced before it
// returns, so the first scheduling cycle sees every Site, TrafficSource and
// PlacementPolicy.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
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
	pl := &EdgePlacement{handle: h, model: model, nodes: h.SharedInformerFactory().Core().V1().Nodes().Lister(),
		minCandidates: int(args.MinCandidateNodes), placedEvents: args.PlacedEvents, acceptLegacy: args.AcceptLegacySiteLabel,
		room: newRoomMemo()}
	// Dependencies are found in the scheduler's own informers: bound pods
	// by label, and their nodes.
	if err := indexPodsByNamespace(h.SharedInformerFactory().Core().V1().Pods().Informer()); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	pl.plans = state.NewPlanCache(state.NewGPUResources(args.GPUResources),
		state.ListerCluster{PodLister: h.SharedInformerFactory().Core().V1().Pods().Lister(), NodeLister: pl.nodes,
			ServiceLister: h.SharedInformerFactory().Core().V1().Services().Lister()})
	pl.waiting = newWaitingPods(model, h.Activate, pl.worthRetrying)
	go pl.waiting.run(ctx)
	// Forget pods that are deleted or bound by anyone while waiting.
	if _, err := h.SharedInformerFactory().Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*v1.Pod)
			pod, ok2 := newObj.(*v1.Pod)
			if ok1 && ok2 && old.Spec.NodeName == "" && pod.Spec.NodeName != "" {
				pl.waiting.remove(pod)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*v1.Pod); ok {
				pl.waiting.remove(pod)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return pl, nil
}

// newModel builds and syncs the world model; collector is nil without
// telemetry args.
func newModel(ctx context.Context, h fwk.Handle, args *config.EdgePlacementArgs) (*state.Model, *telemetry.Collector, error) {
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
	podCPU int64 // millicores requested
	// narrowed: the candidates leave out nodes of feasible sites that fit
	// the pod (PostFilter widens).
	narrowed bool
	// spread is the policy's spread rule judged for this pod in this
	// cycle (where its workload runs now); nil when the policy has none.
	spread *scoring.SpreadVerdict
}

// newPreFilterState is the state for a pod planned against snap.
func newPreFilterState(snap *state.Snapshot, pp *state.PodPlan) *preFilterState {
	return &preFilterState{pod: pp, policy: pp.Policy, snap: snap, plan: &pp.Plan, podCPU: pp.CPUMilli()}
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

// EventsToRegister lists what can make a pod EdgePlacement rejected
// schedulable, each with a queueing hint that says which pods it can help:
//
//   - a Site or TrafficSource added, deleted or changed in its spec (not a
//     status write by the controller): every pod EdgePlacement rejected;
//   - a PlacementPolicy likewise: the pods of its namespace;
//   - a node added, relabelled, untainted or uncordoned: the pods it now
//     fits as far as narrowing can tell (it is in a site; it is not
//     cordoned and has no taint the pod does not tolerate; it meets the
//     pod's node selector and required node affinity);
//   - the pending pod's own labels (a corrected placement.proxima.dev/policy
//     label), tolerations or smaller requests: that pod;
//   - a bound pod added, deleted or relabelled that one of the pending
//     pod's dependencies selects: that pod (a dependency moved, so its
//     RTT from every site changed);
//   - a bound pod of the same namespace and controller as a pending pod
//     whose policy spreads its workload: that pod (the workload's count
//     at a site changed).
//
// The world model may see a change after the scheduler's event for it, and
// telemetry has no event: the waiting pods are judged again after every
// snapshot the model publishes (retry.go).
func (pl *EdgePlacement) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	crd := func(plural string, hint fwk.QueueingHintFn) fwk.ClusterEventWithHint {
		return fwk.ClusterEventWithHint{Event: fwk.ClusterEvent{
			Resource:   fwk.EventResource(plural + ".v1alpha1." + placementv1alpha1.GroupName),
			ActionType: fwk.Add | fwk.Update | fwk.Delete,
		}, QueueingHintFn: hint}
	}
	return []fwk.ClusterEventWithHint{
		crd("sites", isSchedulableAfterWorldChange), crd("trafficsources", isSchedulableAfterWorldChange),
		crd("placementpolicies", isSchedulableAfterPolicyChange),
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel | fwk.UpdateNodeTaint}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Add | fwk.Delete | fwk.UpdatePodLabel | fwk.UpdatePodToleration | fwk.UpdatePodScaleDown},
			QueueingHintFn: pl.isSchedulableAfterPodChange},
	}, nil
}

// isSchedulableAfterWorldChange queues for a Site or TrafficSource added,
// deleted or changed in its spec; a status write keeps its generation.
func isSchedulableAfterWorldChange(_ klog.Logger, _ *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	if specUnchanged(oldObj, newObj) {
		return fwk.QueueSkip, nil
	}
	return fwk.Queue, nil
}

// isSchedulableAfterPolicyChange queues the pods of the policy's namespace
// for a PlacementPolicy added, deleted or changed in its spec.
func isSchedulableAfterPolicyChange(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	if specUnchanged(oldObj, newObj) {
		return fwk.QueueSkip, nil
	}
	obj := newObj
	if obj == nil {
		obj = oldObj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return fwk.Queue, err
	}
	if m.GetNamespace() != pod.Namespace {
		return fwk.QueueSkip, nil
	}
	return fwk.Queue, nil
}

// specUnchanged reports an update that kept the object's generation: a
// write to its status or metadata only.
func specUnchanged(oldObj, newObj any) bool {
	if oldObj == nil || newObj == nil {
		return false
	}
	o, err1 := meta.Accessor(oldObj)
	n, err2 := meta.Accessor(newObj)
	return err1 == nil && err2 == nil && o.GetGeneration() != 0 && o.GetGeneration() == n.GetGeneration()
}

// isSchedulableAfterNodeChange queues a pod for a node in a site that it
// now fits as far as narrowing can tell.
func (pl *EdgePlacement) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	node, ok := newObj.(*v1.Node)
	if !ok {
		return fwk.Queue, fmt.Errorf("want a *v1.Node, got %T", newObj)
	}
	if _, ok := state.NodeSite(node.Labels, pl.acceptLegacy); !ok {
		return fwk.QueueSkip, nil
	}
	if admission := state.AdmissionOf(pod); !admission.Admits(node) {
		logger.V(5).Info("Node changed but the pod cannot be placed on it", "pod", klog.KObj(pod), "node", klog.KObj(node))
		return fwk.QueueSkip, nil
	}
	return fwk.Queue, nil
}

// isSchedulableAfterPodChange queues a pending pod for a change to itself,
// and for a bound pod of one of its policy's dependencies, or of its
// workload when the policy spreads it, that was added, deleted or
// relabelled.
func (pl *EdgePlacement) isSchedulableAfterPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	oldPod, newPod, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if newPod != nil && newPod.UID == pod.UID {
		return fwk.Queue, nil
	}
	policy, err := pl.model.Load().PolicyFor(pod)
	if err != nil || policy == nil || len(policy.Spec.Dependencies) == 0 && policy.Spec.Spread == nil {
		return fwk.QueueSkip, nil
	}
	for _, p := range []*v1.Pod{oldPod, newPod} {
		if p == nil || p.Spec.NodeName == "" {
			continue
		}
		if policy.DependsOn(p) {
			logger.V(5).Info("A dependency's pod moved", "pod", klog.KObj(pod), "dependency", klog.KObj(p))
			return fwk.Queue, nil
		}
		if policy.Spec.Spread != nil && state.SameController(p, pod) {
			logger.V(5).Info("A pod of the workload the policy spreads moved", "pod", klog.KObj(pod), "peer", klog.KObj(p))
			return fwk.Queue, nil
		}
	}
	return fwk.QueueSkip, nil
}

// World is the world model's current snapshot: what the next scheduling
// cycle's PreFilter plans against.
func (pl *EdgePlacement) World() *state.Snapshot { return pl.model.Load() }

// indexPodsByNamespace gives the pod informer a namespace index if it has
// none. kube-scheduler's own pod informer is built without one
// (scheduler.NewInformerFactory), and a lister's Pods(namespace).List then
// scans every pod of the cluster, logging a warning each time; a policy's
// dependencies list their namespace's pods on every plan.
func indexPodsByNamespace(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[cache.NamespaceIndex]; ok {
		return nil
	}
	if err := informer.AddIndexers(cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}); err != nil {
		return fmt.Errorf("indexing the scheduler's pods by namespace: %w", err)
	}
	return nil
}
