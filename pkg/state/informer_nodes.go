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
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// handleNodes tells changed (the Model's nodeChanged) the name of a node
// that joins, leaves or changes site (NodeSite: its site label, or with
// acceptLegacy its legacy site label too). Other node updates (status
// heartbeats, readiness, most of a fleet's events) change nothing in the
// index and are not passed on.
func handleNodes(inf cache.SharedIndexInformer, acceptLegacy bool, changed func(name string)) error {
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*v1.Node); ok {
				changed(n.Name)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*v1.Node)
			n, ok2 := newObj.(*v1.Node)
			if ok1 && ok2 && !sameSite(o.Labels, n.Labels, acceptLegacy) {
				changed(n.Name)
			}
		},
		DeleteFunc: func(obj any) {
			// A node is cluster-scoped: its key is its name.
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				changed(key)
			}
		},
	})
	return err
}
