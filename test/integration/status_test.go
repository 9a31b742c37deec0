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
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/status"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	placementclient "github.com/proxima-sched/proxima/pkg/generated/clientset/versioned/typed/placement/v1alpha1"
	informers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/test/harness"
)

func startStatusController(t *testing.T, cp *controlplane.ControlPlane) versioned.Interface {
	t.Helper()
	client := versioned.NewForConfigOrDie(cp.Config)
	factory := informers.NewSharedInformerFactory(client, 0)
	core := coreinformers.NewSharedInformerFactory(cp.Client, 0)
	c, err := status.New(client, factory, core, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	factory.Start(ctx.Done())
	core.Start(ctx.Done())
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown(); core.Shutdown() })
	return client
}

// waitForCondition waits until get returns conditions whose Ready condition
// has the status and a reason and message containing the strings.
func waitForCondition(t *testing.T, what string, get func(context.Context) ([]metav1.Condition, error), want metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	var last *metav1.Condition
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		conds, err := get(ctx)
		if err != nil {
			return false, err
		}
		last = meta.FindStatusCondition(conds, placementv1alpha1.ConditionReady)
		return last != nil && last.Status == want && last.Reason == reason && strings.Contains(last.Message, msg), nil
	})
	if err != nil {
		t.Fatalf("%s: Ready condition %+v, want status %s reason %s message containing %q: %v", what, last, want, reason, msg, err)
	}
}

func TestStatusConditions(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	client := startStatusController(t, cp)
	ctx := context.Background()
	pc := client.PlacementV1alpha1()

	paris := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: "paris"}, Spec: placementv1alpha1.SiteSpec{
		Tier: placementv1alpha1.TierRegional, Country: "FR", Jurisdictions: []string{"EU"},
		Location: placementv1alpha1.GeoLocation{Latitude: "48.8566", Longitude: "2.3522"}}}
	if _, err := pc.Sites().Create(ctx, paris, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getSite := func(name string) func(context.Context) ([]metav1.Condition, error) {
		return func(ctx context.Context) ([]metav1.Condition, error) {
			s, err := pc.Sites().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return s.Status.Conditions, nil
		}
	}
	// No nodes yet: not ready.
	waitForCondition(t, "site paris", getSite("paris"), metav1.ConditionFalse, placementv1alpha1.ReasonNoReadyNodes, "no ready node")
	ready := st.MakeNode().Name("paris-1").Label(placementv1alpha1.SiteLabel, "paris").
		Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "8"}).Obj()
	ready.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	createNode(t, cp.Client, ready)
	createNode(t, cp.Client, st.MakeNode().Name("paris-2").Label(placementv1alpha1.SiteLabel, "paris").Obj())
	waitForCondition(t, "site paris", getSite("paris"), metav1.ConditionTrue, placementv1alpha1.ReasonNodesReady, "1 of 2 nodes ready")
	s, err := pc.Sites().Get(ctx, "paris", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status.Nodes != 2 || s.Status.ReadyNodes != 1 || s.Status.Capacity.Cpu().String() != "8" || s.Status.ObservedGeneration != s.Generation {
		t.Errorf("site status = %+v, want 2 nodes, 1 ready, 8 CPUs, observedGeneration %d", s.Status, s.Generation)
	}

	// A source naming an unknown site, then the site appears.
	src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "shoppers"}, Spec: placementv1alpha1.TrafficSourceSpec{
		RTTs: []placementv1alpha1.SiteRTT{{Site: "paris", Milliseconds: 2}, {Site: "tokyo", Milliseconds: 220}}}}
	if _, err := pc.TrafficSources().Create(ctx, src, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getSource := func(ctx context.Context) ([]metav1.Condition, error) {
		s, err := pc.TrafficSources().Get(ctx, "shoppers", metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return s.Status.Conditions, nil
	}
	waitForCondition(t, "source shoppers", getSource, metav1.ConditionFalse, placementv1alpha1.ReasonUnknownSite, "tokyo")

	// A policy naming an unknown source.
	ns := createNamespace(t, cp.Client, "status")
	maxRTT := int32(50)
	pol := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "jp-only", Namespace: ns}, Spec: placementv1alpha1.PlacementPolicySpec{
		Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []string{"JP"}}},
		Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "tokyo-users"}},
			MaxRTTMilliseconds: &maxRTT},
	}}
	if _, err := pc.PlacementPolicies(ns).Create(ctx, pol, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getPolicy := func(ctx context.Context) ([]metav1.Condition, error) {
		p, err := pc.PlacementPolicies(ns).Get(ctx, "jp-only", metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return p.Status.Conditions, nil
	}
	waitForCondition(t, "policy jp-only", getPolicy, metav1.ConditionFalse, placementv1alpha1.ReasonUnknownSource, `"tokyo-users" does not exist`)

	// The source appears; Paris is not in Japan: no feasible site.
	users := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "tokyo-users"}, Spec: placementv1alpha1.TrafficSourceSpec{
		Location: &placementv1alpha1.GeoLocation{Latitude: "35.6762", Longitude: "139.6503"}}}
	if _, err := pc.TrafficSources().Create(ctx, users, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, "policy jp-only", getPolicy, metav1.ConditionFalse, placementv1alpha1.ReasonNoFeasibleSite, "1 site: residency")

	// A site in Tokyo resolves both the source and the policy.
	tokyo := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: "tokyo"}, Spec: placementv1alpha1.SiteSpec{
		Tier: placementv1alpha1.TierCloud, Country: "JP",
		Location: placementv1alpha1.GeoLocation{Latitude: "35.6762", Longitude: "139.6503"}}}
	if _, err := pc.Sites().Create(ctx, tokyo, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, "source shoppers", getSource, metav1.ConditionTrue, placementv1alpha1.ReasonResolved, "all 2 measured sites exist")
	waitForCondition(t, "policy jp-only", getPolicy, metav1.ConditionTrue, placementv1alpha1.ReasonResolved, "1 of 2 sites")
	p, err := pc.PlacementPolicies(ns).Get(ctx, "jp-only", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.FeasibleSites != 1 {
		t.Errorf("feasibleSites = %d, want 1", p.Status.FeasibleSites)
	}

	// Tokyo meets the rules but no node is labelled for it: the most likely
	// first failure, reported by name.
	waitForCondition(t, "policy jp-only", getPolicy, metav1.ConditionTrue, placementv1alpha1.ReasonResolved,
		"1 of them without a labelled node: tokyo")
	waitForPolicyStatus(t, pc, ns, "jp-only", "sitesWithoutNodes [tokyo]", func(s placementv1alpha1.PlacementPolicyStatus) bool {
		return slices.Equal(s.SitesWithoutNodes, []string{"tokyo"})
	})

	// Pods the policy governs, one of them left to the default scheduler.
	for _, pod := range []*v1.Pod{
		st.MakePod().Namespace(ns).Name("opted-in").Label(placementv1alpha1.PolicyLabel, "jp-only").SchedulerName("proxima-scheduler").Container("pause").Obj(),
		st.MakePod().Namespace(ns).Name("default-scheduled").Label(placementv1alpha1.PolicyLabel, "jp-only").Container("pause").Obj(),
		st.MakePod().Namespace(ns).Name("no-policy").SchedulerName("proxima-scheduler").Container("pause").Obj(),
	} {
		if _, err := cp.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitForPolicyStatus(t, pc, ns, "jp-only", "2 matched pods, 1 with another scheduler", func(s placementv1alpha1.PlacementPolicyStatus) bool {
		return s.MatchedPods == 2 && s.OtherSchedulerPods == 1
	})

	// A node labelled for Tokyo empties the list.
	createNode(t, cp.Client, st.MakeNode().Name("tokyo-1").Label(placementv1alpha1.SiteLabel, "tokyo").Obj())
	waitForPolicyStatus(t, pc, ns, "jp-only", "no sitesWithoutNodes", func(s placementv1alpha1.PlacementPolicyStatus) bool {
		return len(s.SitesWithoutNodes) == 0 && s.FeasibleSites == 1
	})
	waitForCondition(t, "policy jp-only", getPolicy, metav1.ConditionTrue, placementv1alpha1.ReasonResolved, "1 of 2 sites meet the hard rules")

	// The deprecated spelling of onStale.nodeUtilization is still read, and
	// its use is noted.
	p, err = pc.PlacementPolicies(ns).Get(ctx, "jp-only", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Telemetry = &placementv1alpha1.TelemetryPolicy{OnStale: &placementv1alpha1.StaleActions{NodeLoad: placementv1alpha1.Reject}}
	if _, err := pc.PlacementPolicies(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, "policy jp-only", getPolicy, metav1.ConditionTrue, placementv1alpha1.ReasonResolved,
		"telemetry.onStale.nodeLoad is deprecated: write onStale.nodeUtilization")
}

// waitForPolicyStatus waits until a policy's status satisfies ok.
func waitForPolicyStatus(t *testing.T, pc placementclient.PlacementV1alpha1Interface, ns, name, what string, ok func(placementv1alpha1.PlacementPolicyStatus) bool) {
	t.Helper()
	var last placementv1alpha1.PlacementPolicyStatus
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := pc.PlacementPolicies(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p.Status
		return ok(last), nil
	}); err != nil {
		t.Fatalf("policy %s/%s: status %+v, want %s: %v", ns, name, last, what, err)
	}
}

// TestStatusDependencies: a policy whose dependency selects no running pod
// says so in its Ready message (it counts for nothing until one runs), and
// stops saying it once a pod of the dependency runs in a known site.
func TestStatusDependencies(t *testing.T) {
	cp := harness.Start(t, controlplane.Options{})
	client := startStatusController(t, cp)
	ctx := context.Background()
	pc := client.PlacementV1alpha1()
	paris := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: "paris"}, Spec: placementv1alpha1.SiteSpec{
		Tier: placementv1alpha1.TierRegional, Country: "FR", Location: placementv1alpha1.GeoLocation{Latitude: "48.8566", Longitude: "2.3522"}}}
	if _, err := pc.Sites().Create(ctx, paris, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createNode(t, cp.Client, st.MakeNode().Name("paris-1").Label(placementv1alpha1.SiteLabel, "paris").Obj())
	ns := createNamespace(t, cp.Client, "deps")
	pol := &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns}, Spec: placementv1alpha1.PlacementPolicySpec{
		Dependencies: []placementv1alpha1.DependencyRef{
			{Name: "db", PodSelector: &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"app": "db"}}},
			{Name: "cache", Service: ptr.To("cache")}}}}
	if _, err := pc.PlacementPolicies(ns).Create(ctx, pol, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getPolicy := func(ctx context.Context) ([]metav1.Condition, error) {
		p, err := pc.PlacementPolicies(ns).Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return p.Status.Conditions, nil
	}
	waitForCondition(t, "policy api", getPolicy, metav1.ConditionTrue, placementv1alpha1.ReasonResolved,
		"dependencies running no pod yet, which count for nothing until one runs: db, cache")
	db := st.MakePod().Namespace(ns).Name("db-0").Label("app", "db").Container("pause").Node("paris-1").Obj()
	if _, err := cp.Client.CoreV1().Pods(ns).Create(ctx, db, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, "policy api", getPolicy, metav1.ConditionTrue, placementv1alpha1.ReasonResolved,
		"dependencies running no pod yet, which count for nothing until one runs: cache")
}
