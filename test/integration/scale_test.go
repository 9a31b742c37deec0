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
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/legacyregistry"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// At fleet scale most events are nodes heartbeating and flapping, which
// change no site: Proxima's work must follow the sites and nodes that
// changed, not the fleet's size. 2,000 nodes over 1,000 sites, the status
// controller and the scheduler running: every node heartbeats, one flaps
// NotReady, one joins. The heartbeats may reconcile nothing and rebuild
// nothing; the flap writes its own Site's status and no other; the join
// is placed on at once. Work is counted from the work queues' own metrics
// (adds; an add to a queue that already holds the key is not counted), not
// timed.
func TestWorkFollowsSites(t *testing.T) {
	e := newEnv(t)
	const sites, perSite = 1000, 2
	ctx := context.Background()
	siteName := func(s int) string { return fmt.Sprintf("site-%04d", s) }
	rtts := map[string]int32{"site-new": 1} // site-new gets its first node last
	var nodes []string
	for s := range sites {
		rtts[siteName(s)] = int32(10 + s)
		for i := range perSite {
			nodes = append(nodes, fmt.Sprintf("%s-%d", siteName(s), i))
		}
	}
	parallel(t, sites+1, func(s int) error {
		name := "site-new"
		if s < sites {
			name = siteName(s)
		}
		obj := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
			Tier: placementv1alpha1.TierEdge, Country: "FR", Location: placementv1alpha1.GeoLocation{Latitude: "0", Longitude: "0"}}}
		_, err := e.pc.PlacementV1alpha1().Sites().Create(ctx, obj, metav1.CreateOptions{})
		return err
	})
	parallel(t, len(nodes), func(i int) error {
		_, err := e.cp.Client.CoreV1().Nodes().Create(ctx, siteNode(nodes[i], siteName(i/perSite)), metav1.CreateOptions{})
		return err
	})
	e.source("users", rtts)
	e.policy("fast", latencyPolicy("users"))
	startStatusController(t, e.cp)
	e.startScheduler()

	// Settled: every Site counts its nodes, and a pod is placed.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := e.pc.PlacementV1alpha1().Sites().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, s := range list.Items {
			if s.Name != "site-new" && s.Status.ReadyNodes != perSite {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("Sites did not all count %d ready nodes: %v", perSite, err)
	}
	if site := e.siteOfPod(e.pod("first", "fast", "100m")); site != siteName(0) {
		t.Fatalf("first pod landed in %s, want %s (10 ms, the best site with nodes)", site, siteName(0))
	}
	adds := waitQuiet(t) // the passes the pod's creation and binding queued have run
	versions := siteVersions(t, e)

	// Every node heartbeats, as kubelets do; then one node goes NotReady.
	// Its Site's count is the last thing to change: once it shows, every
	// heartbeat before it has been seen by the controller's informer.
	parallel(t, len(nodes), func(i int) error {
		n, err := e.cp.Client.CoreV1().Nodes().Get(ctx, nodes[i], metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
		_, err = e.cp.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	flapped := siteName(500)
	n, err := e.cp.Client.CoreV1().Nodes().Get(ctx, flapped+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions[0].Status = v1.ConditionFalse
	if _, err := e.cp.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		s, err := e.pc.PlacementV1alpha1().Sites().Get(ctx, flapped, metav1.GetOptions{})
		return err == nil && s.Status.ReadyNodes == perSite-1, err
	}); err != nil {
		t.Fatalf("%s never counted its NotReady node: %v", flapped, err)
	}
	after := waitQuiet(t) // anything else the events queued has run
	// One settle of the status queue for the flap (a heartbeat that raced
	// the flap's settle may add one more), none of the world models'.
	if got := after["proxima-status"] - adds["proxima-status"]; got > 2 {
		t.Errorf("%d heartbeats and one flap queued %v status reconciles, want at most 2: the status controller's work grows with the fleet", len(nodes), got)
	}
	if got := after["proxima-world"] - adds["proxima-world"]; got != 0 {
		t.Errorf("%d heartbeats and one flap queued %v world model rebuilds, want 0: readiness is no input of the site-to-nodes index", len(nodes), got)
	}
	var written []string
	for name, rv := range siteVersions(t, e) {
		if rv != versions[name] {
			written = append(written, name)
		}
	}
	if !slices.Equal(written, []string{flapped}) {
		t.Errorf("Sites written after the heartbeats and the flap of a node in %s: %v, want only %s", flapped, written, flapped)
	}

	// A node joins the best site: the index takes it from the one event,
	// and the next pod lands there.
	if _, err := e.cp.Client.CoreV1().Nodes().Create(ctx, siteNode("site-new-0", "site-new"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		return queueAdds(t)["proxima-world"] > after["proxima-world"], nil
	}); err != nil {
		t.Fatalf("the join queued no world model update: %v", err)
	}
	if site := e.siteOfPod(e.pod("second", "fast", "100m")); site != "site-new" {
		t.Errorf("pod after site-new's first node joined landed in %s, want site-new (1 ms)", site)
	}
}

// siteNode is a ready node of the site, with a heartbeat.
func siteNode(name, site string) *v1.Node {
	n := readyNode(name)
	n.Labels = map[string]string{placementv1alpha1.SiteLabel: site}
	n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
	return n
}

// parallel runs fn(0..n-1), 32 at a time, and fails the test on the first
// error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// queueAdds sums workqueue_adds_total by queue name over the registries a
// workqueue metrics provider may have registered into (whichever of
// Kubernetes' and controller-runtime's this process set first).
func queueAdds(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, g := range []prometheus.Gatherer{legacyregistry.DefaultGatherer, crmetrics.Registry} {
		families, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "workqueue_adds_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "name" {
						out[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	for _, q := range []string{"proxima-status", "proxima-world"} {
		if _, ok := out[q]; !ok {
			t.Fatalf("no workqueue_adds_total{name=%q} in this process's registries (got %v)", q, out)
		}
	}
	return out
}

// waitQuiet waits until no work queue has taken an add for longer than
// the status controller's settle (the longest any event waits before its
// add), and returns the adds then.
func waitQuiet(t *testing.T) map[string]float64 {
	t.Helper()
	last := queueAdds(t)
	if err := wait.PollUntilContextTimeout(context.Background(), 2*time.Second, waitTimeout, false, func(context.Context) (bool, error) {
		now := queueAdds(t)
		quiet := maps.Equal(now, last)
		last = now
		return quiet, nil
	}); err != nil {
		t.Fatalf("the work queues never went quiet: %v", err)
	}
	return last
}

func siteVersions(t *testing.T, e *env) map[string]string {
	t.Helper()
	list, err := e.pc.PlacementV1alpha1().Sites().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range list.Items {
		out[s.Name] = s.ResourceVersion
	}
	return out
}
