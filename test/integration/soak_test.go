//go:build soak

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

package integration

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// TestSoakRebalancer churns policies, sites' health, live RTTs and prices
// (values changing, series vanishing and coming back) at random for
// PROXIMA_SOAK_DURATION (default 30m; `make soak`) on the real control
// plane with kube-controller-manager, two Deployments under rebalancing
// policies, then restores a calm world and checks: no pod lost (every
// Deployment back to its replicas, Ready), no pod moved for a better site
// younger than the cooldown, no bound pod breaking its policy's hard rules
// by the fault matrix's checker, and every eviction explained by a
// Rebalance event that names a rule or a gain.
func TestSoakRebalancer(t *testing.T) {
	duration := 30 * time.Minute
	if v := os.Getenv("PROXIMA_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PROXIMA_SOAK_DURATION: %v", err)
		}
		duration = d
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %v", seed, duration)
	rng := rand.New(rand.NewPCG(seed, 1))

	e := newRebalanceEnv(t, true)
	sites := []siteSpec{
		{name: "de", country: "DE", tags: []string{"EU"}, cpuPrice: "0.06", nodes: 2},
		{name: "fr", country: "FR", tags: []string{"EU"}, cpuPrice: "0.05", nodes: 2},
		{name: "nl", country: "NL", tags: []string{"EU"}, cpuPrice: "0.04", nodes: 2},
		{name: "ch", country: "CH", cpuPrice: "0.03", nodes: 2},
		{name: "us", country: "US", cpuPrice: "0.02", nodes: 2},
	}
	base := map[string]float64{"de": 0.010, "fr": 0.018, "nl": 0.022, "ch": 0.015, "us": 0.090}
	declared := map[string]int32{}
	for _, s := range sites {
		e.site(s)
		e.exp.Up.WithLabelValues(s.name).Set(1)
		e.exp.Price.WithLabelValues(s.name).Set(1)
		e.exp.RTT.WithLabelValues("users", s.name).Set(base[s.name])
		declared[s.name] = int32(base[s.name] * 1000)
	}
	e.source("users", declared)
	const cooldown = 8
	eu := latencyPolicy("users")
	eu.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	eu.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 2, 3, cooldown)
	eu.Rebalance.MaxMoving = nil
	e.policy("eu", eu)
	mixed := latencyPolicy("users")
	mixed.Weights = &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1), Cost: ptr.To[int32](1)}
	mixed.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 2, 3, cooldown)
	mixed.Rebalance.MinRTTGainMilliseconds = ptr.To[int32](5)
	mixed.Rebalance.MinCostGainPercent = ptr.To[int32](15)
	e.policy("mixed", mixed)
	replicas := map[string]int{"api": 6, "shop": 4}
	e.deployment("api", "eu", int32(replicas["api"]), "250m")
	e.deployment("shop", "mixed", int32(replicas["shop"]), "250m")

	// Every deletion of a pod, with its age, as the pod informer sees it.
	var mu sync.Mutex
	evictedAge := map[string]time.Duration{}
	factory := informers.NewSharedInformerFactoryWithOptions(e.cp.Client, 0, informers.WithNamespace(e.ns))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, n any) {
		if p, ok := n.(*v1.Pod); ok && p.DeletionTimestamp != nil {
			mu.Lock()
			if _, seen := evictedAge[p.Name]; !seen {
				evictedAge[p.Name] = time.Since(p.CreationTimestamp.Time)
			}
			mu.Unlock()
		}
	}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	// Shutdown waits for the informers, which stop once ctx is cancelled.
	defer func() {
		cancel()
		factory.Shutdown()
	}()
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)

	names := []string{"de", "fr", "nl", "ch", "us"}
	countries := [][]placementv1alpha1.CountryCode{nil, {"DE", "FR"}, {"FR", "NL"}, {"DE", "NL", "FR"}}
	var changes, vanished, downs, narrowings int
	end := time.Now().Add(duration)
	for time.Now().Before(end) {
		site := names[rng.IntN(len(names))]
		switch k := rng.IntN(10); {
		case k < 4:
			e.exp.RTT.WithLabelValues("users", site).Set(base[site] * (0.6 + 0.9*rng.Float64()))
		case k < 6:
			e.exp.Price.WithLabelValues(site).Set(0.5 + rng.Float64())
		case k == 6:
			// A series vanishes (its exporter restarts), and comes back.
			e.exp.RTT.DeleteLabelValues("users", site)
			e.exp.Price.DeleteLabelValues(site)
			vanished++
			time.AfterFunc(time.Duration(5+rng.IntN(20))*time.Second, func() {
				e.exp.RTT.WithLabelValues("users", site).Set(base[site])
				e.exp.Price.WithLabelValues(site).Set(1)
			})
		case k == 7:
			e.exp.Up.WithLabelValues(site).Set(0)
			downs++
			time.AfterFunc(time.Duration(3+rng.IntN(15))*time.Second, func() { e.exp.Up.WithLabelValues(site).Set(1) })
		default:
			allowed := countries[rng.IntN(len(countries))]
			e.setMode("eu", func(s *placementv1alpha1.PlacementPolicySpec) {
				s.Residency.Allowed = &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}
				if allowed != nil {
					s.Residency.Allowed = &placementv1alpha1.Areas{Countries: allowed}
				}
			})
			narrowings++
		}
		changes++
		time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
	}

	// A calm world: every series back at its base, every site up, the EU
	// residency; then wait for the workloads to settle.
	time.Sleep(30 * time.Second) // the last restorations fire
	for _, s := range names {
		e.exp.Up.WithLabelValues(s).Set(1)
		e.exp.Price.WithLabelValues(s).Set(1)
		e.exp.RTT.WithLabelValues("users", s).Set(base[s])
	}
	e.setMode("eu", func(s *placementv1alpha1.PlacementPolicySpec) {
		s.Residency.Allowed = &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}
	})
	e.eventually("every Deployment back to its replicas, all Ready", 5*time.Minute, func() bool {
		pods, err := e.cp.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		ready := map[string]int{}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp == nil && podutil.IsPodReady(p) {
				ready[p.Labels["app"]]++
			}
		}
		return ready["api"] == replicas["api"] && ready["shop"] == replicas["shop"]
	})
	time.Sleep(20 * time.Second) // moves the calm world calls for
	e.eventually("no move in flight", 5*time.Minute, func() bool {
		p := e.policyStatus("eu").Status.Rebalance
		q := e.policyStatus("mixed").Status.Rebalance
		return p != nil && q != nil && p.Moving == 0 && q.Moving == 0 && p.Candidates == 0 && q.Candidates == 0
	})

	var want []*v1.Pod
	pods, err := e.cp.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			want = append(want, &pods.Items[i])
		}
	}
	// The checker reads the policy from the pod's label.
	for _, p := range want {
		if p.Labels[placementv1alpha1.PolicyLabel] == "" {
			t.Fatalf("pod %s has no policy label", p.Name)
		}
	}
	v := judge(t, e.env, want)
	for _, l := range v.lost {
		t.Errorf("lost: %s", l)
	}
	// Rescheduled replacements keep their names unique; a pod scheduled
	// twice would be a violation too.
	for _, msg := range v.violations {
		t.Errorf("hard rule: %s", msg)
	}

	events := e.events("Rebalance")
	explained := map[string]string{}
	for _, ev := range events {
		if rest, ok := strings.CutPrefix(ev, "Pod/"); ok {
			name, note, _ := strings.Cut(rest, ": ")
			explained[name] = note
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var better, hard int
	for pod, age := range evictedAge {
		note, ok := explained[pod]
		switch {
		case !ok:
			t.Errorf("pod %s was deleted with no Rebalance event", pod)
		case strings.Contains(note, "better by the policy's objective"):
			better++
			if age < (cooldown-1)*time.Second {
				t.Errorf("pod %s moved for a better site %v after it was created, within the %d s cooldown: %s", pod, age.Round(time.Millisecond), cooldown, note)
			}
		case strings.Contains(note, "breaks the policy's") || strings.Contains(note, "no longer exists") || strings.Contains(note, "hardware rule"):
			hard++
		default:
			t.Errorf("pod %s evicted for no rule or gain: %s", pod, note)
		}
	}
	t.Logf("soak: %v, %d changes (%d series vanished, %d sites down, %d residency changes); %d evictions (%d hard rule, %d better site); %d pods bound at the end, %d lost, %d hard-rule violations",
		duration, changes, vanished, downs, narrowings, len(evictedAge), hard, better, v.bound, len(v.lost), len(v.violations))
}
