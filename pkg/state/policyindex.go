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
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
)

// ResolvedPolicy is a PlacementPolicy with what every pod of it needs parsed
// once per change of the policy rather than once per pod.
type ResolvedPolicy struct {
	*placementv1alpha1.PlacementPolicy
	// Selector selects the policy's pods; nil selects none (the policy
	// applies only to pods that name it in their label).
	Selector labels.Selector
	// Priority orders policies whose selectors overlap.
	Priority int32
	// Hardware is the policy's hardware rule as a node selector; nil for
	// none. HardwareErr says why the rule could not be parsed, which makes
	// the policy's pods unschedulable (fail closed).
	Hardware    *nodeaffinity.NodeSelector
	HardwareErr error
	// dependencies select the pods of each of spec.dependencies.
	dependencies []labels.Selector
}

// PolicyNotFoundError is returned for a pod that names, in its
// placement.proxima.dev/policy label, a PlacementPolicy that does not exist.
type PolicyNotFoundError struct{ Namespace, Name string }

func (e *PolicyNotFoundError) Error() string {
	return fmt.Sprintf("pod names PlacementPolicy %s/%s (label %s), which does not exist",
		e.Namespace, e.Name, placementv1alpha1.PolicyLabel)
}

// PolicyRequiredError is returned for a pod that must be governed by a
// PlacementPolicy (PolicyRequiredAnnotation, set when its policy gate was
// lifted) when none in its namespace selects it.
type PolicyRequiredError struct{ Namespace string }

func (e *PolicyRequiredError) Error() string {
	return fmt.Sprintf("the pod was held for a PlacementPolicy (annotation %s) and no PlacementPolicy in namespace %s selects it now",
		placementv1alpha1.PolicyRequiredAnnotation, e.Namespace)
}

// policyIndex holds the policies of each namespace, highest priority first,
// then by name.
type policyIndex struct {
	byNamespace map[string][]ResolvedPolicy
	count       int
}

func buildPolicyIndex(policies []*placementv1alpha1.PlacementPolicy) *policyIndex {
	idx := &policyIndex{byNamespace: map[string][]ResolvedPolicy{}, count: len(policies)}
	for _, p := range policies {
		rp := ResolvedPolicy{PlacementPolicy: p}
		if p.Spec.Priority != nil {
			rp.Priority = *p.Spec.Priority
		}
		if sel := p.Spec.PodSelector.LabelSelector(); sel != nil {
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				// Admission validates selectors; one that still fails to
				// parse selects nothing rather than everything.
				s = labels.Nothing()
			}
			rp.Selector = s
		}
		rp.Hardware, rp.HardwareErr = hardwareSelector(p.Spec.Hardware)
		rp.dependencies = dependencySelectors(p.Spec.Dependencies)
		idx.byNamespace[p.Namespace] = append(idx.byNamespace[p.Namespace], rp)
	}
	for _, list := range idx.byNamespace {
		slices.SortFunc(list, func(a, b ResolvedPolicy) int {
			if a.Priority != b.Priority {
				return int(b.Priority - a.Priority)
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return idx
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

// PolicyFor resolves a pod's policy: the one its placement.proxima.dev/policy
// label names (PolicyNotFoundError if it does not exist); else the policy
// of its namespace whose selector matches it, highest priority first, ties
// by name; nil when none applies, or PolicyRequiredError for a pod whose
// policy gate was lifted (PolicyRequiredAnnotation).
func (s *Snapshot) PolicyFor(pod *v1.Pod) (*ResolvedPolicy, error) {
	list := s.policies.byNamespace[pod.Namespace]
	if name, ok := pod.Labels[placementv1alpha1.PolicyLabel]; ok {
		for i := range list {
			if list[i].Name == name {
				return &list[i], nil
			}
		}
		return nil, &PolicyNotFoundError{Namespace: pod.Namespace, Name: name}
	}
	set := labels.Set(pod.Labels)
	for i := range list {
		if list[i].Selector != nil && list[i].Selector.Matches(set) {
			return &list[i], nil
		}
	}
	if pod.Annotations[placementv1alpha1.PolicyRequiredAnnotation] == "true" {
		return nil, &PolicyRequiredError{Namespace: pod.Namespace}
	}
	return nil, nil
}

// Policies returns the resolved policies of a namespace, in the order
// PolicyFor tries them. The slice is shared: callers must not modify it.
func (s *Snapshot) Policies(namespace string) []ResolvedPolicy {
	return s.policies.byNamespace[namespace]
}

// NumPolicies is the number of PlacementPolicies in the snapshot.
func (s *Snapshot) NumPolicies() int { return s.policies.count }
