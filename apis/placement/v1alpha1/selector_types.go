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

package v1alpha1

// Selectors in the shape of metav1.LabelSelector and
// corev1.NodeSelectorRequirement, with the bounds and enums that let the
// apiserver validate them at admission (the upstream types are unbounded).
// Convert them with LabelSelector() and NodeSelectorRequirement().

// LabelOperator is a label selector operator.
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
type LabelOperator string

// NodeOperator is a node selector operator.
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist;Gt;Lt
type NodeOperator string

// LabelKey is a qualified label key: an optional DNS-subdomain prefix and
// "/", then a name of at most 63 characters.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=317
// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
type LabelKey string

// LabelValue is a label value: empty, or up to 63 alphanumerics, '-', '_'
// and '.', starting and ending with an alphanumeric.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`
type LabelValue string

// PodSelector selects pods by label, as a metav1.LabelSelector does.
// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="podSelector.matchLabels keys must be valid label keys"
type PodSelector struct {
	// matchLabels is a map of label keys to values; a pod must carry all of them.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`

	// matchExpressions are label requirements; a pod must meet all of them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MatchExpressions []LabelRequirement `json:"matchExpressions,omitempty"`
}

// LabelRequirement is a label selector requirement.
// +kubebuilder:validation:XValidation:rule="(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",message="values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
type LabelRequirement struct {
	// key is the label key.
	// +required
	Key LabelKey `json:"key"`
	// operator is In, NotIn, Exists or DoesNotExist.
	// +required
	Operator LabelOperator `json:"operator"`
	// values for In and NotIn.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Values []LabelValue `json:"values,omitempty"`
}

// NodeRequirement is a requirement on a node label.
// +kubebuilder:validation:XValidation:rule="(self.operator in ['Exists', 'DoesNotExist']) == (!has(self.values) || size(self.values) == 0)",message="values must be empty for Exists and DoesNotExist, and non-empty for In, NotIn, Gt and Lt"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['Gt', 'Lt']) || (size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$'))",message="Gt and Lt take exactly one integer value"
type NodeRequirement struct {
	// key is the node label key, e.g. nvidia.com/gpu.present.
	// +required
	Key LabelKey `json:"key"`
	// operator is In, NotIn, Exists, DoesNotExist, Gt or Lt.
	// +required
	Operator NodeOperator `json:"operator"`
	// values for In and NotIn (any of them), Gt and Lt (one integer).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Values []LabelValue `json:"values,omitempty"`
}
