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
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"

	"github.com/proxima-sched/proxima/pkg/cli"
	"github.com/proxima-sched/proxima/pkg/controlplane"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
)

// BenchmarkCLI is `kubectl proxima` against a real apiserver holding a
// fleet (makeFleet's objects): the whole command, from listing the cluster
// in pages to the printed table, per run. `sites` prints every site,
// `sites NAME` one, and `explain` one bound pod. -fleet adds 10,000 sites,
// 50,000 nodes and 50,000 pods.
func BenchmarkCLI(b *testing.B) {
	sizes := []struct{ sites, nodesPerSite, sources, pods int }{{50, 10, 8, 1000}}
	if *fleet {
		sizes = append(sizes, struct{ sites, nodesPerSite, sources, pods int }{10000, 5, 16, 50000})
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%d nodes, %d sites, %d pods", size.sites*size.nodesPerSite, size.sites, size.pods), func(b *testing.B) {
			f := makeFleet(size.sites, size.nodesPerSite, size.sources, size.pods)
			cp, err := controlplane.Start(controlplane.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = cp.Stop() })
			createFleet(b, cp, f)
			kubeconfig, err := cp.Kubeconfig(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct {
				name string
				args []string
				// want is in what the command prints.
				want string
			}{
				{"sites", []string{"sites"}, f.sites[len(f.sites)-1].Name},
				{"sites NAME", []string{"sites", f.sites[0].Name}, f.sites[0].Name},
				{"explain", []string{"explain", "pod", f.pods[0].Name, "-n", f.pods[0].Namespace}, f.pods[0].Spec.NodeName},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					var printed int
					for range b.N {
						var out, errOut bytes.Buffer
						cmd := cli.NewCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
						cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig}, c.args...))
						if err := cmd.ExecuteContext(context.Background()); err != nil {
							b.Fatalf("kubectl proxima %s: %v\n%s", strings.Join(c.args, " "), err, errOut.String())
						}
						if !strings.Contains(out.String(), c.want) {
							b.Fatalf("kubectl proxima %s printed no %q:\n%.2000s", strings.Join(c.args, " "), c.want, out.String())
						}
						printed = out.Len()
					}
					b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/run")
					b.ReportMetric(float64(printed), "bytes-printed")
				})
			}
		})
	}
}

// createFleet creates f's objects in the apiserver, 64 at a time, with a
// client of its own whose rate limit is not the test's.
func createFleet(b *testing.B, cp *controlplane.ControlPlane, f fleetObjects) {
	ctx := context.Background()
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = -1, 0
	pc := versioned.NewForConfigOrDie(cfg).PlacementV1alpha1()
	cfg.ContentType = runtime.ContentTypeProtobuf
	kube := kubernetes.NewForConfigOrDie(cfg)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.policy.Namespace}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := pc.PlacementPolicies(f.policy.Namespace).Create(ctx, f.policy, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	parallel(b, len(f.sources), func(i int) error {
		_, err := pc.TrafficSources().Create(ctx, f.sources[i], metav1.CreateOptions{})
		return err
	})
	parallel(b, len(f.sites), func(i int) error {
		_, err := pc.Sites().Create(ctx, f.sites[i], metav1.CreateOptions{})
		return err
	})
	parallel(b, len(f.nodes), func(i int) error {
		_, err := kube.CoreV1().Nodes().Create(ctx, f.nodes[i], metav1.CreateOptions{})
		return err
	})
	parallel(b, len(f.pods), func(i int) error {
		_, err := kube.CoreV1().Pods(f.pods[i].Namespace).Create(ctx, f.pods[i], metav1.CreateOptions{})
		return err
	})
}

// parallel runs do(0..n-1), 64 at a time, and fails b on the first error.
func parallel(b *testing.B, n int, do func(i int) error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var first error
	var once sync.Once
	workqueue.ParallelizeUntil(ctx, 64, n, func(i int) {
		if err := do(i); err != nil {
			once.Do(func() { first = err; cancel() })
		}
	})
	if first != nil {
		b.Fatal(first)
	}
}
