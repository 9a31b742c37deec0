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

package edgeplacement

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// Every published snapshot retries the waiting pods; a pod judged against
// a snapshot older than the current one missed that retry and is activated
// as it is added.
func TestWaitingPodsRetry(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl := testPlugin(t, nil, nil)
	var mu sync.Mutex
	activated := sets.New[string]()
	took := func() sets.Set[string] {
		mu.Lock()
		defer mu.Unlock()
		out := activated
		activated = sets.New[string]()
		return out
	}
	pl.waiting = newWaitingPods(pl.model, func(_ klog.Logger, pods map[string]*v1.Pod) {
		mu.Lock()
		defer mu.Unlock()
		for k := range pods {
			activated.Insert(k)
		}
	})
	pod := func(name string) *v1.Pod { return st.MakePod().Namespace(ns).Name(name).UID(name).Obj() }
	publish := func() {
		gen := pl.model.Load().Generation
		pl.model.LiveChanged()
		waitForGeneration(t, pl.model, gen)
	}

	before := pl.model.Load().Generation
	pl.waiting.add(ctx, pod("a"), before)
	if got := took(); got.Len() != 0 {
		t.Fatalf("activated %v on a current rejection, want none", sets.List(got))
	}
	publish() // the world changed: a is retried
	if diff := cmp.Diff([]string{ns + "/a"}, sets.List(took())); diff != "" {
		t.Fatalf("after a publish (-want,+got):\n%s", diff)
	}
	pl.waiting.add(ctx, pod("b"), before) // b read the world before that publish
	pl.waiting.add(ctx, pod("c"), pl.model.Load().Generation)
	if diff := cmp.Diff([]string{ns + "/b"}, sets.List(took())); diff != "" {
		t.Errorf("additions after a publish (-want,+got):\n%s", diff)
	}
	pl.waiting.remove(pod("c")) // c bound
	publish()
	if diff := cmp.Diff([]string{ns + "/b"}, sets.List(took())); diff != "" {
		t.Errorf("next publish (-want,+got):\n%s", diff)
	}
}
