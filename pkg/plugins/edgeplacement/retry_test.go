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

package edgeplacement

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

// A pod that failed at Filter is retried when its policy's spec changes,
// whatever changed: a relaxed hardware or load rule lets no new site pass
// PreFilter but can let a node pass Filter.
func TestWorthRetryingWhenItsPolicyChanges(t *testing.T) {
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", nil)}
	gpu := cheapest
	gpu.Hardware = &placementv1alpha1.HardwareRequirements{NodeSelector: []placementv1alpha1.NodeRequirement{{Key: "gpu", Operator: "Exists"}}}
	before := mkPolicy("p", 0, nil, gpu)
	before.UID, before.Generation = "p", 1
	pl := testPlugin(t, nodes, nil, before)
	pod := st.MakePod().Namespace(ns).Name("x").UID("x").Label(placementv1alpha1.PolicyLabel, "p").Obj()
	oldSnap := state.Build(state.Objects{Sites: pl.model.Load().Sites(), Sources: pl.model.Load().Sources(),
		Policies: []*placementv1alpha1.PlacementPolicy{before}})
	oldState, status := pl.evaluate(oldSnap, pod)
	if !status.IsSuccess() {
		t.Fatal(status)
	}
	relaxed := before.DeepCopy()
	relaxed.Spec.Hardware, relaxed.Generation = nil, 2
	for _, tc := range []struct {
		name   string
		policy *placementv1alpha1.PlacementPolicy
		want   bool
	}{
		{"hardware rule dropped", relaxed, true},
		{"same policy, another object", before.DeepCopy(), false},
	} {
		snap := state.Build(state.Objects{Sites: oldSnap.Sites(), Sources: oldSnap.Sources(), Policies: []*placementv1alpha1.PlacementPolicy{tc.policy}})
		if got, _ := pl.worthRetrying(waitingPod{pod: pod, snap: oldSnap, state: oldState}, snap); got != tc.want {
			t.Errorf("%s: worthRetrying = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A waiting pod is retried only when the change can let it pass: node load
// churn retries neither a pod refused for residency nor one whose policy
// does not bound load; a site coming back up retries the pod it was
// missing for; a pod judged on an older snapshot is judged again at once.
func TestWaitingPodsRetryOnlyWhatCanPass(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bounded := cheapest
	bounded.Telemetry = &placementv1alpha1.TelemetryPolicy{MaxNodeUtilizationPercent: ptr.To[int32](50)}
	usOnly := cheapest
	usOnly.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"US"}}}
	nodes := []fwk.NodeInfo{nodeInfo("ber-1", "ber", "4", nil), nodeInfo("par-1", "par", "4", nil)}
	var live atomic.Pointer[state.Live]
	live.Store(&state.Live{})
	pl := testPlugin(t, nodes, &live, mkPolicy("cheap", 0, nil, cheapest), mkPolicy("bounded", 0, nil, bounded), mkPolicy("us", 0, nil, usOnly))

	var mu sync.Mutex
	activated := sets.New[string]()
	took := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := sets.List(activated)
		activated = sets.New[string]()
		return out
	}
	pl.waiting = newWaitingPods(pl.model, func(_ klog.Logger, pods map[string]*v1.Pod) {
		mu.Lock()
		defer mu.Unlock()
		for k := range pods {
			activated.Insert(k)
		}
	}, pl.worthRetrying)
	go pl.waiting.run(ctx)

	// attempt runs PreFilter (and, when it passes, fails every candidate, as
	// a full cluster would): the pod waits.
	attempt := func(name, policy string) {
		pod := st.MakePod().Namespace(ns).Name(name).UID(name).Label(placementv1alpha1.PolicyLabel, policy).
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj()
		pl.PreFilter(ctx, framework.NewCycleState(), pod, nodes)
	}
	publish := func(l *state.Live) { publishLive(t, pl.model, &live, l) }
	waitFor := func(want []string) {
		t.Helper()
		var got []string
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*retryMaxBackoff, true, func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			got = sets.List(activated)
			return cmp.Equal(want, got), nil
		})
		if err != nil {
			t.Fatalf("activated %v, want %v", got, want)
		}
		took()
	}

	attempt("residency", "us") // no US site: refused before nodes
	attempt("cheap", "cheap")
	attempt("bounded", "bounded")
	loads := func(v float64) *state.Live {
		return &state.Live{NodeLoad: state.Signal[string, float64]{Enabled: true, Fresh: true, Values: map[string]float64{"ber-1": v, "par-1": v}}}
	}
	// Node load changes: only the pod whose policy bounds node load.
	publish(loads(0.9))
	waitFor([]string{ns + "/bounded"})
	attempt("bounded", "bounded")
	// Once more, with its backoff doubled; the others still wait.
	publish(loads(0.8))
	waitFor([]string{ns + "/bounded"})
	if n := pl.waiting.queue.NumRequeues("bounded"); n != 2 {
		t.Errorf("bounded was retried with backoff %d times, want 2", n)
	}

	// ber goes down: no pod can pass that could not before. It comes back
	// up: ber is feasible again for the cheap pod, which it was not on the
	// snapshot the pod was last judged on; the pod refused for residency
	// still has no site.
	health := func(up bool) *state.Live {
		l := loads(0.8)
		l.Health = state.Signal[string, bool]{Enabled: true, Fresh: true, Values: map[string]bool{"ber": up, "par": true, "zrh": true}}
		return l
	}
	publish(health(false))
	publish(health(true))
	waitFor([]string{ns + "/cheap"})

	// A pod judged on a snapshot older than the current one is judged again
	// as it is added.
	old := pl.model.Load()
	publish(health(false))
	pl.waiting.add(ctx, st.MakePod().Namespace(ns).Name("late").UID("late").Label(placementv1alpha1.PolicyLabel, "cheap").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "1"}).Obj(), old, nil)
	waitFor([]string{ns + "/late"})
}
