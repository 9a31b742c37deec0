package edgeplacement

import (
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	clientcache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	listers "github.com/proxima-sched/proxima/pkg/generated/listers/placement/v1alpha1"
)

func emptyWorld(activate func(klog.Logger, map[string]*v1.Pod)) *world {
	idx := func() clientcache.Indexer {
		return clientcache.NewIndexer(clientcache.MetaNamespaceKeyFunc, clientcache.Indexers{})
	}
	return newWorld(listers.NewSiteLister(idx()), listers.NewTrafficSourceLister(idx()),
		listers.NewPlacementPolicyLister(idx()), activate)
}

// A pod judged against the world before a retry ran, but remembered after
// it, must not wait for the next change: reject activates it at once.
func TestRejectCatchesAMissedRetry(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	var activated []string
	w := emptyWorld(func(_ klog.Logger, pods map[string]*v1.Pod) {
		for k := range pods {
			activated = append(activated, k)
		}
	})
	pod := func(name string) *v1.Pod { return st.MakePod().Namespace(ns).Name(name).UID(name).Obj() }

	before := w.generation.Load()
	w.reject(ctx, pod("a"), before)
	if len(activated) != 0 {
		t.Fatalf("activated %v on a current rejection, want none", activated)
	}
	w.retry(logger) // the world changed: a is retried
	if diff := cmp.Diff([]string{ns + "/a"}, activated); diff != "" {
		t.Fatalf("after retry (-want,+got):\n%s", diff)
	}
	activated = nil
	w.reject(ctx, pod("b"), before) // b read the world before that retry
	w.reject(ctx, pod("c"), w.generation.Load())
	if diff := cmp.Diff([]string{ns + "/b"}, activated); diff != "" {
		t.Errorf("rejections after a retry (-want,+got):\n%s", diff)
	}
	activated = nil
	w.retry(logger) // both stay remembered until they bind
	if len(activated) != 2 {
		t.Errorf("next retry activated %v, want b and c", activated)
	}
}

// The site-to-nodes index waits for the node informer's initial list.
func TestNodeIndexWaitsForInitialList(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	nodes := clientcache.NewIndexer(clientcache.MetaNamespaceKeyFunc, clientcache.Indexers{})
	if err := nodes.Add(st.MakeNode().Name("n1").Label(placementv1alpha1.SiteLabel, "par").Obj()); err != nil {
		t.Fatal(err)
	}
	var synced atomic.Bool
	w := emptyWorld(nil)
	w.nodes = corelisters.NewNodeLister(nodes)
	w.nodesSynced = synced.Load
	if w.indexNodes(logger) {
		t.Error("indexNodes before the initial list = true, want false")
	}
	if got := *w.nodesBySite.Load(); len(got) != 0 {
		t.Errorf("index before the initial list = %v, want empty", got)
	}
	synced.Store(true)
	if !w.indexNodes(logger) {
		t.Error("indexNodes after the initial list = false, want true")
	}
	if diff := cmp.Diff(map[string][]string{"par": {"n1"}}, *w.nodesBySite.Load()); diff != "" {
		t.Errorf("index (-want,+got):\n%s", diff)
	}
}
