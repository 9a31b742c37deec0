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
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Cluster is where a plan finds the pods a policy's dependencies select
// and the nodes they run on: the scheduler's and the controller's
// informers, or the lists `kubectl proxima` read.
type Cluster interface {
	// SelectPods are the pods of the namespace that sel matches.
	SelectPods(namespace string, sel labels.Selector) ([]*v1.Pod, error)
	// Node is the named node, nil when it is not known.
	Node(name string) *v1.Node
	// Service is the named Service of the namespace, nil when it does not
	// exist; an error when the cluster cannot tell.
	Service(namespace, name string) (*v1.Service, error)
}

// ListerCluster is a Cluster read from listers.
type ListerCluster struct {
	PodLister     corelisters.PodLister
	NodeLister    corelisters.NodeLister
	ServiceLister corelisters.ServiceLister
}

// SelectPods lists the namespace's pods that sel matches.
func (c ListerCluster) SelectPods(namespace string, sel labels.Selector) ([]*v1.Pod, error) {
	return c.PodLister.Pods(namespace).List(sel)
}

// Service gets the named Service; nil when the lister has none.
func (c ListerCluster) Service(namespace, name string) (*v1.Service, error) {
	if c.ServiceLister == nil {
		return nil, ErrNoServices
	}
	svc, err := c.ServiceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return svc, err
}

// ErrNoServices: a dependency names a Service and the Services cannot be
// read here.
var ErrNoServices = errors.New("the policy has a dependency on a Service and Services cannot be read here")

// Node gets the named node; nil when the lister has none.
func (c ListerCluster) Node(name string) *v1.Node {
	n, err := c.NodeLister.Get(name)
	if err != nil {
		return nil
	}
	return n
}

// DependencyPlacement is where one of a policy's dependencies runs: its
// pods bound to a node of a known Site, counted per site, and those bound
// to a node whose site is not known.
type DependencyPlacement struct {
	// Name is the dependency's name in the policy.
	Name string
	// Sites are site indexes, ascending, and Pods the pods running at each.
	Sites, Pods []int32
	// Unlocated counts its pods bound to a node in no known Site, or to a
	// node not known yet, and is 1 for a Service without a selector (its
	// endpoints cannot be located): the RTT to them is unknown, so the RTT
	// to the dependency is (its bound fails everywhere: fail closed).
	Unlocated int32
}

// Placed reports whether any of the dependency's pods is bound.
func (d *DependencyPlacement) Placed() bool { return len(d.Sites) > 0 || d.Unlocated > 0 }

// key is the placement in a canonical form: "name:3=2,7=1".
func (d *DependencyPlacement) key(b *strings.Builder) {
	b.WriteString(d.Name)
	b.WriteByte(':')
	for i, s := range d.Sites {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(s)))
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(int(d.Pods[i])))
	}
	if d.Unlocated > 0 {
		b.WriteString(",?=")
		b.WriteString(strconv.Itoa(int(d.Unlocated)))
	}
	b.WriteByte(';')
}

// ErrNoCluster: a policy with dependencies is planned without a Cluster to
// find them in, so its dependency rules cannot be evaluated.
var ErrNoCluster = errors.New("the policy has dependencies and their pods cannot be listed here")

// dependencySelectors parses the policy's dependency selectors; a selector
// that does not parse selects nothing (admission validates them), and a
// dependency on a Service has none here (its Service's selector is read
// when it is placed).
func dependencySelectors(deps []placementv1alpha1.DependencyRef) []labels.Selector {
	if len(deps) == 0 {
		return nil
	}
	out := make([]labels.Selector, len(deps))
	for i := range deps {
		s, err := metav1.LabelSelectorAsSelector(deps[i].PodSelector.LabelSelector())
		if err != nil {
			s = labels.Nothing()
		}
		out[i] = s
	}
	return out
}

// PlaceDependencies finds where each of the policy's dependencies runs:
// the pods its selector matches in the policy's namespace that are bound
// and neither finished nor being deleted, except pod itself (nil: none),
// by the site of their node (Unlocated when it has none the snapshot
// knows). nil for a policy without dependencies. The namespace's pods are
// listed once for all the dependencies: a lister's List copies the
// namespace's index on every call.
func (s *Snapshot) PlaceDependencies(policy *ResolvedPolicy, pod *v1.Pod, c Cluster) ([]DependencyPlacement, error) {
	deps := policy.Spec.Dependencies
	if len(deps) == 0 {
		return nil, nil
	}
	if c == nil {
		return nil, ErrNoCluster
	}
	out := make([]DependencyPlacement, len(deps))
	var (
		pods   []*v1.Pod
		listed bool
		// at holds the site of each pod of one dependency, sorted and
		// counted into its Sites and Pods.
		at []int32
	)
	for i := range deps {
		out[i].Name = deps[i].Name
		sel := policy.dependencies[i]
		if name := deps[i].Service; name != nil {
			svc, err := c.Service(policy.Namespace, *name)
			switch {
			case err != nil:
				return nil, fmt.Errorf("reading Service %q of dependency %q: %w", *name, deps[i].Name, err)
			case svc == nil:
				continue // not created yet: not placed
			case len(svc.Spec.Selector) == 0:
				// Endpoints Proxima cannot locate: the RTT is unknown.
				out[i].Unlocated = 1
				continue
			}
			sel = labels.SelectorFromSet(svc.Spec.Selector)
		}
		if !listed {
			var err error
			if pods, err = c.SelectPods(policy.Namespace, labels.Everything()); err != nil {
				return nil, fmt.Errorf("listing the pods of dependency %q: %w", deps[i].Name, err)
			}
			listed = true
		}
		at = at[:0]
		for _, p := range pods {
			if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed ||
				!sel.Matches(labels.Set(p.Labels)) || samePod(p, pod) {
				continue
			}
			site, ok := 0, false
			if node := c.Node(p.Spec.NodeName); node != nil {
				site, ok = s.SiteOfNode(node)
			}
			if !ok {
				out[i].Unlocated++
				continue
			}
			at = append(at, int32(site))
		}
		slices.Sort(at)
		d := &out[i]
		// Sites and Pods share one backing array per dependency, cut to
		// their length so that appending to one never writes the other.
		distinct := 0
		for j := range at {
			if j == 0 || at[j] != at[j-1] {
				distinct++
			}
		}
		if distinct == 0 {
			continue
		}
		buf := make([]int32, 2*distinct)
		d.Sites, d.Pods = buf[:0:distinct], buf[distinct:distinct]
		for j := 0; j < len(at); {
			k := j + 1
			for k < len(at) && at[k] == at[j] {
				k++
			}
			d.Sites = append(d.Sites, at[j])
			d.Pods = append(d.Pods, int32(k-j))
			j = k
		}
	}
	return out, nil
}

// samePod: b is a, by UID, or by namespace and name when a has no UID
// (a pod not created yet).
func samePod(a, b *v1.Pod) bool {
	switch {
	case b == nil:
		return false
	case b.UID != "":
		return a.UID == b.UID
	}
	return a.Namespace == b.Namespace && a.Name == b.Name
}

// dependencyRules puts the placed dependencies in the core's terms: each
// one's RTT from every site is the mean of the RTTs to the sites where
// its pods run (SiteRTT, by the table's memoized columns), weighted by
// the pods at each, with the upper
// bounds weighted alike and the provenance of every pair combined. A
// dependency not placed yet is left out: it neither scores nor bounds.
func (s *Snapshot) dependencyRules(spec *placementv1alpha1.PlacementPolicySpec, placed []DependencyPlacement, out *scoring.Policy) {
	n := s.World.Sites.Len()
	if len(placed) > 0 {
		out.Dependencies = slices.Grow(out.Dependencies, len(placed))
	}
	for i := range placed {
		p := &placed[i]
		if !p.Placed() || i >= len(spec.Dependencies) {
			continue
		}
		ref := &spec.Dependencies[i]
		d := scoring.Dependency{Weight: 1}
		if len(p.Sites) == 1 && p.Unlocated == 0 {
			// All its pods at one site: the RTTs are that site's
			// memoized column, shared (the core only reads them).
			col := s.siteColumn(p.Sites[0])
			d.RTT, d.Upper, d.Provenance = col.rtt, col.upper, col.prov
		} else {
			d.RTT, d.Upper, d.Provenance = make([]float64, n), make([]float64, n), make([]scoring.Provenance, n)
		}
		if ref.Weight != nil {
			d.Weight = float64(*ref.Weight)
		}
		if ref.MaxRTTMilliseconds != nil {
			d.MaxRTT = float64(*ref.MaxRTTMilliseconds)
		}
		// CorePolicy refused a negative traffic already.
		sent, received, _ := TrafficOf(ref.Traffic, "")
		if sent > 0 || received > 0 {
			d.Egress = make([]float64, n)
		}
		if p.Unlocated > 0 {
			for a := range n {
				d.RTT[a], d.Upper[a], d.Provenance[a] = scoring.UnknownRTT, scoring.UnknownRTT, scoring.Estimated
			}
			for a := range d.Egress {
				d.Egress[a] = math.Inf(1)
			}
			out.Dependencies = append(out.Dependencies, d)
			continue
		}
		var total float64
		for _, c := range p.Pods {
			total += float64(c)
		}
		for k, t := range p.Sites {
			if len(p.Sites) == 1 {
				break // the column itself, above
			}
			share := float64(p.Pods[k]) / total
			col := s.siteColumn(t)
			for a, v := range col.rtt {
				d.Provenance[a] |= col.prov[a]
				if v >= scoring.UnknownRTT || d.RTT[a] >= scoring.UnknownRTT {
					d.RTT[a], d.Upper[a] = scoring.UnknownRTT, scoring.UnknownRTT
					continue
				}
				d.RTT[a] += share * v
				d.Upper[a] += share * col.upper[a]
			}
		}
		if d.Egress != nil {
			s.dependencyEgress(p, total, sent, received, d.Egress)
		}
		out.Dependencies = append(out.Dependencies, d)
	}
}

// dependencyEgress fills out, per site a, the hourly price of the traffic
// one pod at a exchanges with the dependency placed as p (total pods):
// sent GiB leave a, except the share sent to the dependency's pods in a;
// received GiB leave each site t where the dependency runs, weighted by
// its share of the pods, except a itself (scoring.World.Egress prices
// each).
//
//	egress(a) = sent·(1 - share(a))·price(a) + received·Σ_{t≠a} share(t)·price(t)
func (s *Snapshot) dependencyEgress(p *DependencyPlacement, total, sent, received float64, out []float64) {
	w := s.World
	// What arrives from every site where the dependency runs: the finite
	// prices summed, the unknown ones counted, so that one site's part can
	// be taken out exactly.
	var from float64
	unknown := 0
	part := func(k int) float64 { return w.Egress(int(p.Sites[k]), received*float64(p.Pods[k])/total) }
	for k := range p.Sites {
		if e := part(k); math.IsInf(e, 1) {
			unknown++
		} else {
			from += e
		}
	}
	all := from
	if unknown > 0 {
		all = math.Inf(1)
	}
	for a := range out {
		out[a] = w.Egress(a, sent) + all
	}
	for k, t := range p.Sites {
		others, e := from, part(k)
		switch {
		case math.IsInf(e, 1) && unknown == 1:
		case unknown > 0:
			others = math.Inf(1)
		default:
			others -= e
		}
		out[t] = w.Egress(int(t), sent*(1-float64(p.Pods[k])/total)) + max(0, others)
	}
}

// DependsOn reports whether p is in the policy's namespace and one of its
// dependencies selects it, or names a Service (whose selector is read only
// when the dependency is placed): p's moves change the policy's plans.
func (r *ResolvedPolicy) DependsOn(p *v1.Pod) bool {
	if p.Namespace != r.Namespace {
		return false
	}
	set := labels.Set(p.Labels)
	for i, sel := range r.dependencies {
		// A Service's selector is not known here: any pod of the
		// namespace may be its.
		if r.Spec.Dependencies[i].Service != nil || sel.Matches(set) {
			return true
		}
	}
	return false
}
