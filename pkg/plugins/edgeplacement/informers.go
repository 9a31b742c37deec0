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
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	fwk "k8s.io/kube-scheduler/framework"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	v1alpha1informers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/state"
)

// schedulerInformers registers the Site, TrafficSource and PlacementPolicy
// informers with the scheduler's own informer factory, so every profile of
// one scheduler shares one watch per kind and the scheduler starts and syncs
// them with its own; Nodes come from the same factory.
func schedulerInformers(h fwk.Handle) (state.Informers, error) {
	cfg := h.KubeConfig()
	if cfg == nil {
		return state.Informers{}, fmt.Errorf("the scheduler has no kubeconfig to watch Sites, TrafficSources and PlacementPolicies with")
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return state.Informers{}, err
	}
	f := h.SharedInformerFactory()
	byName := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	return state.Informers{
		Sites: f.InformerFor(&placementv1alpha1.Site{}, func(_ kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
			return v1alpha1informers.NewSiteInformer(client, resync, byName)
		}),
		Sources: f.InformerFor(&placementv1alpha1.TrafficSource{}, func(_ kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
			return v1alpha1informers.NewTrafficSourceInformer(client, resync, byName)
		}),
		Policies: f.InformerFor(&placementv1alpha1.PlacementPolicy{}, func(_ kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
			return v1alpha1informers.NewPlacementPolicyInformer(client, metav1.NamespaceAll, resync, byName)
		}),
		Nodes: f.Core().V1().Nodes().Informer(),
	}, nil
}
