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

package state

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned/fake"
	placementinformers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	"github.com/proxima-sched/proxima/pkg/rttmodel"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// The Model publishes one snapshot per changed part, keeps the parts a
// change does not touch, and indexes nodes only from a complete list.
func TestModel(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := fake.NewSimpleClientset(
		site("paris", placementv1alpha1.TierEdge, "FR", "48.85", "2.35", ""),
		&placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eu"}},
	)
	core := k8sfake.NewSimpleClientset(st.MakeNode().Name("n1").Label(placementv1alpha1.SiteLabel, "paris").Obj())
	pf := placementinformers.NewSharedInformerFactory(client, 0)
	cf := informers.NewSharedInformerFactory(core, 0)
	p := pf.Placement().V1alpha1()
	m, err := NewModel(Informers{Sites: p.Sites().Informer(), Sources: p.TrafficSources().Informer(),
		Policies: p.PlacementPolicies().Informer(), Nodes: cf.Core().V1().Nodes().Informer()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan *Snapshot, 16)
	m.OnPublish(func(_ klog.Logger, s *Snapshot) { published <- s })
	pf.Start(ctx.Done())
	if err := m.WaitForCacheSync(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The node informer was not started: the first snapshot has sites and
	// policies but no node index.
	first := m.Load()
	if first.World.Sites.Len() != 1 || first.NumPolicies() != 1 || first.NodesIndexed() {
		t.Fatalf("first snapshot: %d sites, %d policies, nodes indexed %v; want 1, 1, false",
			first.World.Sites.Len(), first.NumPolicies(), first.NodesIndexed())
	}
	drain(published)
	go m.Run(ctx)
	cf.Start(ctx.Done())
	withNodes, before := waitFor(t, published, func(s *Snapshot) bool { return s.NodesIndexed() })
	if diff := cmp.Diff([]string{"n1"}, withNodes.NodesIn(0)); diff != "" {
		t.Errorf("nodes in paris (-want,+got):\n%s", diff)
	}
	if before == nil {
		before = first
	}
	if withNodes.World != before.World || withNodes.Generation <= before.Generation {
		t.Errorf("a node change rebuilt the site table or kept the generation (%d, %d)", before.Generation, withNodes.Generation)
	}

	// A new Site rebuilds the site table; the node index, keyed by label,
	// already places n2 (labelled before its Site existed) once it exists.
	if _, err := core.CoreV1().Nodes().Create(ctx, st.MakeNode().Name("n2").Label(placementv1alpha1.SiteLabel, "lyon").Obj(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _ = waitFor(t, published, func(s *Snapshot) bool { return s.NumNodesIndexed() == 2 })
	if _, err := client.PlacementV1alpha1().Sites().Create(ctx, site("lyon", placementv1alpha1.TierEdge, "FR", "45.76", "4.83", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withLyon, _ := waitFor(t, published, func(s *Snapshot) bool { return s.World.Sites.Len() == 2 })
	lyon, _ := withLyon.SiteIndex("lyon")
	if diff := cmp.Diff([]string{"n2"}, withLyon.NodesIn(lyon)); diff != "" {
		t.Errorf("nodes in lyon (-want,+got):\n%s", diff)
	}
	if first.World.Sites.Len() != 1 {
		t.Errorf("a published snapshot changed: %d sites", first.World.Sites.Len())
	}

	// A policy change leaves the site table alone.
	if err := client.PlacementV1alpha1().PlacementPolicies("shop").Delete(ctx, "eu", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	noPolicy, prev := waitFor(t, published, func(s *Snapshot) bool { return s.NumPolicies() == 0 })
	if prev == nil {
		prev = withLyon
	}
	if noPolicy.World != prev.World {
		t.Error("a policy change rebuilt the site table")
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p", Labels: map[string]string{placementv1alpha1.PolicyLabel: "eu"}}}
	if _, err := noPolicy.PolicyFor(pod); err == nil {
		t.Error("a pod naming a deleted policy resolved without error")
	}
	// A pod whose policy gate was lifted must have a policy; one that no
	// policy selects now fails closed, one with no such mark has none.
	required := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "q",
		Annotations: map[string]string{placementv1alpha1.PolicyRequiredAnnotation: "true"}}}
	var rq *PolicyRequiredError
	if _, err := noPolicy.PolicyFor(required); !errors.As(err, &rq) || !Unresolvable(err) {
		t.Errorf("a pod held for a policy that no policy selects: %v, want an unresolvable PolicyRequiredError", err)
	}
	if p, err := noPolicy.PolicyFor(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "r"}}); p != nil || err != nil {
		t.Errorf("a pod no policy selects: %v, %v; want none", p, err)
	}
}

func drain(ch chan *Snapshot) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// waitFor returns the first published snapshot that satisfies ok, and the
// one published just before it (nil if none was read).
func waitFor(t *testing.T, ch chan *Snapshot, ok func(*Snapshot) bool) (got, prev *Snapshot) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		for {
			select {
			case s := <-ch:
				if ok(s) {
					got = s
					return true, nil
				}
				prev = s
			default:
				return false, nil
			}
		}
	})
	if err != nil {
		t.Fatalf("no snapshot as expected was published: %v", err)
	}
	return got, prev
}

// With the legacy label accepted, a node that changes it moves site: the
// node handler requeues the index for it, and the Model indexes by it.
func TestModelLegacySiteLabel(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := fake.NewSimpleClientset(
		site("paris", placementv1alpha1.TierEdge, "FR", "48.85", "2.35", ""),
		site("lyon", placementv1alpha1.TierEdge, "FR", "45.76", "4.83", ""),
	)
	node := st.MakeNode().Name("n1").Label(placementv1alpha1.LegacySiteLabel, "paris").Obj()
	core := k8sfake.NewSimpleClientset(node)
	m, published := runModel(ctx, t, client, core, Options{AcceptLegacySiteLabel: true}, 16)
	inSite := func(s *Snapshot, name string) []string {
		i, _ := s.SiteIndex(name)
		return s.NodesIn(i)
	}
	if diff := cmp.Diff([]string{"n1"}, inSite(m.Load(), "paris")); diff != "" {
		t.Fatalf("nodes in paris (-want,+got):\n%s", diff)
	}
	drain(published)
	node = node.DeepCopy()
	node.Labels[placementv1alpha1.LegacySiteLabel] = "lyon"
	if _, err := core.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	moved, _ := waitFor(t, published, func(s *Snapshot) bool { return len(inSite(s, "lyon")) == 1 })
	if got := inSite(moved, "paris"); len(got) != 0 {
		t.Errorf("nodes still in paris: %v", got)
	}
}

// The RTT fit runs beside the Model's worker: while a refit is under way a
// policy change is published at once (the estimates are the previous
// fit's, and the snapshot says a fit is pending), and once it is done the
// site table has the same fit a one-shot Build makes from the same
// objects.
func TestModelFitsBesideItsWorker(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sites := []*placementv1alpha1.Site{
		site("paris", placementv1alpha1.TierEdge, "FR", "48.85", "2.35", ""),
		site("lyon", placementv1alpha1.TierEdge, "FR", "45.76", "4.83", ""),
		site("berlin", placementv1alpha1.TierEdge, "DE", "52.52", "13.40", ""),
		site("madrid", placementv1alpha1.TierEdge, "ES", "40.42", "-3.70", ""),
	}
	source := func(name, lat, lon string, rtts ...placementv1alpha1.SiteRTT) *placementv1alpha1.TrafficSource {
		return &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.TrafficSourceSpec{
			Location: &placementv1alpha1.GeoLocation{Latitude: lat, Longitude: lon}, RTTs: rtts}}
	}
	rtt := func(site string, ms int32) placementv1alpha1.SiteRTT {
		return placementv1alpha1.SiteRTT{Site: site, Milliseconds: ms}
	}
	// Seven measured pairs of eight: enough to fit; madrid from brussels
	// is estimated.
	brussels := source("brussels", "50.85", "4.35", rtt("paris", 6), rtt("lyon", 11), rtt("berlin", 14))
	rome := source("rome", "41.90", "12.50", rtt("paris", 24), rtt("lyon", 19), rtt("berlin", 22), rtt("madrid", 31))
	client := fake.NewSimpleClientset(sites[0], sites[1], sites[2], sites[3], brussels, rome)
	// The fake clientset drops events sent before an informer watches:
	// change nothing until the TrafficSource and policy informers do.
	watching := make(chan string, 8)
	client.PrependWatchReactor("*", func(action clienttesting.Action) (bool, watch.Interface, error) {
		watching <- action.GetResource().Resource
		return false, nil, nil
	})
	pf := placementinformers.NewSharedInformerFactory(client, 0)
	cf := informers.NewSharedInformerFactory(k8sfake.NewSimpleClientset(), 0)
	p := pf.Placement().V1alpha1()
	m, err := NewModel(Informers{Sites: p.Sites().Informer(), Sources: p.TrafficSources().Informer(),
		Policies: p.PlacementPolicies().Informer(), Nodes: cf.Core().V1().Nodes().Informer()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}, 8), make(chan struct{})
	m.fitter.fit = func(in rttmodel.RTTInput) *rttmodel.RTTFit {
		started <- struct{}{}
		<-release
		return rttmodel.FitRTT(in)
	}
	published := make(chan *Snapshot, 64)
	m.OnPublish(func(_ klog.Logger, s *Snapshot) { published <- s })
	pf.Start(ctx.Done())
	if err := m.WaitForCacheSync(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	madrid, _ := m.Load().SiteIndex("madrid")
	j, _ := m.Load().SourceIndex("brussels")
	if _, prov := m.Load().World.RTTAt(madrid, j); prov&scoring.Fitted == 0 || m.Load().FitPending() {
		t.Fatalf("first snapshot: brussels-madrid %v, fit pending %v; want a fitted estimate, nothing pending", prov, m.Load().FitPending())
	}
	drain(published)
	go m.Run(ctx)
	for seen := map[string]bool{}; !seen["trafficsources"] || !seen["placementpolicies"]; {
		select {
		case r := <-watching:
			seen[r] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("informers watching only %v", seen)
		}
	}

	// A changed RTT asks for a refit, which the test holds.
	brussels = brussels.DeepCopy()
	brussels.Spec.RTTs[0].Milliseconds = 9
	brussels.Generation, brussels.ResourceVersion = 2, "2" // the fake clientset sets neither
	if _, err := client.PlacementV1alpha1().TrafficSources().Update(ctx, brussels, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		paris, _ := m.Load().SiteIndex("paris")
		v, pr := m.Load().World.RTTAt(paris, j)
		t.Fatalf("no refit started after an RTT changed; brussels-paris is %v (%v)", v, pr)
	}
	if _, err := client.PlacementV1alpha1().PlacementPolicies("shop").Create(ctx,
		&placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eu"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	during, _ := waitFor(t, published, func(s *Snapshot) bool { return s.NumPolicies() == 1 })
	if !during.FitPending() {
		t.Error("the snapshot published during the refit does not say a fit is pending")
	}
	if v, prov := during.World.RTTAt(madrid, j); prov&scoring.Fitted == 0 || !(v > 0 && v < scoring.UnknownRTT) {
		t.Errorf("during the refit brussels-madrid is %v (%v): want the previous fit's estimate", v, prov)
	}
	close(release)
	after, _ := waitFor(t, published, func(s *Snapshot) bool { return !s.FitPending() && s.NumPolicies() == 1 })
	want := Build(Objects{Sites: sites, Sources: []*placementv1alpha1.TrafficSource{brussels, rome}})
	if diff := cmp.Diff(want.World.RTT, after.World.RTT); diff != "" {
		t.Errorf("the refitted RTTs differ from a one-shot Build of the same objects (-build,+model):\n%s", diff)
	}
	if diff := cmp.Diff(want.World.RTTUpper, after.World.RTTUpper); diff != "" {
		t.Errorf("upper bounds differ (-build,+model):\n%s", diff)
	}
}

// TestModelSiteRTTLive: a change of the live site RTTs alone rebuilds the
// site table, so the next snapshot judges dependencies by them.
func TestModelSiteRTTLive(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := fake.NewSimpleClientset(
		site("paris", placementv1alpha1.TierEdge, "FR", "48.85", "2.35", ""),
		site("lyon", placementv1alpha1.TierEdge, "FR", "45.76", "4.83", ""),
	)
	core := k8sfake.NewSimpleClientset()
	pf := placementinformers.NewSharedInformerFactory(client, 0)
	cf := informers.NewSharedInformerFactory(core, 0)
	p := pf.Placement().V1alpha1()
	live := &Live{SiteRTT: Signal[SitePair, float64]{Enabled: true, Fresh: true, Values: map[SitePair]float64{}}}
	var current atomic.Pointer[Live]
	current.Store(live)
	m, err := NewModel(Informers{Sites: p.Sites().Informer(), Sources: p.TrafficSources().Informer(),
		Policies: p.PlacementPolicies().Informer(), Nodes: cf.Core().V1().Nodes().Informer()}, Options{Live: current.Load})
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan *Snapshot, 16)
	m.OnPublish(func(_ klog.Logger, s *Snapshot) { published <- s })
	pf.Start(ctx.Done())
	cf.Start(ctx.Done())
	if err := m.WaitForCacheSync(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	rtt := func(s *Snapshot) (float64, scoring.Provenance) {
		a, _ := s.SiteIndex("paris")
		b, _ := s.SiteIndex("lyon")
		v, _, prov := s.SiteRTT(a, b)
		return v, prov
	}
	if _, prov := rtt(m.Load()); prov&scoring.Absent == 0 {
		t.Fatalf("before a value: provenance %v, want the estimate standing in for a missing one", prov)
	}
	measured := func(ms float64) {
		t.Helper()
		current.Store(&Live{SiteRTT: Signal[SitePair, float64]{Enabled: true, Fresh: true, Values: map[SitePair]float64{PairOfSites("paris", "lyon"): ms}}})
		m.LiveChanged()
		_, _ = waitFor(t, published, func(s *Snapshot) bool { v, prov := rtt(s); return v == ms && prov == scoring.Live })
	}
	// The first value may arrive with the sites' own events; the second
	// only with the live change.
	measured(5)
	measured(6)
}
