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

package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/state"
)

// BenchmarkPodStorage is what the placement record costs where every pod
// is kept and sent: bound pods of makeFleet's workload created in a real
// apiserver, without annotations (as the default binder leaves them) and
// with the two placement annotations EdgePlacement's Bind writes, for a
// policy of 8 and of 64 sources. Reported per pod: the annotations' bytes,
// the pod's protobuf size (what etcd stores and every pod watcher receives
// with each update, as the apiserver stored it), and etcd's growth
// (etcd_mvcc_db_total_size_in_use_in_bytes before and after). 1,000 pods
// per case; -fleet: 10,000.
func BenchmarkPodStorage(b *testing.B) {
	pods := 1000
	if *fleet {
		pods = 10000
	}
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cp.Stop() })
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = runtime.ContentTypeProtobuf
	kube := kubernetes.NewForConfigOrDie(cfg)
	for _, c := range []struct {
		name    string
		sources int // 0: no record
		// v1Bytes, when set, stands for a version-1 record of 64 sources:
		// one annotation of that many bytes, what version 1 wrote (its
		// BenchmarkPlacementRecord then), for etcd's growth before.
		v1Bytes int
	}{{"no record", 0, 0}, {"record, 8 sources", 8, 0}, {"record, 64 sources", 64, 0}, {"version-1 size, 64 sources", 64, 15199}} {
		b.Run(c.name, func(b *testing.B) {
			f := makeFleet(50, 10, max(c.sources, 1), pods)
			ns := strings.ReplaceAll(strings.ReplaceAll(c.name, ",", ""), " ", "-")
			if _, err := kube.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			var annotations map[string]string
			switch {
			case c.v1Bytes > 0:
				annotations = map[string]string{placementv1alpha1.PlacementRecordAnnotation: strings.Repeat("x", c.v1Bytes)}
			case c.sources > 0:
				annotations = recordAnnotations(b, f)
			}
			for _, p := range f.pods {
				p.Namespace, p.Annotations = ns, annotations
			}
			annotationBytes := 0
			for k, v := range annotations {
				annotationBytes += len(k) + len(v)
			}
			for range b.N {
				before := etcdInUse(b, cp)
				parallel(b, len(f.pods), func(i int) error {
					p := f.pods[i].DeepCopy()
					p.Name = fmt.Sprintf("%s-%d", p.Name, b.N)
					_, err := kube.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
					return err
				})
				b.ReportMetric((etcdInUse(b, cp)-before)/float64(len(f.pods)), "etcd-bytes/pod")
			}
			b.ReportMetric(float64(annotationBytes), "annotation-bytes/pod")
			stored, err := kube.CoreV1().Pods(ns).Get(context.Background(), fmt.Sprintf("%s-%d", f.pods[0].Name, b.N), metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(stored.Size()), "proto-bytes/pod")
		})
	}
}

// recordAnnotations are the annotations EdgePlacement's Bind writes for
// f's first pod on its best site's first node.
func recordAnnotations(b *testing.B, f fleetObjects) map[string]string {
	w, _ := rebalanceWorld(50, 10, len(f.sources), 0)
	pp, err := w.Snap.PlanPod(f.pods[0], state.GPUResources{}, w)
	if err != nil || pp == nil {
		b.Fatalf("planning the pod: %v", err)
	}
	site := int(pp.Plan.Ranked()[0])
	node := w.Snap.NodesIn(site)[0]
	rec := pp.Record(w.Snap, node, site, 0.25, nil)
	return state.Annotations(&rec)
}

// etcdInUse reads etcd_mvcc_db_total_size_in_use_in_bytes from etcd's own
// metrics.
func etcdInUse(b *testing.B, cp *controlplane.ControlPlane) float64 {
	const name = "etcd_mvcc_db_total_size_in_use_in_bytes"
	resp, err := http.Get(cp.EtcdURL().JoinPath("metrics").String())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatalf("etcd's metrics: %v", err)
	}
	f := families[name]
	if f == nil || len(f.GetMetric()) != 1 {
		b.Fatalf("etcd's metrics have no single %s", name)
	}
	return f.GetMetric()[0].GetGauge().GetValue()
}
