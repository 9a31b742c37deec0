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

package main

// Service is one workload of the Online Boutique AppGroup and the workloads
// it depends on (calls), in the AppGroup's order.
type Service struct {
	Name  string
	Calls []string
}

// maxNetworkCost is the AppGroup's bound on every dependency; here it is
// milliseconds of RTT, for NetworkOverhead (whose costs are the measured
// RTTs) and for Proxima (maxRTTMilliseconds) alike.
const maxNetworkCost = 80

// OnlineBoutique is scheduler-plugins' NetworkOverhead example
// (manifests/appgroup/onlineBoutique-appGroup-example.yaml in
// sigs.k8s.io/scheduler-plugins v0.34.7): eleven workloads, each dependency
// with maxNetworkCost 80. Workload names drop the file's "-deployment"
// suffix and are its selectors. The file itself does not parse as YAML
// (cartservice's dependency on redis-cart reads "- workload: redis-cart"
// followed by the workload's fields), so it is translated here by hand;
// TestOnlineBoutique checks the shape against what the file declares.
var OnlineBoutique = []Service{
	{"frontend", []string{"cartservice", "productcatalogservice", "currencyservice", "shippingservice", "checkoutservice", "adservice"}},
	{"cartservice", []string{"frontend", "redis-cart"}},
	{"productcatalogservice", []string{"frontend", "checkoutservice", "recommendationservice"}},
	{"currencyservice", []string{"frontend", "checkoutservice"}},
	{"paymentservice", []string{"checkoutservice"}},
	{"shippingservice", []string{"frontend", "checkoutservice"}},
	{"emailservice", []string{"checkoutservice"}},
	{"checkoutservice", []string{"frontend", "cartservice", "productcatalogservice", "currencyservice", "paymentservice", "shippingservice", "emailservice"}},
	{"recommendationservice", []string{"frontend", "productcatalogservice"}},
	{"adservice", []string{"frontend"}},
	{"redis-cart", []string{"cartservice"}},
}

// RolloutOrder is the order the services are deployed in: breadth first
// from the first (the frontend, where requests enter), following each
// service's dependencies in their order, then any service not reached.
// Every service after the first calls one deployed before it, so every
// scheduler has something to place it by; TopologicalSort's queue order
// plays no part, as the queue never holds two services at once.
func RolloutOrder(services []Service) []string {
	byName := map[string]Service{}
	for _, s := range services {
		byName[s.Name] = s
	}
	seen := map[string]bool{}
	var order []string
	visit := func(root string) {
		queue := []string{root}
		seen[root] = true
		for len(queue) > 0 {
			name := queue[0]
			queue = queue[1:]
			order = append(order, name)
			for _, d := range byName[name].Calls {
				if _, ok := byName[d]; ok && !seen[d] {
					seen[d] = true
					queue = append(queue, d)
				}
			}
		}
	}
	for _, s := range services {
		if !seen[s.Name] {
			visit(s.Name)
		}
	}
	return order
}
