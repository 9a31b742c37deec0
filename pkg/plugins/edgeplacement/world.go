package edgeplacement

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/proxima-sched/proxima/apis/config"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	placementinformers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	listers "github.com/proxima-sched/proxima/pkg/generated/listers/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/pkg/telemetry"
)

// world is the per-scheduler state every profile's EdgePlacement shares: one
// informer factory for our CRDs, the published snapshot, and the policies
// indexed by namespace. It is keyed by the scheduler's informer factory, so
// all profiles of one scheduler share it and two schedulers in one process
// (as in tests) do not.
type world struct {
	sites    listers.SiteLister
	sources  listers.TrafficSourceLister
	policies listers.PlacementPolicyLister

	publisher *state.Publisher
	index     atomic.Pointer[policyIndex]
	// nodesBySite lists node names per site label value, so PreFilter
	// touches only the nodes of the sites it considers.
	nodesBySite atomic.Pointer[map[string][]string]
	nodes       corelisters.NodeLister
	nodesDirty  chan struct{}

	rebuild chan struct{}
	// live is the telemetry collector; nil without telemetry.
	live *telemetry.Collector

	// rejected holds pods EdgePlacement turned away or narrowed and that
	// are not bound yet; after every rebuild of the world or of the
	// site-to-nodes index they are moved back to the active queue, so a
	// change that makes a pod schedulable retries it even when the
	// scheduler saw the event before this world did.
	mu       sync.Mutex
	rejected map[types.UID]*v1.Pod
	activate func(klog.Logger, map[string]*v1.Pod)
	// generation counts the retries, each after a new snapshot or index
	// was published; a pod judged against an older generation is retried
	// at once when it is remembered (see reject).
	generation atomic.Uint64
	// nodesSynced reports whether the node informer has delivered its
	// initial list to this world's handler; until then the site-to-nodes
	// index stays empty (nil: always synced).
	nodesSynced func() bool
}

// policyIndex holds the policies of each namespace with their parsed
// selectors, highest priority first, then by name.
type policyIndex struct {
	byNamespace map[string][]compiledPolicy
}

type compiledPolicy struct {
	policy   *placementv1alpha1.PlacementPolicy
	selector labels.Selector // nil: matches no pod (label only)
	priority int32
	// hardware is the policy's hardware rule as a node selector (nil: no
	// rule), parsed once per policy change rather than per pod; hardwareErr
	// is why it could not be parsed, which fails its pods closed.
	hardware    *nodeaffinity.NodeSelector
	hardwareErr error
}

var (
	worldsMu sync.Mutex
	worlds   = map[informers.SharedInformerFactory]*world{}
)

// sharedWorld returns the world for this scheduler, starting it on first use:
// informers run with ctx (the scheduler's), and the first call waits for
// their caches at most timeout.
func sharedWorld(ctx context.Context, key informers.SharedInformerFactory, cfg *rest.Config,
	activate func(klog.Logger, map[string]*v1.Pod), timeout time.Duration, tel *config.TelemetryArgs) (*world, error) {
	worldsMu.Lock()
	defer worldsMu.Unlock()
	if w, ok := worlds[key]; ok {
		return w, nil
	}
	if cfg == nil {
		return nil, fmt.Errorf("the scheduler has no kubeconfig to watch Sites, TrafficSources and PlacementPolicies with")
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	factory := placementinformers.NewSharedInformerFactory(client, 0)
	p := factory.Placement().V1alpha1()
	w := newWorld(p.Sites().Lister(), p.TrafficSources().Lister(), p.PlacementPolicies().Lister(), activate)
	nodeInformer := key.Core().V1().Nodes()
	w.nodes = nodeInformer.Lister()
	reg, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { w.kickNodes() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*v1.Node)
			n, ok2 := newObj.(*v1.Node)
			if !ok1 || !ok2 || o.Labels[placementv1alpha1.SiteLabel] != n.Labels[placementv1alpha1.SiteLabel] {
				w.kickNodes()
			}
		},
		DeleteFunc: func(any) { w.kickNodes() },
	})
	if err != nil {
		return nil, err
	}
	w.nodesSynced = reg.HasSynced
	kick := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.kick() },
		UpdateFunc: func(any, any) { w.kick() },
		DeleteFunc: func(any) { w.kick() },
	}
	var synced []cache.InformerSynced
	for _, inf := range []cache.SharedIndexInformer{p.Sites().Informer(), p.TrafficSources().Informer(), p.PlacementPolicies().Informer()} {
		if _, err := inf.AddEventHandler(kick); err != nil {
			return nil, err
		}
		synced = append(synced, inf.HasSynced)
	}
	factory.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), synced...) {
		factory.Shutdown()
		return nil, fmt.Errorf("Site, TrafficSource and PlacementPolicy caches did not sync within %s: are the placement.proxima.dev CRDs installed, and may the scheduler list and watch them?", timeout)
	}
	if tel != nil {
		c, err := telemetry.New(telemetryConfig(tel), w.kick)
		if err != nil {
			factory.Shutdown()
			return nil, err
		}
		w.live = c
	}
	if err := w.refresh(); err != nil {
		return nil, err
	}
	if w.live != nil {
		go w.live.Run(ctx)
	}
	go w.run(ctx)
	go w.runNodes(ctx)
	go func() {
		<-ctx.Done()
		factory.Shutdown()
		worldsMu.Lock()
		delete(worlds, key)
		worldsMu.Unlock()
	}()
	worlds[key] = w
	return w, nil
}

func newWorld(sites listers.SiteLister, sources listers.TrafficSourceLister, policies listers.PlacementPolicyLister,
	activate func(klog.Logger, map[string]*v1.Pod)) *world {
	w := &world{
		sites:      sites,
		sources:    sources,
		policies:   policies,
		publisher:  state.NewPublisher(),
		rebuild:    make(chan struct{}, 1),
		nodesDirty: make(chan struct{}, 1),
		rejected:   map[types.UID]*v1.Pod{},
		activate:   activate,
	}
	w.index.Store(&policyIndex{})
	w.nodesBySite.Store(&map[string][]string{})
	return w
}

func (w *world) kickNodes() {
	select {
	case w.nodesDirty <- struct{}{}:
	default:
	}
}

// nodeSettle is how long runNodes waits after a node event before it
// rebuilds the site-to-nodes index: the most a joining node waits to be
// used, and the least time between two rebuilds.
const nodeSettle = 100 * time.Millisecond

// runNodes rebuilds the site-to-nodes index after nodes join, leave or
// change site, coalescing bursts. The scheduler's node informer may start
// after this world; the index waits for its initial list (indexNodes).
func (w *world) runNodes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.nodesDirty:
		}
		// Let a burst of node events (a fleet joining) settle so that one
		// O(nodes) rebuild covers it, rather than one per node.
		select {
		case <-ctx.Done():
			return
		case <-time.After(nodeSettle):
		}
		select {
		case <-w.nodesDirty:
		default:
		}
		if !w.indexNodes(klog.FromContext(ctx)) {
			w.kickNodes() // look again after a settle
		}
	}
}

// indexNodes rebuilds the site-to-nodes index from the node lister and
// retries the pods narrowed against the old one. It does nothing and
// returns false until the node informer has delivered its initial list:
// the informer fills its cache one node at a time, and an index of part of
// the fleet would narrow pods to the wrong sites, while an empty one only
// turns them away until the index is whole (and then retries them).
func (w *world) indexNodes(logger klog.Logger) bool {
	if w.nodesSynced != nil && !w.nodesSynced() {
		return false
	}
	nodes, err := w.nodes.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing nodes for the site index")
		return true
	}
	w.setNodes(nodes)
	// A pod narrowed before this node joined its site never saw it; the
	// framework's own node event may have come first.
	w.retry(logger)
	return true
}

// setNodes publishes the site-to-nodes index for these nodes.
func (w *world) setNodes(nodes []*v1.Node) {
	idx := map[string][]string{}
	for _, n := range nodes {
		if site, ok := n.Labels[placementv1alpha1.SiteLabel]; ok {
			idx[site] = append(idx[site], n.Name)
		}
	}
	w.nodesBySite.Store(&idx)
}

func (w *world) kick() {
	select {
	case w.rebuild <- struct{}{}:
	default: // a rebuild is already pending; it will see this change
	}
}

// run rebuilds after changes, coalescing bursts, until ctx is done.
func (w *world) run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.rebuild:
		}
		if err := w.refresh(); err != nil {
			logger.Error(err, "Rebuilding the placement world; keeping the previous snapshot")
			continue
		}
		w.retry(logger)
	}
}

// retry moves the pods EdgePlacement turned away, or narrowed to a set of
// nodes, back to the active queue: the world they were judged against has
// changed.
func (w *world) retry(logger klog.Logger) {
	w.mu.Lock()
	w.generation.Add(1)
	pods := make(map[string]*v1.Pod, len(w.rejected))
	for _, p := range w.rejected {
		pods[p.Namespace+"/"+p.Name] = p
	}
	clear(w.rejected)
	w.mu.Unlock()
	if len(pods) > 0 && w.activate != nil {
		w.activate(logger, pods)
	}
}

// refresh rebuilds the snapshot and the policy index from the listers.
func (w *world) refresh() error {
	sites, err := w.sites.List(labels.Everything())
	if err != nil {
		return err
	}
	sources, err := w.sources.List(labels.Everything())
	if err != nil {
		return err
	}
	policies, err := w.policies.List(labels.Everything())
	if err != nil {
		return err
	}
	idx := &policyIndex{byNamespace: map[string][]compiledPolicy{}}
	for _, p := range policies {
		cp := compiledPolicy{policy: p}
		if p.Spec.Priority != nil {
			cp.priority = *p.Spec.Priority
		}
		if sel := p.Spec.PodSelector.LabelSelector(); sel != nil {
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				// Admission validates selectors; one that still fails to parse
				// matches nothing rather than everything.
				s = labels.Nothing()
			}
			cp.selector = s
		}
		cp.hardware, cp.hardwareErr = hardwareSelector(p.Spec.Hardware)
		idx.byNamespace[p.Namespace] = append(idx.byNamespace[p.Namespace], cp)
	}
	for _, list := range idx.byNamespace {
		slices.SortFunc(list, func(a, b compiledPolicy) int {
			if a.priority != b.priority {
				return int(b.priority - a.priority)
			}
			return strings.Compare(a.policy.Name, b.policy.Name)
		})
	}
	// Nodes are resolved to sites through their labels at scheduling time,
	// so the snapshot carries no node arrays and node churn costs nothing.
	in := state.Inputs{Sites: sites, Sources: sources}
	if w.live != nil {
		in.Live = w.live.Load()
	}
	w.publisher.Rebuild(in, true)
	w.index.Store(idx)
	return nil
}

func telemetryConfig(t *config.TelemetryArgs) telemetry.Config {
	q := func(s *config.SignalArgs) telemetry.Query {
		if s == nil {
			return telemetry.Query{}
		}
		return telemetry.Query{PromQL: s.Query, MaxAge: time.Duration(s.MaxAgeSeconds) * time.Second,
			NodeLabel: s.NodeLabel, SourceLabel: s.SourceLabel, SiteLabel: s.SiteLabel}
	}
	return telemetry.Config{
		Address: t.Address,
		Refresh: time.Duration(t.RefreshSeconds) * time.Second, Timeout: time.Duration(t.QueryTimeoutSeconds) * time.Second,
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, BearerTokenFile: t.BearerTokenFile,
		NodeLoad: q(t.NodeUtilization), RTT: q(t.RTT), Price: q(t.Price), Health: q(t.Health),
	}
}

// reject remembers a pod EdgePlacement turned away or narrowed, judged
// against the world of generation gen (read before the snapshot and index
// were). If a retry has run since, the pod missed it, so it is activated
// now; the queue requeues a pod still in flight when its attempt ends.
func (w *world) reject(ctx context.Context, pod *v1.Pod, gen uint64) {
	w.mu.Lock()
	w.rejected[pod.UID] = pod
	missed := w.generation.Load() != gen
	w.mu.Unlock()
	if missed && w.activate != nil {
		w.activate(klog.FromContext(ctx), map[string]*v1.Pod{pod.Namespace + "/" + pod.Name: pod})
	}
}

// forget drops a pod that no longer needs a retry.
func (w *world) forget(pod *v1.Pod) {
	w.mu.Lock()
	delete(w.rejected, pod.UID)
	w.mu.Unlock()
}

// errPolicyNotFound is returned when a pod names a policy that does not exist.
type errPolicyNotFound struct{ namespace, name string }

func (e errPolicyNotFound) Error() string {
	return fmt.Sprintf("pod names PlacementPolicy %s/%s (label %s), which does not exist",
		e.namespace, e.name, placementv1alpha1.PolicyLabel)
}

// hardwareSelector parses a hardware rule; nil for none.
func hardwareSelector(hw *placementv1alpha1.HardwareRequirements) (*nodeaffinity.NodeSelector, error) {
	if hw == nil {
		return nil, nil
	}
	reqs := make([]v1.NodeSelectorRequirement, 0, len(hw.NodeSelector))
	for _, r := range hw.NodeSelector {
		reqs = append(reqs, r.NodeSelectorRequirement())
	}
	return nodeaffinity.NewNodeSelector(&v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: reqs}}})
}

// policyFor resolves the pod's policy: the label wins; else the matching
// selector with the highest priority, ties by name; nil when none applies.
func (w *world) policyFor(pod *v1.Pod) (*compiledPolicy, error) {
	list := w.index.Load().byNamespace[pod.Namespace]
	if name, ok := pod.Labels[placementv1alpha1.PolicyLabel]; ok {
		for i := range list {
			if list[i].policy.Name == name {
				return &list[i], nil
			}
		}
		return nil, errPolicyNotFound{pod.Namespace, name}
	}
	set := labels.Set(pod.Labels)
	for i := range list {
		if list[i].selector != nil && list[i].selector.Matches(set) {
			return &list[i], nil
		}
	}
	return nil, nil
}
