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

// Package rebalance is the rebalancer: it judges the running pods of the
// PlacementPolicies that opt in (spec.rebalance) against the current world,
// with the scheduler's own world model and choice (pkg/state,
// pkg/simulate), and moves a pod by evicting it through the Eviction API,
// so that PodDisruptionBudgets hold and the pod's controller recreates it
// for the scheduler to place again.
//
// A pod should move when its site breaks a hard rule of its policy for
// longer than the grace period (HardRule), or when the site the scheduler
// would choose for it now beats its site by the policy's thresholds for
// longer than the dwell time and the pod is older than the cooldown
// (BetterSite). Each round (every Interval) the rebalancer
//
//  1. builds the world from the model's snapshot and the bound pods, and
//     reserves the target node of every move in flight;
//  2. judges every governed pod (Judge) and keeps its grace and dwell
//     timers (Tracker);
//  3. takes the due findings, hard rules first, then by RTT gain, and
//     judges each again against the world with the earlier ones reserved,
//     so no two moves count on the same room and no pod is evicted toward
//     a site without room;
//  4. in mode On, evicts them while the policy's maxMoving, the global rate
//     limit and PodDisruptionBudgets allow, unless live telemetry is stale
//     or the API server failed its last request (then it moves nothing);
//  5. writes status.rebalance and the metrics; DryRun stops before 4 and
//     reports the same candidates.
package rebalance

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	listers "github.com/proxima-sched/proxima/pkg/generated/listers/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
)

// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims;persistentvolumes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=placement.proxima.dev,resources=placementpolicies/status,verbs=update

// Event reasons.
const (
	// EventRebalance: a pod was evicted to move (on the pod and its policy).
	EventRebalance = "Rebalance"
	// EventRebalanceBlocked: a PodDisruptionBudget refused an eviction.
	EventRebalanceBlocked = "RebalanceBlocked"
)

// maxStatusPods is how many candidates status.rebalance.pods names.
const maxStatusPods = 16

// Config wires a Rebalancer.
type Config struct {
	Kube      kubernetes.Interface
	Placement versioned.Interface
	// Model is the world model (the status controller's).
	Model *state.Model
	// Nodes and Pods list the cluster's nodes and bound pods (unslimmed).
	Nodes corelisters.NodeLister
	Pods  corelisters.PodLister
	// AllPods lists every pod, bound or not (namespace, labels,
	// deletionTimestamp, schedulerName, nodeName and phase are enough): a
	// policy's pods waiting to be scheduled count as moving.
	AllPods  corelisters.PodLister
	Policies listers.PlacementPolicyLister
	// Services list the Services that policies' dependencies may name;
	// without it, such a policy's pods are not judged (fail closed).
	Services corelisters.ServiceLister
	// Jobs, PVCs and PVs list what decides whether a Job's pod or a pod
	// with volumes may move; without them, such pods never move.
	Jobs batchlisters.JobLister
	PVCs corelisters.PersistentVolumeClaimLister
	PVs  corelisters.PersistentVolumeLister
	// Synced report whether the informers have synced.
	Synced []cache.InformerSynced
	// Settings are the scheduler's (GPU resources, minCandidateNodes,
	// legacy site label), so that the rebalancer predicts its choice.
	Settings simulate.Settings
	// SchedulerNames place pods with Proxima's rules; a pod naming another
	// scheduler is never moved (another scheduler would place it again).
	SchedulerNames []string
	// Interval between rounds.
	Interval time.Duration
	// EvictionsPerMinute is the global rate limit of evictions.
	EvictionsPerMinute float64
	// TelemetryStale, when set, names the enabled live signals without a
	// fresh read; while any is, the rebalancer moves nothing.
	TelemetryStale func() []string
	// Recorder records events; nil records none.
	Recorder events.EventRecorder
	// Clock; nil is the real clock.
	Clock clock.Clock
}

// Rebalancer moves pods; see the package doc.
type Rebalancer struct {
	cfg        Config
	clock      clock.Clock
	tracker    *Tracker
	limiter    flowcontrol.RateLimiter
	schedulers sets.Set[string]
	// apiBackoff holds moves after a failed API request, until apiRetry.
	apiBackoff *flowcontrol.Backoff
	apiRetry   time.Time
	// reported are the policies whose gauges the last round set.
	reported sets.Set[types.NamespacedName]
}

// New returns a Rebalancer; call Run.
func New(cfg Config) *Rebalancer {
	registerMetrics()
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	perMinute := cfg.EvictionsPerMinute
	if perMinute <= 0 {
		perMinute = 30
	}
	return &Rebalancer{
		cfg: cfg, clock: clk, tracker: NewTracker(),
		limiter:    flowcontrol.NewTokenBucketRateLimiterWithClock(float32(perMinute/60), max(1, int(math.Ceil(perMinute/6))), clk),
		schedulers: sets.New(cfg.SchedulerNames...),
		apiBackoff: flowcontrol.NewBackOffWithJitter(5*time.Second, 5*time.Minute, 0.1),
		reported:   sets.New[types.NamespacedName](),
	}
}

// Run judges every Interval until ctx ends.
func (r *Rebalancer) Run(ctx context.Context) {
	logger := klog.FromContext(ctx).WithName("rebalancer")
	ctx = klog.NewContext(ctx, logger)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, r.cfg.Synced...) {
		return
	}
	logger.Info("Rebalancer started", "interval", r.cfg.Interval, "evictionsPerMinute", r.cfg.EvictionsPerMinute)
	wait.UntilWithContext(ctx, r.Round, r.cfg.Interval)
}

// candidate is a due finding of a pod.
type candidate struct {
	pod *v1.Pod
	Finding
	settings Settings
}

// policyRound is one policy's part of a round.
type policyRound struct {
	policy     *placementv1alpha1.PlacementPolicy
	settings   Settings
	running    int
	waiting    [3]int32
	candidates []candidate
	held       []candidate
	moving     int
	// evicted are the candidates evicted this round (moving now, no
	// longer candidates).
	evicted sets.Set[types.UID]
}

// Round judges once and acts on what it finds.
func (r *Rebalancer) Round(ctx context.Context) {
	logger := klog.FromContext(ctx)
	now := r.clock.Now()
	policies, err := r.cfg.Policies.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing PlacementPolicies")
		return
	}
	rounds := map[types.NamespacedName]*policyRound{}
	for _, p := range policies {
		s := SettingsOf(p.Spec.Rebalance)
		if s.Mode != placementv1alpha1.RebalanceDryRun && s.Mode != placementv1alpha1.RebalanceOn {
			r.clearStatus(ctx, p)
			continue
		}
		rounds[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = &policyRound{policy: p, settings: s}
	}
	nodes, err := r.cfg.Nodes.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing nodes")
		return
	}
	pods, err := r.cfg.Pods.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing pods")
		return
	}
	snap := r.cfg.Model.Load()
	w := simulate.New(snap, nodes, pods, r.cfg.Settings)
	w.ServicesErr = state.ErrNoServices
	if r.cfg.Services != nil {
		w.Services, w.ServicesErr = r.cfg.Services.List(labels.Everything())
	}
	inFlight, _ := r.tracker.Settle(w, now)
	for _, m := range inFlight {
		if pr := rounds[m.Policy]; pr != nil {
			pr.moving++
		}
	}
	r.countWaiting(snap, rounds)

	// Pass 1: judge every governed pod and keep its timers.
	present := sets.New[types.UID]()
	var due []candidate
	for _, pod := range pods {
		present.Insert(pod.UID)
		if !r.movable(pod) {
			continue
		}
		policy, err := snap.PolicyFor(pod)
		var pr *policyRound
		if err == nil && policy != nil {
			pr = rounds[types.NamespacedName{Namespace: policy.Namespace, Name: policy.Name}]
		}
		if pr == nil {
			r.tracker.Observe(pod.UID, 0, now)
			continue
		}
		pr.running++
		f, ok := Judge(w, pod, pr.settings.Thresholds, r.guards(w, pr.settings))
		if ok {
			if why := r.tracker.Misplaced(controllerOf(pod).UID); why != "" {
				ok, f.Hold = false, HoldReturned
				f.Message = fmt.Sprintf("%s, but the workload's last move did not land where it was meant to (%s)", f.Message, why)
			}
		}
		if logger.V(5).Enabled() {
			logger.V(5).Info("Judged a pod", "pod", klog.KObj(pod), "policy", klog.KObj(pr.policy), "move", ok, "reason", f.Kind,
				"hold", f.Hold, "fromSite", f.From, "toSite", f.To, "message", f.Message)
		}
		if !ok {
			switch {
			case f.Hold == HoldNoRoom:
				// Nowhere with room to go: it waits, and its grace
				// keeps counting.
				r.tracker.Observe(pod.UID, HardRule, now)
			default:
				// Every other hold starts the timers again once it
				// lifts: grace and dwell count only time the move was
				// allowed.
				r.tracker.Observe(pod.UID, 0, now)
			}
			if f.Hold != "" {
				pr.waiting[f.Kind]++
				pr.held = append(pr.held, candidate{pod: pod, Finding: f, settings: pr.settings})
			}
			continue
		}
		since := r.tracker.Observe(pod.UID, f.Kind, now)
		if !pr.settings.Due(f.Kind, since, pod.CreationTimestamp.Time, now) {
			pr.waiting[f.Kind]++
			continue
		}
		due = append(due, candidate{pod: pod, Finding: f, settings: pr.settings})
	}
	r.tracker.Forget(present)

	// Pass 2: hard rules first, then the largest gains; each judged again
	// with the earlier moves' room reserved.
	slices.SortStableFunc(due, func(a, b candidate) int {
		if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		if c := cmp.Compare(gainOrZero(b.RTTGain), gainOrZero(a.RTTGain)); c != 0 {
			return c
		}
		return cmp.Compare(a.pod.Namespace+"/"+a.pod.Name, b.pod.Namespace+"/"+b.pod.Name)
	})
	// A better site is judged with the pod's dependencies where they run
	// now: one whose dependency is moving (in flight, or chosen earlier in
	// this round) waits for it to land, or two pods that call each other
	// would each move to the other's site and swap back and forth. So does
	// a breach that a moving dependency may be making, for the moment:
	// its RTT bound, or a cost cap over the traffic's egress.
	moving := make([]*v1.Pod, 0, len(inFlight))
	for _, m := range inFlight {
		if m.template != nil {
			moving = append(moving, m.template)
		}
	}
	for _, c := range due {
		if (c.Kind == BetterSite || c.Rule == scoring.ReasonDependencyRTT || c.Rule == scoring.ReasonMaxCost) && DependsOnAny(c.Policy, moving) {
			pr := rounds[types.NamespacedName{Namespace: c.Policy.Namespace, Name: c.Policy.Name}]
			pr.waiting[c.Kind]++
			continue
		}
		f, ok := Judge(w, c.pod, c.settings.Thresholds, r.guards(w, c.settings))
		if !ok || f.Kind != c.Kind {
			continue
		}
		w.Reserve(c.pod, f.ToNode)
		moving = append(moving, c.pod)
		pr := rounds[types.NamespacedName{Namespace: f.Policy.Namespace, Name: f.Policy.Name}]
		pr.candidates = append(pr.candidates, candidate{pod: c.pod, Finding: f, settings: c.settings})
	}

	paused := r.paused(now, snap)
	for key, pr := range rounds {
		if pr.settings.Mode == placementv1alpha1.RebalanceOn && paused == "" {
			r.move(ctx, key, pr, snap, now)
		}
		r.report(ctx, key, pr, paused)
	}
	r.forgetMetrics(rounds)
	roundsTotal.Inc()
}

// DependsOnAny reports whether one of policy's dependencies selects one of
// pods (a dependency on a Service: any pod of its namespace).
func DependsOnAny(policy *state.ResolvedPolicy, pods []*v1.Pod) bool {
	if policy == nil || len(policy.Spec.Dependencies) == 0 {
		return false
	}
	for _, p := range pods {
		if policy.DependsOn(p) {
			return true
		}
	}
	return false
}

func gainOrZero(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

// countWaiting raises each policy's moving count to the number of its
// pods waiting to be scheduled: a move the Tracker does not know (made
// before a restart, or by someone else) is still a pod out of service, and
// a policy whose pods cannot all be placed should not have more of them
// evicted.
func (r *Rebalancer) countWaiting(snap *state.Snapshot, rounds map[types.NamespacedName]*policyRound) {
	if r.cfg.AllPods == nil || len(rounds) == 0 {
		return
	}
	all, err := r.cfg.AllPods.List(labels.Everything())
	if err != nil {
		return
	}
	waiting := map[types.NamespacedName]int{}
	for _, p := range all {
		if p.Spec.NodeName != "" || p.DeletionTimestamp != nil || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed ||
			!r.schedulers.Has(p.Spec.SchedulerName) {
			continue
		}
		if policy, err := snap.PolicyFor(p); err == nil && policy != nil {
			waiting[types.NamespacedName{Namespace: policy.Namespace, Name: policy.Name}]++
		}
	}
	for key, n := range waiting {
		if pr := rounds[key]; pr != nil {
			pr.moving = max(pr.moving, n)
		}
	}
}

// movable reports whether pod may be moved now: Unmovable says nothing
// against it and no eviction of it is in flight.
func (r *Rebalancer) movable(pod *v1.Pod) bool {
	rule, _ := Unmovable(pod, r.schedulers, r.jobs())
	return rule == "" && !r.tracker.Moving(pod.UID)
}

// jobs reads Jobs from the lister; nil without one.
func (r *Rebalancer) jobs() Jobs {
	if r.cfg.Jobs == nil {
		return nil
	}
	return func(namespace, name string) (*batchv1.Job, error) { return r.cfg.Jobs.Jobs(namespace).Get(name) }
}

// guards are Judge's guards for a policy's pods in w.
func (r *Rebalancer) guards(w *simulate.World, s Settings) Guards {
	return Guards{OnUnhealthySite: s.OnUnhealthySite, Volumes: VolumeGuard(r.cfg.PVCs, r.cfg.PVs, w.Node)}
}

func controllerOf(pod *v1.Pod) *metav1.OwnerReference { return metav1.GetControllerOf(pod) }

// paused says why no pod moves now, or "".
func (r *Rebalancer) paused(now time.Time, snap *state.Snapshot) string {
	var why []string
	stale := []string(nil)
	if r.cfg.TelemetryStale != nil {
		stale = r.cfg.TelemetryStale()
	}
	if len(stale) > 0 {
		why = append(why, fmt.Sprintf("live telemetry is stale (%s)", strings.Join(stale, ", ")))
		pausedGauge.WithLabelValues("telemetry").Set(1)
	} else {
		pausedGauge.WithLabelValues("telemetry").Set(0)
	}
	if now.Before(r.apiRetry) {
		why = append(why, fmt.Sprintf("the API server failed a request; retrying at %s", r.apiRetry.UTC().Format(time.RFC3339)))
		pausedGauge.WithLabelValues("apiserver").Set(1)
	} else {
		pausedGauge.WithLabelValues("apiserver").Set(0)
	}
	// While the RTT model is refitted beside the world model's worker, the
	// scheduler may hold another fit: judge again once it is done.
	if snap.FitPending() {
		why = append(why, "the RTT model is being refitted to new measurements")
		pausedGauge.WithLabelValues("fit").Set(1)
	} else {
		pausedGauge.WithLabelValues("fit").Set(0)
	}
	if len(why) == 0 {
		return ""
	}
	return "moving nothing: " + strings.Join(why, "; ")
}

// move evicts the policy's candidates as its maxMoving and the rate limit
// allow.
func (r *Rebalancer) move(ctx context.Context, key types.NamespacedName, pr *policyRound, snap *state.Snapshot, now time.Time) {
	logger := klog.FromContext(ctx)
	allowed := pr.settings.MaxMoving(pr.running) - pr.moving
	for _, c := range pr.candidates {
		if allowed <= 0 || now.Before(r.apiRetry) || r.worldChanged(snap, pr.policy) || !r.limiter.TryAccept() {
			return
		}
		pod := c.pod
		err := r.cfg.Kube.PolicyV1().Evictions(pod.Namespace).Evict(ctx, &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}},
		})
		reason := c.Kind.String()
		switch {
		case err == nil:
			evictions.WithLabelValues(key.Namespace, key.Name, reason, resultEvicted).Inc()
			if !math.IsNaN(c.RTTGain) {
				rttGain.WithLabelValues(key.Namespace, key.Name).Observe(c.RTTGain)
			}
			if !math.IsNaN(c.CostGain) {
				costGain.WithLabelValues(key.Namespace, key.Name).Observe(c.CostGain)
			}
			r.tracker.Started(&Move{Pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, UID: pod.UID,
				Owner: controllerOf(pod).UID, Policy: key, ToNode: c.ToNode, Finding: c.Finding, At: now}, pod)
			pr.moving++
			allowed--
			if pr.evicted == nil {
				pr.evicted = sets.New[types.UID]()
			}
			pr.evicted.Insert(pod.UID)
			note := fmt.Sprintf("Evicted to move from site %s to site %s: %s%s", c.From, c.To, c.Message, gainNote(c.Finding))
			logger.Info("Evicted a pod to move it", "pod", klog.KObj(pod), "policy", key, "reason", reason,
				"fromSite", c.From, "toSite", c.To, "message", c.Message, "rttGainMs", c.RTTGain)
			r.event(pod, pr.policy, v1.EventTypeNormal, EventRebalance, note)
			r.event(pr.policy, pod, v1.EventTypeNormal, EventRebalance, fmt.Sprintf("Pod %s: %s", pod.Name, note))
			r.apiBackoff.Reset(backoffKey)
		case apierrors.IsTooManyRequests(err):
			// A PodDisruptionBudget allows no disruption now.
			evictions.WithLabelValues(key.Namespace, key.Name, reason, resultBlockedByPDB).Inc()
			logger.V(2).Info("A PodDisruptionBudget refused the eviction", "pod", klog.KObj(pod), "err", err)
			r.event(pod, pr.policy, v1.EventTypeWarning, EventRebalanceBlocked,
				fmt.Sprintf("Not moved from site %s to site %s (%s): %v", c.From, c.To, c.Message, err))
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			evictions.WithLabelValues(key.Namespace, key.Name, reason, resultGone).Inc()
		default:
			evictions.WithLabelValues(key.Namespace, key.Name, reason, resultError).Inc()
			r.apiBackoff.Next(backoffKey, now)
			r.apiRetry = now.Add(r.apiBackoff.Get(backoffKey))
			logger.Error(err, "Evicting a pod failed; moving nothing until the API server answers", "pod", klog.KObj(pod), "retryAt", r.apiRetry)
			return
		}
	}
}

const backoffKey = "apiserver"

// worldChanged reports whether the policy's spec (or its existence), the
// sites, sources and their live values, or the policy index changed since
// the round began with snap: its candidates were judged on a world that no
// longer holds, and the next round judges them again.
func (r *Rebalancer) worldChanged(snap *state.Snapshot, p *placementv1alpha1.PlacementPolicy) bool {
	if c := r.cfg.Model.Load().ChangedSince(snap); c.Sites || c.Policies {
		return true
	}
	cur, err := r.cfg.Policies.PlacementPolicies(p.Namespace).Get(p.Name)
	return err != nil || cur.UID != p.UID || cur.Generation != p.Generation
}

func gainNote(f Finding) string {
	var parts []string
	if !math.IsNaN(f.RTTGain) {
		parts = append(parts, fmt.Sprintf("expected latency objective gain %.0f ms", f.RTTGain))
	}
	if !math.IsNaN(f.CostGain) && f.CostGain != 0 {
		parts = append(parts, fmt.Sprintf("hourly cost gain %.4g", f.CostGain))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func (r *Rebalancer) event(regarding, related runtime.Object, typ, reason, note string) {
	if r.cfg.Recorder != nil {
		r.cfg.Recorder.Eventf(regarding, related, typ, reason, "Evict", "%s", note)
	}
}

// report writes status.rebalance and the metrics for one policy.
func (r *Rebalancer) report(ctx context.Context, key types.NamespacedName, pr *policyRound, paused string) {
	mode := string(pr.settings.Mode)
	var counts [3]float64
	st := &placementv1alpha1.RebalanceStatus{Waiting: pr.waiting[HardRule] + pr.waiting[BetterSite], Moving: int32(pr.moving), Message: paused}
	byName := slices.DeleteFunc(slices.Clone(pr.candidates), func(c candidate) bool { return pr.evicted.Has(c.pod.UID) })
	slices.SortFunc(byName, func(a, b candidate) int { return cmp.Compare(a.pod.Name, b.pod.Name) })
	for _, c := range byName {
		counts[c.Kind]++
		if len(st.Pods) < maxStatusPods {
			st.Pods = append(st.Pods, placementv1alpha1.RebalanceCandidate{Pod: c.pod.Name, FromSite: c.From, ToSite: c.To,
				Reason: c.Kind.String(), Message: truncate(c.Message, 1024), RTTGainMilliseconds: round(c.RTTGain)})
		}
	}
	st.Candidates = int32(len(byName))
	held := slices.Clone(pr.held)
	slices.SortFunc(held, func(a, b candidate) int { return cmp.Compare(a.pod.Name, b.pod.Name) })
	for _, c := range held[:min(len(held), maxStatusPods)] {
		st.Held = append(st.Held, placementv1alpha1.RebalanceHeld{Pod: c.pod.Name, FromSite: c.From, Rule: string(c.Hold),
			Message: truncate(c.Message, 1024)})
	}
	for _, k := range []Kind{HardRule, BetterSite} {
		candidatesGauge.WithLabelValues(key.Namespace, key.Name, k.String(), mode).Set(counts[k])
		waitingGauge.WithLabelValues(key.Namespace, key.Name, k.String()).Set(float64(pr.waiting[k]))
	}
	movingGauge.WithLabelValues(key.Namespace, key.Name).Set(float64(pr.moving))
	if equality.Semantic.DeepEqual(pr.policy.Status.Rebalance, st) {
		return
	}
	obj := pr.policy.DeepCopy()
	obj.Status.Rebalance = st
	if _, err := r.cfg.Placement.PlacementV1alpha1().PlacementPolicies(obj.Namespace).UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil &&
		!apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		klog.FromContext(ctx).Error(err, "Writing status.rebalance", "policy", key)
	}
}

// clearStatus removes status.rebalance from a policy that no longer opts in.
func (r *Rebalancer) clearStatus(ctx context.Context, p *placementv1alpha1.PlacementPolicy) {
	if p.Status.Rebalance == nil {
		return
	}
	obj := p.DeepCopy()
	obj.Status.Rebalance = nil
	if _, err := r.cfg.Placement.PlacementV1alpha1().PlacementPolicies(obj.Namespace).UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil &&
		!apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		klog.FromContext(ctx).Error(err, "Clearing status.rebalance", "policy", klog.KObj(p))
	}
}

// forgetMetrics drops the gauges of policies reported in an earlier round
// that no longer opt in, or no longer exist.
func (r *Rebalancer) forgetMetrics(rounds map[types.NamespacedName]*policyRound) {
	for key := range r.reported {
		if rounds[key] != nil {
			continue
		}
		for _, k := range []Kind{HardRule, BetterSite} {
			for _, mode := range []string{string(placementv1alpha1.RebalanceDryRun), string(placementv1alpha1.RebalanceOn)} {
				candidatesGauge.DeleteLabelValues(key.Namespace, key.Name, k.String(), mode)
			}
			waitingGauge.DeleteLabelValues(key.Namespace, key.Name, k.String())
		}
		movingGauge.DeleteLabelValues(key.Namespace, key.Name)
		r.reported.Delete(key)
	}
	for key := range rounds {
		r.reported.Insert(key)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
