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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// handlePolicies queues the policy index on any PlacementPolicy change but
// a status write.
func handlePolicies(inf cache.SharedIndexInformer, enqueue func(part)) error {
	return onSpecChange(inf, partPolicies, enqueue)
}

// onSpecChange queues p when an object is added or deleted or its spec
// changes. The world reads only the specs of Proxima's objects, whose
// status is a subresource: a spec change bumps metadata.generation and a
// status write (the status controller's, every few seconds) does not.
func onSpecChange(inf cache.SharedIndexInformer, p part, enqueue func(part)) error {
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { enqueue(p) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(metav1.Object)
			n, ok2 := newObj.(metav1.Object)
			if !ok1 || !ok2 || o.GetGeneration() != n.GetGeneration() {
				enqueue(p)
			}
		},
		DeleteFunc: func(any) { enqueue(p) },
	})
	return err
}
