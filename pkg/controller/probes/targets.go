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

// Package probes serves the world model's probe plan (package probeplan) to
// Prometheus as HTTP service discovery: for every planned (source, site)
// pair and every probe target of the source, one scrape target that makes
// a blackbox_exporter on a node of that site probe it, labelled with
// source and site; for every planned pair of sites, one that makes an
// exporter of the one site open a TCP connection to an exporter of the
// other, labelled with from_site and to_site. One DaemonSet of exporters
// across the fleet and one scrape job replace per-site copies and per-pair
// Probe objects (docs/rtt.md).
package probes

import (
	"cmp"
	"encoding/json"
	"hash/fnv"
	"net"
	"slices"
	"strconv"

	v1 "k8s.io/api/core/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/state"
)

// Modules are the blackbox_exporter modules each probe module is run
// with: the shipped configuration's names by default.
type Modules map[placementv1alpha1.ProbeModule]string

// DefaultModules are the modules of manifests/examples/rtt-probes.
var DefaultModules = Modules{placementv1alpha1.ProbeTCP: "tcp_connect_rtt", placementv1alpha1.ProbeICMP: "icmp_rtt"}

// Group is one target group of Prometheus HTTP service discovery.
type Group struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Labels of a probe target. The __param_ ones become the exporter's
// /probe URL parameters.
const (
	LabelSource   = "source"
	LabelSite     = "site"
	LabelFromSite = "from_site"
	LabelToSite   = "to_site"
	LabelTier     = "proxima_probe_tier"
	labelTarget   = "__param_target"
	labelModule   = "__param_module"
	labelInst     = "instance"
)

// Unprobed counts the planned pairs no target was served for.
type Unprobed struct {
	// NoTargets: the source has no spec.probe; NoExporter: no ready
	// exporter pod runs in the site (for a pair of sites, in either).
	NoTargets, NoExporter int
	// Links: of NoExporter, the pairs of sites.
	Links int
}

// Targets turns a plan into service discovery groups. exporters are the
// running exporter pods (any order), port their metrics port. A pair goes
// to one ready exporter of its site, chosen by a hash of the source, so
// that a site's probes spread over its nodes and stay on one exporter from
// round to round. A pair of sites goes to one ready exporter of the site
// it is probed from (probeplan.Link.Site), which opens a TCP connection
// (the TCP module) to the metrics port of one of the other site's, each
// chosen by a hash of the other site's name: the round trip between the
// two sites' pod networks, the path a call to a dependency takes.
func Targets(snap *state.Snapshot, plan *probeplan.Plan, exporters []*v1.Pod, nodeSite func(node string) (int, bool), port int,
	modules Modules) ([]Group, Unprobed) {
	bySite := map[int][]string{}
	for _, p := range exporters {
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil || !podutil.IsPodReady(p) {
			continue
		}
		if s, ok := nodeSite(p.Spec.NodeName); ok {
			bySite[s] = append(bySite[s], net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)))
		}
	}
	for _, addrs := range bySite {
		slices.Sort(addrs)
	}
	groups := []Group{}
	var un Unprobed
	sources, sites := snap.Sources(), snap.Sites()
	for _, pair := range plan.Pairs {
		src, site := sources[pair.Source], sites[pair.Site]
		probe := src.Spec.Probe
		if probe == nil || len(probe.Targets) == 0 {
			un.NoTargets++
			continue
		}
		addrs := bySite[pair.Site]
		if len(addrs) == 0 {
			un.NoExporter++
			continue
		}
		addr := pick(addrs, src.Name)
		module := modules[cmp.Or(probe.Module, placementv1alpha1.ProbeTCP)]
		for _, t := range probe.Targets {
			groups = append(groups, Group{Targets: []string{addr}, Labels: map[string]string{
				labelTarget: t, labelModule: module, LabelSource: src.Name, LabelSite: site.Name, LabelTier: pair.Tier.String(),
				labelInst: src.Name + "/" + site.Name + "/" + t,
			}})
		}
	}
	for _, l := range plan.Links {
		from, to := bySite[l.Site], bySite[l.Peer]
		if len(from) == 0 || len(to) == 0 {
			un.NoExporter++
			un.Links++
			continue
		}
		site, peer := sites[l.Site].Name, sites[l.Peer].Name
		groups = append(groups, Group{Targets: []string{pick(from, peer)}, Labels: map[string]string{
			labelTarget: pick(to, site), labelModule: modules[placementv1alpha1.ProbeTCP], LabelFromSite: site, LabelToSite: peer,
			LabelTier: l.Tier.String(), labelInst: site + "->" + peer,
		}})
	}
	return groups, un
}

// pick is one of addrs (sorted), chosen by a hash of key.
func pick(addrs []string, key string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return addrs[int(h.Sum32()%uint32(len(addrs)))]
}

// encode is the service discovery document.
func encode(groups []Group) ([]byte, error) { return json.Marshal(groups) }
