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

// Package edgeplacement is the EdgePlacement scheduler plugin: it places each
// pod governed by a PlacementPolicy where the policy's hard rules allow
// (residency, tier, hardware, max RTT, max cost, site health, node load)
// and, among those, where its objective (latency, cost, load) is best, and
// it says why. The world it places against is pkg/state's model; the rules
// and scores are pkg/scoring's. This package holds the extension points
// (filtering.go, scoring.go, binding.go) and the explanations (explain.go).
// See README.md.
package edgeplacement

import (
	"context"
	"slices"
	"testing"

	k8sfake "k8s.io/client-go/kubernetes/fake"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/pkg/scheduler"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// TestIndexPodsByNamespace: kube-scheduler's pod informer has no namespace
// index; EdgePlacement adds one, once, so that listing a namespace's pods
// for a policy's dependencies reads that namespace only.
func TestIndexPodsByNamespace(t *testing.T) {
	a := st.MakePod().Namespace("a").Name("p").Obj()
	b := st.MakePod().Namespace("b").Name("q").Obj()
	informer := scheduler.NewInformerFactory(k8sfake.NewSimpleClientset(a, b), 0).Core().V1().Pods().Informer()
	if _, ok := informer.GetIndexer().GetIndexers()[toolscache.NamespaceIndex]; ok {
		t.Fatal("the scheduler's pod informer has a namespace index already: this test checks nothing")
	}
	for range 2 {
		if err := indexPodsByNamespace(informer); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go informer.Run(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("the pod informer never synced")
	}
	keys, err := informer.GetIndexer().IndexKeys(toolscache.NamespaceIndex, "b")
	if err != nil || !slices.Equal(keys, []string{"b/q"}) {
		t.Errorf("namespace b by the index: %v, %v", keys, err)
	}
}
