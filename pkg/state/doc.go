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

// Package state is Proxima's world model: the one picture of the world that
// every component places against — the scheduler plugin, the status
// controller, and any tool that explains or simulates a placement — so that
// all of them compute the same answer.
//
// The picture is a Snapshot, immutable once published:
//
//   - the site table and traffic sources in the scoring core's form
//     (scoring.World): tier, country, jurisdiction tags, prices with their
//     provenance (declared, or scaled by a live multiplier, or declared
//     because the live value is stale or missing), health;
//   - the dense [sites × sources] RTT matrix with each pair's provenance
//     (declared, live, estimated by the model fitted to the declared and
//     live RTTs or from distance alone, or declared/estimated standing in
//     for a stale or missing live value) and each estimate's upper bound
//     (World.RTTUpper), which hard RTT bounds judge by default; see
//     package rttmodel. The fit is redone only when the declared or live
//     RTTs change, beside the Model's worker (FitPending);
//   - the live telemetry it was built with (Live), for per-node load.
//     Every key of a signal that is read has a freshness (Freshness): fresh,
//     stale, or missing — never read, or absent from the last read — and
//     a policy that rejects stale values rejects missing ones too;
//   - the policy index: PlacementPolicies by namespace with selectors and
//     hardware rules parsed once per change (ResolvedPolicy, PolicyFor);
//   - the site-to-nodes index: which nodes carry each site's label
//     (NodesIn, SiteOfNode), built only from a complete node list. The
//     site label is one a kubelet cannot set on its own Node; NodeSite
//     alone decides a node's site.
//
// Snapshots come from two places:
//
//   - Build, from lists of objects, for one-shot use (a command-line tool,
//     a test);
//   - a Model, fed by shared informers: one small handler per kind
//     (informer_*.go) queues the part of the world that kind changes —
//     the site table, the policy index or the node index — on a client-go
//     rate-limited workqueue, whose single worker rebuilds that part and
//     publishes a new Snapshot with an atomic pointer. Node events are
//     delayed by NodeSettle so that a fleet joining costs one rebuild, not
//     one per node, and the node index is updated from the nodes that
//     joined, left or changed site alone, sharing the sites they did not
//     touch (readiness and heartbeats are no input of it). A reader calls Model.Load once per decision (one
//     scheduling cycle, one reconcile) and reads everything from that one
//     Snapshot, so no decision mixes two moments of the world; nothing on
//     the read path takes a lock or allocates.
//
// A PlacementPolicy is put in the core's terms for one pod with
// Snapshot.CorePolicy; the core (package scoring) then evaluates it against
// Snapshot.World.
package state
