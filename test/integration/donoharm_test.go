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
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/rebalance"
)

// TestFaultMatrixDoNoHarm: the rebalancer's and the policy gate's rows of
// the fault matrix, each on its own real control plane with
// kube-controller-manager. Every row fails if its guard is taken out.
func TestFaultMatrixDoNoHarm(t *testing.T) {
	for _, row := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"series-vanishes-rebalance-on", rowSeriesVanishes},
		{"policy-after-catch-all", rowPolicyAfterCatchAll},
		{"job-and-mirror-pod", rowJobAndMirrorPod},
		{"volume-bound-statefulset-pod", rowVolumeBoundPod},
		{"closer-vs-cheaper-flapping", rowNoFlappingAcrossCriteria},
		{"autonomous-edge-node-disconnected", rowAutonomousEdgeSite},
	} {
		t.Run(row.name, row.run)
	}
}

// rounds waits for n more rebalancer rounds.
func (e *rebalanceEnv) rounds(n float64) {
	e.t.Helper()
	start := metricValue(e.t, "proxima_rebalancer_rounds_total", nil)
	e.eventually("more rebalancer rounds", time.Minute, func() bool {
		return metricValue(e.t, "proxima_rebalancer_rounds_total", nil) >= start+n
	})
}

// held waits until the policy's status holds a pod under rule.
func (e *rebalanceEnv) held(policy string, rule rebalance.Hold) placementv1alpha1.RebalanceHeld {
	e.t.Helper()
	var got placementv1alpha1.RebalanceHeld
	var last *placementv1alpha1.RebalanceStatus
	e.eventually("status.rebalance.held names rule "+string(rule), time.Minute, func() bool {
		last = e.policyStatus(policy).Status.Rebalance
		if last == nil {
			return false
		}
		for _, h := range last.Held {
			if h.Rule == string(rule) {
				got = h
				return true
			}
		}
		return false
	})
	return got
}

func (w *podWatch) evicted() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.evictedAge)
}

// rowSeriesVanishes: the live RTT and price series of the site
// the pods run in vanish (its blackbox exporter restarts) while the other
// sites' stay fresh, so the rebalancer is not paused. The site now fails
// the policy's max RTT and max cost only on stand-ins (no declared RTT:
// an unknown estimate; the declared price without the live discount):
// nothing moves, and the status says why. A fresh live RTT over the bound
// then moves them.
func rowSeriesVanishes(t *testing.T) {
	e := newRebalanceEnv(t, true)
	for _, s := range []siteSpec{{name: "near", country: "FR", cpuPrice: "0.10", nodes: 1}, {name: "mid", country: "FR", cpuPrice: "0.04", nodes: 1}} {
		e.site(s)
		e.exp.Up.WithLabelValues(s.name).Set(1)
		e.exp.Price.WithLabelValues(s.name).Set(0.5)
	}
	// Declared: only mid. Live: both.
	e.source("users", map[string]int32{"mid": 20})
	e.exp.RTT.WithLabelValues("users", "near").Set(0.010)
	e.exp.RTT.WithLabelValues("users", "mid").Set(0.020)
	spec := latencyPolicy("users")
	spec.Latency.MaxRTTMilliseconds = ptr.To[int32](30)
	// 500m at near: 0.025/h live, 0.05/h declared.
	spec.Cost = &placementv1alpha1.CostPolicy{MaxHourly: resource.MustParse("0.04")}
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 1, 0)
	e.policy("web", spec)
	watch := e.watchPods("web", 2)
	e.deployment("web", "web", 2, "500m")
	inOnly := func(site string) bool {
		sites := e.placed("web")
		for _, s := range sites {
			if s != site {
				return false
			}
		}
		return len(sites) == 2
	}
	// (Placed in mid until the first read of near's RTT, then moved.)
	e.eventually("both pods in near", time.Minute, func() bool { return inOnly("near") })
	before := watch.evicted()

	e.exp.RTT.DeleteLabelValues("users", "near")
	e.exp.Price.DeleteLabelValues("near")
	h := e.held("web", rebalance.HoldUnproven)
	if !strings.Contains(h.Message, "max RTT") || h.FromSite != "near" {
		t.Errorf("held %+v, want near held on the max RTT rule", h)
	}
	// Many times the grace and the dwell.
	e.rounds(20)
	if n := watch.evicted() - before; n != 0 {
		t.Fatalf("%d pods evicted because near's series vanished: %v", n, e.events("Rebalance"))
	}
	if metricValue(t, "proxima_rebalancer_paused", map[string]string{"reason": "telemetry"}) != 0 {
		t.Fatal("the rebalancer paused; the test shows nothing")
	}

	// Evidence: near measured over the bound.
	e.exp.RTT.WithLabelValues("users", "near").Set(0.045)
	e.eventually("both pods moved to mid on a fresh RTT over the bound", 2*time.Minute, func() bool { return inOnly("mid") })
}

// rowPolicyAfterCatchAll: a catch-all policy (priority 0) is
// applied before the eu-only policy (priority 100) that also selects the
// pods. The gate lifts on the catch-all and the pods are placed outside
// the EU; once eu-only exists it governs them (the gate named no policy
// in their labels) and the rebalancer moves them into the EU. A policy
// deleted and created again under a new name governs the pending pods it
// selects.
func rowPolicyAfterCatchAll(t *testing.T) {
	e := newRebalanceEnv(t, false)
	e.site(siteSpec{name: "us", country: "US", cpuPrice: "0.01", nodes: 1})
	e.site(siteSpec{name: "de", country: "DE", tags: []string{"EU"}, cpuPrice: "0.09", nodes: 1})
	selects := &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"tier": "api"}}
	catchAll := costPolicy
	catchAll.PodSelector, catchAll.Priority = selects, ptr.To[int32](0)
	e.policy("catch-all", catchAll)

	d := newDeployment(e.ns, "api", 2, map[string]string{"tier": "api"}, "500m", proximaScheduler)
	d.Spec.Template.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: placementv1alpha1.PolicyGate}}
	if _, err := e.cp.Client.AppsV1().Deployments(e.ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("both pods in us under the catch-all", time.Minute, func() bool {
		sites := e.placed("api")
		return len(sites) == 2 && allIn(sites, "us")
	})
	pods, err := e.cp.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=api"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if name, ok := p.Labels[placementv1alpha1.PolicyLabel]; ok {
			t.Errorf("the gate tied pod %s to policy %q", p.Name, name)
		}
	}

	euOnly := costPolicy
	euOnly.PodSelector, euOnly.Priority = selects, ptr.To[int32](100)
	euOnly.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Jurisdictions: []string{"EU"}}}
	euOnly.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 300, 600)
	e.policy("eu-only", euOnly)
	e.eventually("both pods moved into the EU under eu-only", 2*time.Minute, func() bool { return allIn(e.placed("api"), "de") })

	// A pod ungated under a policy it cannot be placed by, which is then
	// replaced by one under a new name.
	jpOnly := costPolicy
	jpOnly.PodSelector = &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"tier": "batch"}}
	jpOnly.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"JP"}}}
	e.policy("old", jpOnly)
	pending := createPod(t, e.cp.Client, st.MakePod().Namespace(e.ns).Name("batch-0").SchedulerName(proximaScheduler).
		Labels(map[string]string{"tier": "batch"}).Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).
		SchedulingGates([]string{placementv1alpha1.PolicyGate}).Obj())
	e.eventually("the gate lifted and the pod waits, unplaceable under old", time.Minute, func() bool {
		p, err := e.cp.Client.CoreV1().Pods(e.ns).Get(context.Background(), pending.Name, metav1.GetOptions{})
		return err == nil && len(p.Spec.SchedulingGates) == 0 && unschedulable(p) != ""
	})
	if err := e.pc.PlacementV1alpha1().PlacementPolicies(e.ns).Delete(context.Background(), "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	renamed := jpOnly
	renamed.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"DE"}}}
	e.policy("new", renamed)
	if site := e.siteOfPod(pending); site != "de" {
		t.Errorf("pod under the re-created policy landed in %s, want de", site)
	}
}

func allIn(sites map[string]string, site string) bool {
	for _, s := range sites {
		if s != site {
			return false
		}
	}
	return len(sites) > 0
}

// rowJobAndMirrorPod: residency narrows under a Job's pod
// (backoffLimit 0, no pod failure policy), a mirror pod and a Deployment's
// pod. Only the Deployment's pod moves; the Job does not fail.
func rowJobAndMirrorPod(t *testing.T) {
	e := newRebalanceEnv(t, false, "job")
	e.site(siteSpec{name: "de", country: "DE", nodes: 1})
	e.site(siteSpec{name: "fr", country: "FR", nodes: 1})
	e.source("users", map[string]int32{"de": 10, "fr": 20})
	spec := latencyPolicy("users")
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"DE", "FR"}}}
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 300, 600)
	e.policy("eu", spec)
	labels := map[string]string{placementv1alpha1.PolicyLabel: "eu"}

	e.deployment("web", "eu", 1, "100m")
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "report"}, Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To[int32](0),
		Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: v1.PodSpec{
			SchedulerName: proximaScheduler, RestartPolicy: v1.RestartPolicyNever,
			Containers: []v1.Container{{Name: "report", Image: "registry.k8s.io/pause:3.10",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")}}}}}}}}
	if _, err := e.cp.Client.BatchV1().Jobs(e.ns).Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A static pod's mirror as its kubelet would create it.
	node, err := e.cp.Client.CoreV1().Nodes().Get(context.Background(), "de-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mirror := st.MakePod().Namespace(e.ns).Name("static-de-0").SchedulerName(proximaScheduler).Labels(labels).Node("de-0").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m"}).Obj()
	mirror.Annotations = map[string]string{v1.MirrorPodAnnotationKey: "hash"}
	mirror.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: ptr.To(true)}}
	createPod(t, e.cp.Client, mirror)

	watch := e.watchPods("none", 0)
	e.eventually("the Deployment's and the Job's pods in de", time.Minute, func() bool {
		return allIn(e.placedAll(), "de") && len(e.placedAll()) == 3
	})
	e.setMode("eu", func(s *placementv1alpha1.PlacementPolicySpec) {
		s.Residency.Allowed.Countries = []placementv1alpha1.CountryCode{"FR"}
	})
	e.eventually("the Deployment's pod moved to fr", 2*time.Minute, func() bool { return allIn(e.placed("web"), "fr") })
	e.rounds(10)
	watch.mu.Lock()
	defer watch.mu.Unlock()
	for pod := range watch.evictedAge {
		if !strings.HasPrefix(pod, "web-") {
			t.Errorf("pod %s was evicted", pod)
		}
	}
	j, err := e.cp.Client.BatchV1().Jobs(e.ns).Get(context.Background(), "report", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status.Failed != 0 {
		t.Errorf("the Job has %d failed pods", j.Status.Failed)
	}
}

// placedAll is the site of every bound, live pod of the namespace.
func (e *rebalanceEnv) placedAll() map[string]string {
	e.t.Helper()
	pods, err := e.cp.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out[p.Name] = strings.TrimSuffix(p.Spec.NodeName, "-0")
		}
	}
	return out
}

// rowVolumeBoundPod: a StatefulSet's pod whose volume is a local
// PersistentVolume on de's node. Residency narrows to FR: its replacement
// could run only in de, so it is not evicted, and the status says why.
func rowVolumeBoundPod(t *testing.T) {
	e := newRebalanceEnv(t, false, "statefulset", "persistentvolume-binder")
	e.site(siteSpec{name: "de", country: "DE", nodes: 1})
	e.site(siteSpec{name: "fr", country: "FR", nodes: 1})
	e.source("users", map[string]int32{"de": 10, "fr": 20})
	spec := latencyPolicy("users")
	spec.Residency = &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []placementv1alpha1.CountryCode{"DE", "FR"}}}
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 300, 600)
	e.policy("eu", spec)

	pv := &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "de-disk-" + e.ns}, Spec: v1.PersistentVolumeSpec{
		Capacity:                      v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
		AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
		PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
		StorageClassName:              "local-" + e.ns,
		PersistentVolumeSource:        v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/mnt/disk"}},
		NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: placementv1alpha1.SiteLabel, Operator: v1.NodeSelectorOpIn, Values: []string{"de"}}}}}}},
	}}
	if _, err := e.cp.Client.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.cp.Client.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
	})
	labels := map[string]string{"app": "db", placementv1alpha1.PolicyLabel: "eu"}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "db"}, Spec: appsv1.StatefulSetSpec{
		Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: v1.PodSpec{
			SchedulerName: proximaScheduler,
			Containers: []v1.Container{{Name: "db", Image: "registry.k8s.io/pause:3.10",
				Resources:    v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")}},
				VolumeMounts: []v1.VolumeMount{{Name: "data", MountPath: "/data"}}}}}},
		VolumeClaimTemplates: []v1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: v1.PersistentVolumeClaimSpec{
			AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}, StorageClassName: ptr.To("local-" + e.ns),
			Resources: v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}}}}},
	}}
	if _, err := e.cp.Client.AppsV1().StatefulSets(e.ns).Create(context.Background(), sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	watch := e.watchPods("db", 1)
	e.eventually("db-0 bound in de with its local volume", 2*time.Minute, func() bool { return allIn(e.placed("db"), "de") })

	e.setMode("eu", func(s *placementv1alpha1.PlacementPolicySpec) {
		s.Residency.Allowed.Countries = []placementv1alpha1.CountryCode{"FR"}
	})
	h := e.held("eu", rebalance.HoldVolume)
	if h.Pod != "db-0" || !strings.Contains(h.Message, pv.Name) {
		t.Errorf("held %+v, want db-0 held naming PersistentVolume %s", h, pv.Name)
	}
	e.rounds(10)
	if n := watch.evicted(); n != 0 {
		t.Fatalf("db-0 evicted %d times; its replacement could run only in de", n)
	}
}

// rowNoFlappingAcrossCriteria: sites a (10 ms, dearer) and b
// (20 ms, cheaper) tie on a policy weighing latency and cost equally, so
// load decides where the scheduler would put a pod again. Load moves
// between the sites; a pod may move toward the site the policy's combined
// objective prefers, never back.
func rowNoFlappingAcrossCriteria(t *testing.T) {
	e := newRebalanceEnv(t, false)
	e.site(siteSpec{name: "a", country: "FR", cpuPrice: "0.10", nodes: 1})
	e.site(siteSpec{name: "b", country: "FR", cpuPrice: "0.05", nodes: 1})
	e.source("users", map[string]int32{"a": 10, "b": 20})
	spec := latencyPolicy("users")
	spec.Weights = &placementv1alpha1.ObjectiveWeights{Latency: ptr.To[int32](1), Cost: ptr.To[int32](1), Load: ptr.To[int32](1)}
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 60, 1, 2)
	spec.Rebalance.MinRTTGainMilliseconds = ptr.To[int32](5)
	spec.Rebalance.MinCostGainPercent = ptr.To[int32](10)
	e.policy("web", spec)
	watch := e.watchPods("web", 1)
	// Load on b places the pod in a.
	load := func(name, site string) {
		createPod(t, e.cp.Client, st.MakePod().Namespace(e.ns).Name(name).Node(site+"-0").
			Req(map[v1.ResourceName]string{v1.ResourceCPU: "2"}).Obj())
	}
	unload := func(name string) {
		if err := e.cp.Client.CoreV1().Pods(e.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	load("filler", "b")
	e.deployment("web", "web", 1, "500m")
	e.eventually("the pod placed in a", time.Minute, func() bool { return allIn(e.placed("web"), "a") })
	unload("filler")

	// Load the pod's site, six times: each time the other site is where
	// the scheduler would put it now.
	for i := range 6 {
		var site string
		for _, s := range e.placed("web") {
			site = s
		}
		name := "filler-" + string(rune('a'+i))
		load(name, site)
		time.Sleep(4 * time.Second) // longer than dwell and cooldown
		unload(name)
	}
	moves := e.events("Rebalance")
	var toA, toB int
	for _, m := range moves {
		switch {
		case strings.HasPrefix(m, "Pod/") && strings.Contains(m, "to site a:"):
			toA++
		case strings.HasPrefix(m, "Pod/") && strings.Contains(m, "to site b:"):
			toB++
		}
	}
	if toA > 0 || toB == 0 {
		t.Errorf("want moves to b only (the combined objective prefers it), got %d to a and %d to b: %v", toA, toB, moves)
	}
	t.Logf("%d evictions: %v", watch.evicted(), moves)
}

// rowAutonomousEdgeSite: a store's uplink goes down (live health
// 0) while its KubeEdge edge node keeps serving the store's clients. Under
// the default onUnhealthySite its pod stays; under Move it moves.
func rowAutonomousEdgeSite(t *testing.T) {
	e := newRebalanceEnv(t, true)
	e.site(siteSpec{name: "store", country: "FR", nodes: 1, nodeLabels: map[string]string{rebalance.KubeEdgeEdgeNodeLabel: ""}})
	e.site(siteSpec{name: "region", country: "FR", nodes: 1})
	for _, s := range []string{"store", "region"} {
		e.exp.Up.WithLabelValues(s).Set(1)
	}
	e.source("shoppers", map[string]int32{"store": 2, "region": 25})
	spec := latencyPolicy("shoppers")
	spec.Rebalance = rebalancing(placementv1alpha1.RebalanceOn, 1, 300, 600)
	e.policy("pos", spec)
	watch := e.watchPods("pos", 1)
	e.deployment("pos", "pos", 1, "100m")
	e.eventually("the pod in the store", time.Minute, func() bool { return allIn(e.placed("pos"), "store") })

	e.exp.Up.WithLabelValues("store").Set(0)
	h := e.held("pos", rebalance.HoldAutonomous)
	if !strings.Contains(h.Message, "KubeEdge") {
		t.Errorf("held %+v, want the KubeEdge marker named", h)
	}
	e.rounds(10)
	if n := watch.evicted(); n != 0 {
		t.Fatalf("%d pods evicted from an autonomous edge site", n)
	}

	e.setMode("pos", func(s *placementv1alpha1.PlacementPolicySpec) {
		s.Rebalance.OnUnhealthySite = placementv1alpha1.UnhealthySiteMove
	})
	e.eventually("the pod moved to the region under onUnhealthySite Move", 2*time.Minute, func() bool { return allIn(e.placed("pos"), "region") })
}
