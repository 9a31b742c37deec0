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

// Package status is Proxima's status controller: it writes the checks that
// span objects, which admission cannot make, as status on the objects:
//
//   - Site: node count, ready nodes, capacity of the ready nodes, and Ready
//     when at least one node is ready;
//   - TrafficSource: Ready=False (UnknownSite) while rtts name a Site that
//     does not exist;
//   - PlacementPolicy: Ready=False (UnknownSource) while it names a
//     TrafficSource that does not exist, or (NoFeasibleSite) when its hard
//     rules leave no site, with the count of sites each rule excluded;
//     feasibleSites otherwise, and sitesWithoutNodes, the feasible sites no
//     node is labelled for (the most likely reason a pod stays Pending);
//     matchedPods, the pods it governs, and otherSchedulerPods, those of
//     them that name another scheduler and so escape its rules.
//
// It runs as its own process (cmd/proxima-controller) with its own leader
// election, not inside the scheduler: kube-scheduler's leader election only
// wraps the scheduling loop while plugins and their informers run on every
// replica, so status written from the scheduler would have as many writers
// as replicas; and scheduling never depends on this status, so the
// controller can be upgraded or stopped on its own.
//
// The world is pkg/state's model, fed by this process's informers, exactly
// as the scheduler builds it. Any change to a Site, TrafficSource,
// PlacementPolicy or Node, a pod change it counts, and every snapshot the model publishes, queues
// one key; a reconcile reads the current snapshot once, evaluates the
// objects as listed (their latest spec and status) against it, and updates
// only the objects whose status changed. The world is small (thousands of
// objects at most), so a full pass is cheaper than tracking dependencies.
package status

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	nodeutil "k8s.io/kubernetes/pkg/util/node"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	informers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	listers "github.com/proxima-sched/proxima/pkg/generated/listers/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/state"
)

// +kubebuilder:rbac:groups=placement.proxima.dev,resources=sites;trafficsources;placementpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=placement.proxima.dev,resources=sites/status;trafficsources/status;placementpolicies/status,verbs=update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods;services,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=proxima-system,resources=leases,verbs=get;create;update

const worldKey = "world"

// DefaultSchedulerName is the profile name of the shipped configuration.
const DefaultSchedulerName = "proxima-scheduler"

// statusSettle is how long a pod or node event waits before the status
// is reconciled, so that a burst of them costs one reconcile: the most a
// Site's node counts or a policy's pod counts lag behind.
const statusSettle = time.Second

// maxSitesWithoutNodes bounds status.sitesWithoutNodes (the CRD's MaxItems).
const maxSitesWithoutNodes = 16

// Controller reconciles the status of Sites, TrafficSources and PlacementPolicies.
type Controller struct {
	client   versioned.Interface
	model    *state.Model
	sites    listers.SiteLister
	sources  listers.TrafficSourceLister
	policies listers.PlacementPolicyLister
	nodes    corelisters.NodeLister
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	// schedulers are the schedulerNames that place pods with Proxima's
	// rules; a matched pod naming another is counted in otherSchedulerPods.
	schedulers map[string]bool
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
}

// New wires the controller to the informer factories; start them after New.
// opts tune its world model (which the controller also counts nodes by:
// AcceptLegacySiteLabel).
func New(client versioned.Interface, factory informers.SharedInformerFactory, core coreinformers.SharedInformerFactory, opts state.Options) (*Controller, error) {
	p := factory.Placement().V1alpha1()
	model, err := state.NewModel(state.Informers{Sites: p.Sites().Informer(), Sources: p.TrafficSources().Informer(),
		Policies: p.PlacementPolicies().Informer(), Nodes: core.Core().V1().Nodes().Informer()}, opts)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		model:      model,
		client:     client,
		sites:      p.Sites().Lister(),
		sources:    p.TrafficSources().Lister(),
		policies:   p.PlacementPolicies().Lister(),
		nodes:      core.Core().V1().Nodes().Lister(),
		pods:       core.Core().V1().Pods().Lister(),
		services:   core.Core().V1().Services().Lister(),
		schedulers: map[string]bool{DefaultSchedulerName: true},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "proxima-status"}),
	}
	// The controller reads a pod's namespace, labels, schedulerName and
	// phase only: keep no more of every pod of the cluster in memory.
	if err := core.Core().V1().Pods().Informer().SetTransform(slimPod); err != nil {
		return nil, err
	}
	model.OnPublish(func(klog.Logger, *state.Snapshot) { c.queue.Add(worldKey) })
	// Status changes, node readiness (which the model does not track) and
	// pods do not publish a snapshot but are status inputs too.
	enqueue := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.queue.Add(worldKey) },
		UpdateFunc: func(any, any) { c.queue.Add(worldKey) },
		DeleteFunc: func(any) { c.queue.Add(worldKey) },
	}
	// Pods and nodes change by the thousand while a fleet schedules or
	// heartbeats, and each reconcile reads every object: their events
	// reconcile once per statusSettle, however many arrive.
	settle := func() { c.queue.AddAfter(worldKey, statusSettle) }
	// A pod's status changes often (conditions, container states); only
	// what countPods reads is worth a reconcile.
	podEvents := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { settle() },
		DeleteFunc: func(any) { settle() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*v1.Pod)
			n, ok2 := newObj.(*v1.Pod)
			if !ok1 || !ok2 || !equality.Semantic.DeepEqual(o.Labels, n.Labels) || o.Spec.SchedulerName != n.Spec.SchedulerName ||
				o.Spec.NodeName != n.Spec.NodeName || o.Status.Phase != n.Status.Phase {
				settle()
			}
		},
	}
	if _, err := core.Core().V1().Pods().Informer().AddEventHandler(podEvents); err != nil {
		return nil, err
	}
	// Counting pods before their list is in would write matchedPods: 0.
	c.synced = append(c.synced, core.Core().V1().Pods().Informer().HasSynced)
	// The Services that policies' dependencies name (which of them run).
	if _, err := core.Core().V1().Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { settle() }, UpdateFunc: func(any, any) { settle() }, DeleteFunc: func(any) { settle() },
	}); err != nil {
		return nil, err
	}
	c.synced = append(c.synced, core.Core().V1().Services().Informer().HasSynced)
	// A node's status changes with every heartbeat the kubelet writes: at
	// fleet scale many a second, and none changes a Site's status. Only
	// what updateSite reads (the node's labels, readiness and allocatable)
	// is worth a reconcile, so the work follows what changed, not the
	// fleet's size.
	nodeEvents := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { settle() },
		DeleteFunc: func(any) { settle() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*v1.Node)
			n, ok2 := newObj.(*v1.Node)
			if !ok1 || !ok2 || !maps.Equal(o.Labels, n.Labels) || nodeutil.IsNodeReady(o) != nodeutil.IsNodeReady(n) ||
				!apiequality.Semantic.DeepEqual(o.Status.Allocatable, n.Status.Allocatable) {
				settle()
			}
		},
	}
	if _, err := core.Core().V1().Nodes().Informer().AddEventHandler(nodeEvents); err != nil {
		return nil, err
	}
	c.synced = append(c.synced, core.Core().V1().Nodes().Informer().HasSynced)
	for _, inf := range []cache.SharedIndexInformer{
		p.Sites().Informer(), p.TrafficSources().Informer(), p.PlacementPolicies().Informer(),
	} {
		if _, err := inf.AddEventHandler(enqueue); err != nil {
			return nil, err
		}
		c.synced = append(c.synced, inf.HasSynced)
	}
	return c, nil
}

// slimPod keeps what countPods reads of a pod, and the deletion timestamp
// the rebalancer reads (it counts a policy's pods waiting to be scheduled
// from this informer).
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return obj, nil
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
			ResourceVersion: pod.ResourceVersion, Labels: pod.Labels, DeletionTimestamp: pod.DeletionTimestamp},
		Spec:   v1.PodSpec{SchedulerName: pod.Spec.SchedulerName, NodeName: pod.Spec.NodeName},
		Status: v1.PodStatus{Phase: pod.Status.Phase},
	}, nil
}

// SetSchedulerNames sets the schedulerNames that place pods with Proxima's
// rules (the profile names of its KubeSchedulerConfiguration; by default
// DefaultSchedulerName). Call it before Run.
func (c *Controller) SetSchedulerNames(names ...string) {
	c.schedulers = map[string]bool{}
	for _, n := range names {
		c.schedulers[n] = true
	}
}

// Model is the world model the controller keeps current (in Run), for
// other controllers of the same process to read.
func (c *Controller) Model() *state.Model { return c.model }

// Cluster is where the controller's informers say pods run, for other
// controllers of the same process to locate dependencies with
// (state.Cluster); its listers are synced when Model is.
func (c *Controller) Cluster() state.Cluster {
	return state.ListerCluster{PodLister: c.pods, NodeLister: c.nodes, ServiceLister: c.services}
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return fmt.Errorf("caches did not sync")
	}
	if err := c.model.WaitForCacheSync(ctx, time.Minute); err != nil {
		return err
	}
	go c.model.Run(ctx)
	logger.Info("Status controller started")
	go wait.UntilWithContext(ctx, c.work, time.Second)
	<-ctx.Done()
	return nil
}

func (c *Controller) work(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		err := c.reconcile(ctx)
		if err != nil {
			if onlyConflicts(err) {
				// Another writer (the rebalancer's status.rebalance)
				// got there first: read again and retry.
				klog.FromContext(ctx).V(2).Info("A status changed while reconciling; will retry", "err", err)
			} else {
				klog.FromContext(ctx).Error(err, "Reconciling placement status; will retry")
			}
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

func (c *Controller) reconcile(ctx context.Context) error {
	sites, err := c.sites.List(labels.Everything())
	if err != nil {
		return err
	}
	sources, err := c.sources.List(labels.Everything())
	if err != nil {
		return err
	}
	policies, err := c.policies.List(labels.Everything())
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	snap := c.model.Load()
	matched := c.countPods(snap, pods)
	bySite := map[string][]*v1.Node{}
	for _, n := range nodes {
		if site, ok := snap.SiteName(n); ok {
			bySite[site] = append(bySite[site], n)
		}
	}
	var errs []error
	for _, s := range sites {
		errs = append(errs, c.updateSite(ctx, s, bySite[s.Name]))
	}
	for _, s := range sources {
		errs = append(errs, c.updateSource(ctx, s, snap))
	}
	var plan scoring.Plan
	cluster := c.Cluster()
	for _, p := range policies {
		errs = append(errs, c.updatePolicy(ctx, p, snap, &plan, matched[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}], cluster))
	}
	return errors.Join(errs...)
}

// updateSite writes the counts and capacity of the site's nodes.
func (c *Controller) updateSite(ctx context.Context, site *placementv1alpha1.Site, nodes []*v1.Node) error {
	st := site.Status.DeepCopy()
	st.ObservedGeneration = site.Generation
	st.Nodes, st.ReadyNodes = 0, 0
	capacity := v1.ResourceList{}
	for _, n := range nodes {
		st.Nodes++
		if !nodeutil.IsNodeReady(n) {
			continue
		}
		st.ReadyNodes++
		for name, q := range n.Status.Allocatable {
			sum := capacity[name]
			sum.Add(q)
			capacity[name] = sum
		}
	}
	st.Capacity = nil
	if len(capacity) > 0 {
		st.Capacity = capacity
	}
	cond := metav1.Condition{Type: placementv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: placementv1alpha1.ReasonNodesReady, ObservedGeneration: site.Generation,
		Message: fmt.Sprintf("%d of %d nodes ready", st.ReadyNodes, st.Nodes)}
	if st.ReadyNodes == 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, placementv1alpha1.ReasonNoReadyNodes
		cond.Message = fmt.Sprintf("no ready node carries the label %s=%s (%d nodes)", placementv1alpha1.SiteLabel, site.Name, st.Nodes)
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if equalStatus(&site.Status, st) {
		return nil
	}
	obj := site.DeepCopy()
	obj.Status = *st
	_, err := c.client.PlacementV1alpha1().Sites().UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	return err
}

func (c *Controller) updateSource(ctx context.Context, src *placementv1alpha1.TrafficSource, snap *state.Snapshot) error {
	var unknown []string
	for _, r := range src.Spec.RTTs {
		if _, ok := snap.SiteIndex(r.Site); !ok {
			unknown = append(unknown, r.Site)
		}
	}
	cond := metav1.Condition{Type: placementv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: placementv1alpha1.ReasonResolved, ObservedGeneration: src.Generation,
		Message: fmt.Sprintf("all %d measured sites exist", len(src.Spec.RTTs))}
	if len(unknown) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, placementv1alpha1.ReasonUnknownSite
		cond.Message = "rtts name Sites that do not exist: " + strings.Join(unknown, ", ")
	}
	st := src.Status.DeepCopy()
	st.ObservedGeneration = src.Generation
	meta.SetStatusCondition(&st.Conditions, cond)
	if equalStatus(&src.Status, st) {
		return nil
	}
	obj := src.DeepCopy()
	obj.Status = *st
	_, err := c.client.PlacementV1alpha1().TrafficSources().UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	return err
}

// podCounts are a policy's matched pods and those of them that name another
// scheduler.
type podCounts struct{ matched, otherScheduler int32 }

// countPods resolves every unfinished pod's policy as the scheduler does.
func (c *Controller) countPods(snap *state.Snapshot, pods []*v1.Pod) map[types.NamespacedName]podCounts {
	out := map[types.NamespacedName]podCounts{}
	for _, pod := range pods {
		if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			continue
		}
		pol, err := snap.PolicyFor(pod)
		if err != nil || pol == nil {
			continue
		}
		key := types.NamespacedName{Namespace: pol.Namespace, Name: pol.Name}
		n := out[key]
		n.matched++
		if !c.schedulers[pod.Spec.SchedulerName] {
			n.otherScheduler++
		}
		out[key] = n
	}
	return out
}

func (c *Controller) updatePolicy(ctx context.Context, pol *placementv1alpha1.PlacementPolicy, snap *state.Snapshot, plan *scoring.Plan, pods podCounts,
	cluster state.Cluster) error {
	cond := metav1.Condition{Type: placementv1alpha1.ConditionReady, ObservedGeneration: pol.Generation}
	st := pol.Status.DeepCopy()
	st.ObservedGeneration = pol.Generation
	st.FeasibleSites = 0
	st.SitesWithoutNodes = nil
	st.MatchedPods, st.OtherSchedulerPods = pods.matched, pods.otherScheduler
	var rules scoring.Policy
	// Requests are unknown here: the cost cap is checked against a pod that
	// requests nothing, so only sites with unusable prices fail it.
	if err := snap.CorePolicy(&pol.Spec, state.Requests{}, &rules); err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, placementv1alpha1.ReasonUnknownSource, err.Error()
		var unknown *state.UnknownSourceError
		if !errors.As(err, &unknown) {
			cond.Reason = placementv1alpha1.ReasonInvalidRule
		}
	} else {
		plan.Evaluate(snap.World, &rules)
		st.FeasibleSites = int32(plan.NumFeasible())
		cond.Status, cond.Reason = metav1.ConditionTrue, placementv1alpha1.ReasonResolved
		cond.Message = fmt.Sprintf("%d of %d sites meet the hard rules", plan.NumFeasible(), snap.World.Sites.Len())
		if empty := feasibleWithoutNodes(snap, plan); len(empty) > 0 {
			n := len(empty)
			if n > maxSitesWithoutNodes {
				empty = empty[:maxSitesWithoutNodes]
			}
			st.SitesWithoutNodes = empty
			cond.Message += fmt.Sprintf("; %d of them without a labelled node: %s", n, strings.Join(empty, ", "))
			if n > len(empty) {
				cond.Message += fmt.Sprintf(" and %d more", n-len(empty))
			}
		}
		if plan.NumFeasible() == 0 {
			cond.Status, cond.Reason = metav1.ConditionFalse, placementv1alpha1.ReasonNoFeasibleSite
			cond.Message = "no site meets the hard rules"
			if s := plan.ExcludedSummary(); s != "" {
				cond.Message += ": " + s
			}
		}
	}
	if cond.Status == metav1.ConditionTrue {
		cond.Message += dependenciesNote(snap, pol, cluster)
	}
	if t := pol.Spec.Telemetry; t != nil && t.OnStale != nil && t.OnStale.NodeUtilization == "" && t.OnStale.NodeLoad != "" {
		cond.Message += "; telemetry.onStale.nodeLoad is deprecated: write onStale.nodeUtilization"
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if equalStatus(&pol.Status, st) {
		return nil
	}
	obj := pol.DeepCopy()
	obj.Status = *st
	_, err := c.client.PlacementV1alpha1().PlacementPolicies(pol.Namespace).UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	return err
}

// dependenciesNote tells, for the Ready message, which of the policy's
// dependencies run no pod yet (they count for nothing until one runs: a
// selector or Service name that matches nothing is usually a typo), and
// which cannot be located (their bound fails everywhere); "" when every
// dependency runs where it can be found.
func dependenciesNote(snap *state.Snapshot, pol *placementv1alpha1.PlacementPolicy, cluster state.Cluster) string {
	if len(pol.Spec.Dependencies) == 0 {
		return ""
	}
	var rp *state.ResolvedPolicy
	for _, p := range snap.Policies(pol.Namespace) {
		if p.Name == pol.Name {
			rp = &p
			break
		}
	}
	if rp == nil || rp.Generation != pol.Generation {
		return "" // the snapshot has another version; the next reconcile says
	}
	placed, err := snap.PlaceDependencies(rp, nil, cluster)
	if err != nil {
		return "; dependencies cannot be found: " + err.Error()
	}
	var idle, lost []string
	for _, d := range placed {
		switch {
		case !d.Placed():
			idle = append(idle, d.Name)
		case d.Unlocated > 0:
			lost = append(lost, d.Name)
		}
	}
	var out string
	if len(idle) > 0 {
		out += fmt.Sprintf("; dependencies running no pod yet, which count for nothing until one runs: %s", strings.Join(idle, ", "))
	}
	if len(lost) > 0 {
		out += fmt.Sprintf("; dependencies with pods in no known Site (or a Service without a selector), whose max RTT fails everywhere: %s", strings.Join(lost, ", "))
	}
	return out
}

// feasibleWithoutNodes names, sorted, the plan's feasible sites that no
// node belongs to. Until the model has indexed the whole node list it
// claims none.
func feasibleWithoutNodes(snap *state.Snapshot, plan *scoring.Plan) []string {
	if !snap.NodesIndexed() {
		return nil
	}
	var out []string
	for i, site := range snap.Sites() {
		if plan.SiteFeasible(i) && len(snap.NodesIn(i)) == 0 {
			out = append(out, site.Name)
		}
	}
	slices.Sort(out)
	return out
}

// onlyConflicts reports whether every error joined in err is a conflict.
func onlyConflicts(err error) bool {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			if !onlyConflicts(e) {
				return false
			}
		}
		return true
	}
	return apierrors.IsConflict(err)
}

// equalStatus reports whether an update would change nothing.
// SetStatusCondition keeps a condition's transition time when its status
// did not change, so an unchanged world compares equal.
func equalStatus(old, updated any) bool { return apiequality.Semantic.DeepEqual(old, updated) }
