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

package status

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	coreinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned/fake"
	informers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	"github.com/proxima-sched/proxima/pkg/state"
)

// BenchmarkReconcile is one reconcile of a fleet whose status is already
// current (the steady state: a settle's burst of pod or node events that
// changed no count), so it measures the reading and comparing, not the
// writes. Reported per reconcile, and the status writes it made (0).
func BenchmarkReconcile(b *testing.B) {
	for _, size := range []struct{ sites, perSite, pods int }{{1000, 10, 10000}, {10000, 5, 50000}} {
		b.Run(fmt.Sprintf("%d sites, %d nodes, %d pods", size.sites, size.sites*size.perSite, size.pods), func(b *testing.B) {
			_, ctx := ktesting.NewTestContext(b)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var objs, coreObjs []runtime.Object
			src := &placementv1alpha1.TrafficSource{ObjectMeta: metav1.ObjectMeta{Name: "users"}}
			for s := range size.sites {
				name := fmt.Sprintf("site-%d", s)
				objs = append(objs, &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: placementv1alpha1.SiteSpec{
					Tier: placementv1alpha1.TierEdge, Country: []string{"DE", "FR", "US", "JP"}[s%4],
					Location: placementv1alpha1.GeoLocation{Latitude: "0", Longitude: "0"}}})
				if s < 2000 { // a TrafficSource declares at most 2,000 RTTs
					src.Spec.RTTs = append(src.Spec.RTTs, placementv1alpha1.SiteRTT{Site: name, Milliseconds: int32(5 + s%200)})
				}
				for n := range size.perSite {
					node := st.MakeNode().Name(fmt.Sprintf("%s-%d", name, n)).Label(placementv1alpha1.SiteLabel, name).
						Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "16Gi", v1.ResourcePods: "110"}).Obj()
					node.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
					coreObjs = append(coreObjs, node)
				}
			}
			objs = append(objs, src)
			for i, spec := range []placementv1alpha1.PlacementPolicySpec{
				{Latency: &placementv1alpha1.LatencyPolicy{Sources: []placementv1alpha1.SourceWeight{{Name: "users"}}, MaxRTTMilliseconds: ptr.To[int32](60)}},
				{Residency: &placementv1alpha1.Residency{Allowed: &placementv1alpha1.Areas{Countries: []string{"DE", "FR"}}}},
				{Tiers: []placementv1alpha1.SiteTier{placementv1alpha1.TierEdge}},
			} {
				spec.PodSelector = &placementv1alpha1.PodSelector{MatchLabels: map[string]placementv1alpha1.LabelValue{"workload": placementv1alpha1.LabelValue(fmt.Sprint(i))}}
				objs = append(objs, &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("p%d", i)}, Spec: spec})
			}
			for i := range size.pods {
				coreObjs = append(coreObjs, st.MakePod().Namespace("shop").Name(fmt.Sprintf("pod-%d", i)).
					Label("workload", fmt.Sprint(i%4)).SchedulerName(DefaultSchedulerName).
					Node(fmt.Sprintf("site-%d-%d", i%size.sites, i%size.perSite)).Obj())
			}
			// The informers read one clientset and the controller writes
			// through another, which keeps what it is sent: the fake's
			// watch would not hold a fleet's worth of status events. The
			// first reconcile's writes become the world the benchmark reads.
			var written []runtime.Object
			writes := fake.NewSimpleClientset()
			writes.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
				obj := a.(k8stesting.UpdateAction).GetObject()
				written = append(written, obj)
				return true, obj, nil
			})
			start := func(objs []runtime.Object) *Controller {
				factory := informers.NewSharedInformerFactory(fake.NewSimpleClientset(objs...), 0)
				core := coreinformers.NewSharedInformerFactory(k8sfake.NewSimpleClientset(coreObjs...), 0)
				c, err := New(writes, factory, core, state.Options{})
				if err != nil {
					b.Fatal(err)
				}
				factory.Start(ctx.Done())
				core.Start(ctx.Done())
				if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
					b.Fatal("caches did not sync")
				}
				if err := c.model.WaitForCacheSync(ctx, time.Minute); err != nil {
					b.Fatal(err)
				}
				return c
			}
			if err := start(objs).reconcile(ctx); err != nil {
				b.Fatal(err)
			}
			current := map[string]runtime.Object{}
			for _, o := range written {
				m, _ := meta.Accessor(o)
				current[fmt.Sprintf("%T/%s/%s", o, m.GetNamespace(), m.GetName())] = o
			}
			for i, o := range objs {
				m, _ := meta.Accessor(o)
				if w, ok := current[fmt.Sprintf("%T/%s/%s", o, m.GetNamespace(), m.GetName())]; ok {
					objs[i] = w
				}
			}
			c := start(objs)
			written = nil
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := c.reconcile(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(written))/float64(b.N), "writes/op")
			if len(written) > 0 {
				m, _ := meta.Accessor(written[0])
				b.Fatalf("a reconcile of a current world wrote %d statuses: %T %s %+v", len(written), written[0], m.GetName(), written[0])
			}
		})
	}
}
