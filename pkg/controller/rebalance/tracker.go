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

package rebalance

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/simulate"
)

// Defaults of spec.rebalance, written once here and in the API's field
// docs.
const (
	DefaultGrace      = 60 * time.Second
	DefaultMinRTTGain = 5.0
	DefaultDwell      = 300 * time.Second
	DefaultCooldown   = 600 * time.Second
	DefaultMaxMoving  = 1
	// MoveTimeout is how long a move stays in flight without a bound
	// replacement before the rebalancer stops counting it (the replacement
	// may never come: the workload was scaled down or deleted, or it cannot
	// be placed).
	MoveTimeout = 10 * time.Minute
	// MisplacedHold is how long a workload is not moved again after a
	// replacement of it landed outside the move's target site, or was not
	// bound within MoveTimeout (HoldReturned).
	MisplacedHold = time.Hour
)

// Settings are a policy's spec.rebalance with the defaults applied.
type Settings struct {
	Mode                   placementv1alpha1.RebalanceMode
	Grace, Dwell, Cooldown time.Duration
	Thresholds             Thresholds
	OnUnhealthySite        placementv1alpha1.UnhealthySiteAction
	maxMoving              intstr.IntOrString
}

// SettingsOf applies the defaults to a policy's spec.rebalance.
func SettingsOf(r *placementv1alpha1.RebalancePolicy) Settings {
	s := Settings{Mode: placementv1alpha1.RebalanceOff, Grace: DefaultGrace, Dwell: DefaultDwell, Cooldown: DefaultCooldown,
		Thresholds: Thresholds{MinRTTGain: DefaultMinRTTGain}, maxMoving: intstr.FromInt32(DefaultMaxMoving)}
	if r == nil {
		return s
	}
	if r.Mode != "" {
		s.Mode = r.Mode
	}
	seconds := func(p *int32, d *time.Duration) {
		if p != nil {
			*d = time.Duration(*p) * time.Second
		}
	}
	seconds(r.GraceSeconds, &s.Grace)
	seconds(r.DwellSeconds, &s.Dwell)
	seconds(r.CooldownSeconds, &s.Cooldown)
	if r.MinRTTGainMilliseconds != nil {
		s.Thresholds.MinRTTGain = float64(*r.MinRTTGainMilliseconds)
	}
	if r.MinCostGainPercent != nil {
		s.Thresholds.MinCostGainShare = float64(*r.MinCostGainPercent) / 100
	}
	if r.MaxMoving != nil {
		s.maxMoving = *r.MaxMoving
	}
	s.OnUnhealthySite = r.OnUnhealthySite
	return s
}

// MaxMoving is how many of a policy's pods may move at once when it has
// running of them: maxMoving, a percentage rounded up, at least 1.
func (s Settings) MaxMoving(running int) int {
	n, err := intstr.GetScaledValueFromIntOrPercent(&s.maxMoving, running, true)
	if err != nil {
		return DefaultMaxMoving
	}
	return max(n, 1)
}

// Move is an eviction in flight: the evicted pod, and where its
// replacement was expected to land.
type Move struct {
	Pod      types.NamespacedName
	UID      types.UID
	Owner    types.UID
	Policy   types.NamespacedName
	ToNode   string
	Finding  Finding
	At       time.Time
	template *v1.Pod
}

// Tracker remembers across rounds what one round cannot see: since when a
// pod has had a finding of each kind (grace and dwell), and the moves in
// flight. It is not safe for concurrent use. A restarted rebalancer starts
// with an empty Tracker: grace and dwell start again (it waits longer,
// never less).
type Tracker struct {
	since    map[types.UID]seen
	moves    map[types.UID]*Move
	credited sets.Set[types.UID]
	// misplaced holds the workloads (by controller UID) whose last move
	// did not land where it was meant to, until a time.
	misplaced map[types.UID]misplaced
}

type misplaced struct {
	until time.Time
	why   string
}

type seen struct {
	kind  Kind
	since time.Time
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{since: map[types.UID]seen{}, moves: map[types.UID]*Move{}, credited: sets.New[types.UID](),
		misplaced: map[types.UID]misplaced{}}
}

// Observe records that pod has finding f (Kind 0: none) at now and returns
// since when it has had a finding of that kind.
func (t *Tracker) Observe(pod types.UID, k Kind, now time.Time) time.Time {
	if k == 0 {
		delete(t.since, pod)
		return now
	}
	s, ok := t.since[pod]
	if !ok || s.kind != k {
		s = seen{kind: k, since: now}
		t.since[pod] = s
	}
	return s.since
}

// Forget drops the timers of pods not in present.
func (t *Tracker) Forget(present sets.Set[types.UID]) {
	for uid := range t.since {
		if !present.Has(uid) {
			delete(t.since, uid)
		}
	}
}

// Due reports whether a finding of kind k first seen at since should be
// acted on at now for a pod created at created: a hard rule after the
// grace period, a better site after the dwell time and once the pod is
// older than the cooldown.
func (s Settings) Due(k Kind, since, created, now time.Time) bool {
	switch k {
	case HardRule:
		return now.Sub(since) >= s.Grace
	case BetterSite:
		return now.Sub(since) >= s.Dwell && now.Sub(created) >= s.Cooldown
	}
	return false
}

// Started records an eviction.
func (t *Tracker) Started(m *Move, pod *v1.Pod) {
	m.template = pod
	t.moves[m.UID] = m
	delete(t.since, m.UID)
}

// Settle ends the moves whose replacements are bound (a pod of the same
// controller created after the eviction, each counted for one move, one in
// the move's target site first) or that timed out, and reserves in w the
// target node of each move still in flight, so that no two moves count on
// the same room. A move whose replacement landed outside its target site,
// or that timed out, holds its workload (Misplaced) for MisplacedHold: the
// scheduler did not share the judgement, or a constraint the judgement
// does not model (a volume, a port, inter-pod affinity, topology spread)
// sent the pod elsewhere, and moving the workload again would loop. It
// returns the moves still in flight and those that ended with a bound
// replacement.
func (t *Tracker) Settle(w *simulate.World, now time.Time) (inFlight, landed []*Move) {
	present := sets.New[types.UID]()
	byOwner := map[types.UID][]*v1.Pod{}
	for _, p := range w.Pods {
		present.Insert(p.UID)
		if ref := controllerOf(p); ref != nil && p.Spec.NodeName != "" && !t.credited.Has(p.UID) {
			byOwner[ref.UID] = append(byOwner[ref.UID], p)
		}
	}
	for uid := range t.credited {
		if !present.Has(uid) {
			t.credited.Delete(uid)
		}
	}
	for owner, m := range t.misplaced {
		if !now.Before(m.until) {
			delete(t.misplaced, owner)
		}
	}
	siteOf := func(p *v1.Pod) string {
		if ni := w.Nodes[p.Spec.NodeName]; ni != nil {
			if name, ok := w.Snap.SiteName(ni.Node()); ok {
				return name
			}
		}
		return ""
	}
	// Replacements in a move's target site end that move first; then the
	// remaining moves take any replacement, oldest move first.
	ended := sets.New[types.UID]()
	order := slices.SortedFunc(maps.Values(t.moves), func(a, b *Move) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.UID, b.UID))
	})
	for _, inTarget := range []bool{true, false} {
		for _, m := range order {
			if ended.Has(m.UID) || present.Has(m.UID) {
				continue
			}
			i := t.replacement(byOwner[m.Owner], m.At, m.Finding.To, inTarget, siteOf)
			if i < 0 {
				continue
			}
			p := byOwner[m.Owner][i]
			t.credited.Insert(p.UID)
			byOwner[m.Owner] = append(byOwner[m.Owner][:i], byOwner[m.Owner][i+1:]...)
			delete(t.moves, m.UID)
			ended.Insert(m.UID)
			if site := siteOf(p); site != m.Finding.To {
				t.misplaced[m.Owner] = misplaced{until: now.Add(MisplacedHold),
					why: fmt.Sprintf("pod %s, evicted toward site %s, was replaced by pod %s in site %q", m.Pod.Name, m.Finding.To, p.Name, site)}
			}
			landed = append(landed, m)
		}
	}
	for _, m := range order {
		if ended.Has(m.UID) {
			continue
		}
		if now.Sub(m.At) > MoveTimeout {
			delete(t.moves, m.UID)
			t.misplaced[m.Owner] = misplaced{until: now.Add(MisplacedHold),
				why: fmt.Sprintf("pod %s, evicted toward site %s, had no bound replacement within %v", m.Pod.Name, m.Finding.To, MoveTimeout)}
			continue
		}
		w.Reserve(m.template, m.ToNode)
		inFlight = append(inFlight, m)
	}
	return inFlight, landed
}

// Misplaced says why moves of the workload controlled by owner are held
// (HoldReturned), or "".
func (t *Tracker) Misplaced(owner types.UID) string { return t.misplaced[owner].why }

// replacement is the index of a pod created after at, in site to when
// inTarget, or -1.
func (t *Tracker) replacement(pods []*v1.Pod, at time.Time, to string, inTarget bool, siteOf func(*v1.Pod) string) int {
	for i, p := range pods {
		// Creation timestamps have a resolution of one second.
		if p.CreationTimestamp.Time.Before(at.Truncate(time.Second)) {
			continue
		}
		if !inTarget || siteOf(p) == to {
			return i
		}
	}
	return -1
}

// Moving reports whether an eviction of pod is in flight.
func (t *Tracker) Moving(uid types.UID) bool { _, ok := t.moves[uid]; return ok }

// round rounds a gain for status; nil when unknown.
func round(x float64) *int32 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	v := int32(math.Round(max(min(x, math.MaxInt32), math.MinInt32)))
	return &v
}
