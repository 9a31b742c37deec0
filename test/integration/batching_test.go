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
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/testutil"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	fwk "k8s.io/kube-scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/test/harness"
)

// batchingConfig is the chart's scheduler configuration rendered with
// scheduler.opportunisticBatching=true, which turns kube-scheduler's default
// topology spreading off in the proxima-scheduler profile, as opportunistic
// batching requires: PodTopologySpread refuses to sign every pod while
// system default constraints apply (upstream's documented limitation;
// pkg/plugins/edgeplacement/README.md, Batching). The rendering with the
// default values must not turn it off.
func batchingConfig(t *testing.T) string {
	t.Helper()
	configOf := func(values map[string]any) string {
		rendered, err := renderChartValues(values)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objects(t, rendered) {
			if u.GetKind() == "ConfigMap" && u.GetName() == "proxima-scheduler-config" {
				data, _, _ := unstructured.NestedString(u.Object, "data", "scheduler-config.yaml")
				return data
			}
		}
		t.Fatal("the chart renders no proxima-scheduler-config ConfigMap")
		return ""
	}
	if strings.Contains(configOf(map[string]any{}), "PodTopologySpread") {
		t.Error("the chart's default values change PodTopologySpread")
	}
	config := configOf(map[string]any{"scheduler": map[string]any{"opportunisticBatching": true}})
	path := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// batchCounts are the scheduler's opportunistic batching counters for
// proxima-scheduler's profile (process-wide: compare before and after).
type batchCounts struct{ used, notUsed float64 }

func readBatchCounts(t *testing.T) batchCounts {
	t.Helper()
	get := func(result string) float64 {
		v, err := testutil.GetCounterMetricValue(schedmetrics.BatchAttemptStats.WithLabelValues(proximaScheduler, result))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return batchCounts{used: get(schedmetrics.BatchAttemptHintUsed), notUsed: get(schedmetrics.BatchAttemptHintNotUsed)}
}

func (b batchCounts) minus(o batchCounts) batchCounts {
	return batchCounts{used: b.used - o.used, notUsed: b.notUsed - o.notUsed}
}

// reserveHook is a Reserve plugin that runs a test's function in the
// scheduling cycle of the pod it names, before the next cycle starts: a
// world change between two pods of a batch. Reserve is outside the points
// whose plugins must sign, so it leaves batching on.
type reserveHook struct {
	mu  sync.Mutex
	pod string
	fn  func(ctx context.Context)
}

func (h *reserveHook) Name() string { return "TestReserveHook" }

func (h *reserveHook) Reserve(ctx context.Context, _ fwk.CycleState, pod *v1.Pod, _ string) *fwk.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pod.Name == h.pod && h.fn != nil {
		h.fn(ctx)
		h.fn = nil
	}
	return nil
}

func (h *reserveHook) Unreserve(context.Context, fwk.CycleState, *v1.Pod, string) {}

func (h *reserveHook) set(pod string, fn func(ctx context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pod, h.fn = pod, fn
}

// TestOpportunisticBatching checks that EdgePlacement keeps kube-scheduler's
// opportunistic batching (KEP-5598) on for its profile and never lets a
// batch carry a decision across a change of the world:
//
//   - the profile signs pods (a profile where any Filter or Score plugin
//     cannot sign logs "Disabling signatures" and signs nothing), with one
//     signature for replicas and different ones for other policies or
//     requests, and none for a pod whose policy cannot be resolved;
//   - replicas scheduled one after another reuse the first one's ranking;
//   - pods of different policies or requests in turn never do;
//   - when the policy is narrowed between two replicas, the second is
//     offered the first one's next node, refuses it, and lands where the
//     narrowed policy allows (and so does the first, whose binding judges
//     it again).
func TestOpportunisticBatching(t *testing.T) {
	e := newEnv(t)
	// One 3-CPU pod fills a 4-CPU node, as batching needs: the next
	// replica's best node is the one after the node just filled.
	for _, s := range []siteSpec{
		{name: "near", country: "DE", tags: []string{"EU"}, nodes: 4},
		{name: "mid", country: "FR", tags: []string{"EU"}, nodes: 4},
		{name: "far", country: "US", nodes: 4},
	} {
		e.site(s)
	}
	e.source("users", map[string]int32{"near": 5, "mid": 20, "far": 1})
	eu := latencyPolicy("users")
	eu.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	e.policy("eu", eu)
	e.policy("eu-twin", eu)

	var ep *edgeplacement.EdgePlacement
	hook := &reserveHook{}
	plugins := frameworkruntime.Registry{
		edgeplacement.Name: func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
			p, err := edgeplacement.New(ctx, obj, h)
			if err == nil {
				ep = p.(*edgeplacement.EdgePlacement)
			}
			return p, err
		},
		hook.Name(): func(context.Context, runtime.Object, fwk.Handle) (fwk.Plugin, error) { return hook, nil },
	}
	cfg := batchingConfig(t)
	if err := schedconfig.Rewrite(cfg, cfg, func(c *schedv1.KubeSchedulerConfiguration) error {
		for i := range c.Profiles {
			if ptr.Deref(c.Profiles[i].SchedulerName, "") == proximaScheduler {
				if c.Profiles[i].Plugins == nil {
					c.Profiles[i].Plugins = &schedv1.Plugins{}
				}
				c.Profiles[i].Plugins.Reserve.Enabled = append(c.Profiles[i].Plugins.Reserve.Enabled, schedv1.Plugin{Name: hook.Name()})
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sched := harness.StartSchedulerWith(t, e.cp, cfg, plugins)
	ctx := context.Background()

	replica := func(name, policy, cpu string) *v1.Pod {
		return st.MakePod().Namespace(e.ns).Name(name).SchedulerName(proximaScheduler).
			Labels(map[string]string{"app": "api", placementv1alpha1.PolicyLabel: policy}).
			Req(map[v1.ResourceName]string{v1.ResourceCPU: cpu}).Obj()
	}
	deleteAll := func(pods []*v1.Pod) {
		t.Helper()
		for _, p := range pods {
			if err := e.cp.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
			l, err := e.cp.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(l.Items) == 0, err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// run creates the pods one after another and waits for them to bind;
	// it returns the change in the batching counters and each pod's site.
	run := func(pods []*v1.Pod) (batchCounts, []string) {
		t.Helper()
		before := readBatchCounts(t)
		for _, p := range pods {
			createPod(t, e.cp.Client, p)
		}
		sites := make([]string, len(pods))
		for i, p := range pods {
			sites[i] = e.siteOfPod(p)
		}
		return readBatchCounts(t).minus(before), sites
	}
	// Batching depends on timing outside the test's control (a batch
	// expires after 0.5 s): each scenario is tried a few times until the
	// scheduler offers a hint; what it does with the hint is the test.
	const attempts = 5

	t.Run("signatures", func(t *testing.T) {
		profile := sched.Profiles[proximaScheduler]
		a := profile.SignPod(ctx, replica("a-0", "eu", "3"))
		if a == nil {
			t.Fatal("the proxima-scheduler profile signs no pod: batching is disabled for it")
		}
		if b := profile.SignPod(ctx, replica("a-1", "eu", "3")); string(b) != string(a) {
			t.Errorf("two replicas have different signatures:\n%s\n%s", a, b)
		}
		if b := profile.SignPod(ctx, replica("b-0", "eu-twin", "3")); b == nil || string(b) == string(a) {
			t.Errorf("a pod of another policy has signature %s, want one other than %s", b, a)
		}
		if b := profile.SignPod(ctx, replica("c-0", "eu", "3500m")); b == nil || string(b) == string(a) {
			t.Errorf("a pod with other requests has signature %s, want one other than %s", b, a)
		}
		if b := profile.SignPod(ctx, replica("d-0", "missing", "3")); b != nil {
			t.Errorf("a pod naming a missing policy has signature %s, want none", b)
		}
	})

	t.Run("replicas are batched", func(t *testing.T) {
		for attempt := 1; ; attempt++ {
			var pods []*v1.Pod
			for i := range 4 {
				pods = append(pods, replica(fmt.Sprintf("rep-%d-%d", attempt, i), "eu", "3"))
			}
			got, sites := run(pods)
			for i, s := range sites {
				if s != "near" {
					t.Errorf("%s placed in %q, want near (the closest EU site, with room for all four)", pods[i].Name, s)
				}
			}
			deleteAll(pods)
			if got.used > 0 {
				t.Logf("attempt %d: %v hints used, %v not used", attempt, got.used, got.notUsed)
				return
			}
			if attempt == attempts {
				t.Fatalf("no replica reused the ranking of the one before in %d attempts", attempts)
			}
		}
	})

	t.Run("other policies and requests are not batched", func(t *testing.T) {
		var pods []*v1.Pod
		for i := range 2 {
			pods = append(pods, replica(fmt.Sprintf("mix-%d-a", i), "eu", "3"),
				replica(fmt.Sprintf("mix-%d-b", i), "eu-twin", "3"),
				replica(fmt.Sprintf("mix-%d-c", i), "eu", "3500m"))
		}
		got, sites := run(pods)
		if got.used != 0 || got.notUsed != 0 {
			t.Errorf("pods with other policies or requests in turn: %v hints used and %v offered but not used, want none offered", got.used, got.notUsed)
		}
		for i, s := range sites {
			if s == "far" {
				t.Errorf("%s placed outside the EU", pods[i].Name)
			}
		}
		deleteAll(pods)
	})

	t.Run("a narrowed policy between two replicas", func(t *testing.T) {
		for attempt := 1; ; attempt++ {
			policy := fmt.Sprintf("narrowed-%d", attempt)
			e.policy(policy, eu)
			first, second := replica(policy+"-0", policy, "3"), replica(policy+"-1", policy, "3")
			// In the first replica's cycle, before the second's: allow only
			// FR, and wait until the scheduler's world model has it.
			hook.set(first.Name, func(ctx context.Context) {
				p, err := e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).Get(ctx, policy, metav1.GetOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				p.Spec.Residency.Allowed = &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"FR"}}
				p, err = e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).Update(ctx, p, metav1.UpdateOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				if err := wait.PollUntilContextTimeout(ctx, time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
					rp, err := ep.World().PolicyFor(second)
					return err == nil && rp != nil && rp.Generation == p.Generation, nil
				}); err != nil {
					t.Errorf("the scheduler never saw the narrowed policy: %v", err)
				}
			})
			got, sites := run([]*v1.Pod{first, second})
			// The first replica's binding comes after the change and judges
			// it again (Bind), so it too ends in FR.
			if sites[0] != "mid" {
				t.Errorf("%s placed in %q although its policy allowed only FR before it was bound, want mid", first.Name, sites[0])
			}
			if sites[1] != "mid" {
				t.Errorf("%s placed in %q after its policy allowed only FR, want mid", second.Name, sites[1])
			}
			if got.used != 0 {
				t.Errorf("%s took the hint from %s's ranking across the policy change", second.Name, first.Name)
			}
			deleteAll([]*v1.Pod{first, second})
			if got.notUsed > 0 {
				return
			}
			if attempt == attempts {
				t.Fatalf("the scheduler offered no hint to the second replica in %d attempts", attempts)
			}
		}
	})
}
