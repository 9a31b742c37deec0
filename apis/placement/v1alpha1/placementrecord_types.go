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

// PlacementRecordVersion is the version of the PlacementRecord schema that
// this package writes. Fields are only added within a version; a change
// that removes or redefines a field gets a new version. Version 2 keeps in
// RTTs only the sources that weigh most at the site (MaxRecordedRTTs) and
// counts the policy's sources in SourceCount; version 1 listed every
// source.
const PlacementRecordVersion = 2

// MaxRecordedRTTs is how many RTTs a PlacementRecord keeps: those of the
// sources that weigh most in the latency objective at the pod's site. The
// record rides on every pod and every pod watcher receives it, so its size
// must not grow with the policy's sources; `kubectl proxima explain`
// computes the others from the world model on demand.
const MaxRecordedRTTs = 3

// Provenance of a value in a PlacementRecord: where the value the scheduler
// used came from.
const (
	// ProvenanceDeclared: as the Site or TrafficSource declares it.
	ProvenanceDeclared = "declared"
	// ProvenanceLive: a fresh value from telemetry.
	ProvenanceLive = "live"
	// ProvenanceEstimated: estimated by Proxima (SourceRTT.Estimator says
	// how).
	ProvenanceEstimated = "estimated"
	// ProvenanceUnknown: neither declared, measured nor estimable (a site
	// or source without a location); the value is absent.
	ProvenanceUnknown = "unknown"
)

// Live-value states in a PlacementRecord: whether telemetry had a fresh
// value for what the record shows.
const (
	// LiveNotRead: the signal is not read; the declared value is the value.
	LiveNotRead = "notRead"
	// LiveFreshValue: a fresh live value is in use.
	LiveFreshValue = "fresh"
	// LiveStaleValue: the live value expired; the declared or estimated
	// value stands in.
	LiveStaleValue = "stale"
	// LiveMissingValue: the signal is read but has no value for this key;
	// the declared or estimated value stands in.
	LiveMissingValue = "missing"
)

// PlacementRecord is the document in PlacementRecordAnnotation: where a
// pod's PlacementPolicy placed it and why. Numbers are JSON numbers;
// an absent (null) number is unknown.
//
// +kubebuilder:object:generate=false
type PlacementRecord struct {
	// Version is PlacementRecordVersion.
	Version int `json:"version"`
	// Policy is the PlacementPolicy's name (in the pod's namespace).
	Policy string `json:"policy"`
	// Node the pod was bound to.
	Node string `json:"node"`
	// Site of the node as the world generation below knows it, with its
	// tier and ISO 3166-1 alpha-2 country.
	Site    string `json:"site"`
	Tier    string `json:"tier"`
	Country string `json:"country"`
	// SourceCount is how many latency sources the policy has.
	SourceCount int `json:"sourceCount,omitempty"`
	// RTTs to the (at most MaxRecordedRTTs) sources that weigh most in the
	// latency objective at the site, the heaviest first: an unknown RTT,
	// then by weight times RTT (weighted mean) or by RTT (worst case).
	RTTs []SourceRTT `json:"rtts,omitempty"`
	// DependencyCount is how many dependencies the policy has.
	DependencyCount int `json:"dependencyCount,omitempty"`
	// Dependencies are the RTTs from the site to the (at most
	// MaxRecordedRTTs) dependencies that weigh most in the latency
	// objective, ordered as RTTs are; a dependency with no running pod is
	// listed first with Sites 0.
	Dependencies []DependencyRTT `json:"dependencies,omitempty"`
	// LatencyMilliseconds is the policy's latency objective at the site
	// (weighted mean or worst case over the RTTs to its sources and
	// dependencies); absent without either or when an RTT is unknown.
	LatencyMilliseconds *float64 `json:"latencyMilliseconds,omitempty"`
	// HourlyCost of the pod's requests at the site's prices, plus the
	// egress of the traffic its policy declares; absent when a price it
	// needs is unknown.
	HourlyCost *float64 `json:"hourlyCost,omitempty"`
	// EgressHourly is the part of HourlyCost that is egress of the
	// declared traffic (PlacementPolicy Traffic); absent when none.
	EgressHourly *float64 `json:"egressHourly,omitempty"`
	// CostProvenance: declared, or live (declared prices scaled by a live
	// multiplier); CostLive says whether the multiplier was fresh.
	CostProvenance string `json:"costProvenance"`
	CostLive       string `json:"costLive"`
	// Score is the node's score and its terms.
	Score ScoreTerms `json:"score"`
	// FeasibleSites met the policy's hard rules, of TotalSites.
	FeasibleSites int `json:"feasibleSites"`
	TotalSites    int `json:"totalSites"`
	// RunnerUp is the best-ranked feasible site other than Site; absent
	// when Site was the only one.
	RunnerUp *SiteAlternative `json:"runnerUp,omitempty"`
	// WorldGeneration is the generation of the scheduler's world snapshot
	// the pod was scored on (see pkg/state Snapshot.Generation).
	WorldGeneration uint64 `json:"worldGeneration"`
	// Notes say what else was true at bind time, e.g. that the node's
	// Site no longer exists.
	Notes []string `json:"notes,omitempty"`
}

// SourceRTT is the RTT from one traffic source to the site.
//
// +kubebuilder:object:generate=false
type SourceRTT struct {
	Source string `json:"source"`
	// Milliseconds is absent when the RTT is unknown.
	Milliseconds *float64 `json:"milliseconds,omitempty"`
	// Provenance is declared, live, estimated or unknown; Live says whether
	// a live value was fresh (fresh), expired (stale), missing, or the
	// signal is not read (notRead).
	Provenance string `json:"provenance"`
	Live       string `json:"live"`
	// Estimator, for an estimated RTT, is fitted (the model fitted to the
	// declared and live RTTs) or distancePrior (great-circle distance
	// alone).
	Estimator string `json:"estimator,omitempty"`
	// UpperMilliseconds, for an estimated RTT, is its upper bound, which
	// latency.maxRTTMilliseconds judges it by unless the policy's
	// latency.estimates says otherwise.
	UpperMilliseconds *float64 `json:"upperMilliseconds,omitempty"`
}

// DependencyRTT is the RTT from the site to one of the policy's
// dependencies: the mean of the RTTs to the sites where its pods ran,
// weighted by the pods at each. Provenance is estimated when any of those
// RTTs was, live when all were live, else declared.
//
// +kubebuilder:object:generate=false
type DependencyRTT struct {
	// Dependency is its name in the policy.
	Dependency string `json:"dependency"`
	// Sites is how many sites its pods ran at, nodes in no known Site
	// counting as one (the RTT is then unknown); 0 when none ran
	// anywhere, and the dependency counted for nothing.
	Sites int `json:"sites"`
	// Milliseconds is absent when the RTT is unknown or Sites is 0.
	Milliseconds *float64 `json:"milliseconds,omitempty"`
	// Provenance, Live, Estimator and UpperMilliseconds as in SourceRTT.
	Provenance        string   `json:"provenance"`
	Live              string   `json:"live"`
	Estimator         string   `json:"estimator,omitempty"`
	UpperMilliseconds *float64 `json:"upperMilliseconds,omitempty"`
}

// AsSourceRTT is the dependency's RTT in SourceRTT's form, named by the
// dependency.
func (d DependencyRTT) AsSourceRTT() SourceRTT {
	return SourceRTT{Source: d.Dependency, Milliseconds: d.Milliseconds, Provenance: d.Provenance, Live: d.Live,
		Estimator: d.Estimator, UpperMilliseconds: d.UpperMilliseconds}
}

// Estimators of an estimated RTT in a PlacementRecord.
const (
	EstimatorFitted        = "fitted"
	EstimatorDistancePrior = "distancePrior"
)

// ScoreTerms break down a score on the 0..1 scale: Total = Latency + Cost +
// Load, each the policy's normalized weight times its term (1 best, 0 worst
// among the feasible sites; Load is 1 - CPU utilization, live when fresh,
// else the requested share with the pod).
//
// +kubebuilder:object:generate=false
type ScoreTerms struct {
	Latency float64 `json:"latency"`
	Cost    float64 `json:"cost"`
	Load    float64 `json:"load"`
	Total   float64 `json:"total"`
}

// SiteAlternative is a feasible site the pod did not go to.
//
// +kubebuilder:object:generate=false
type SiteAlternative struct {
	Site                string   `json:"site"`
	LatencyMilliseconds *float64 `json:"latencyMilliseconds,omitempty"`
	HourlyCost          *float64 `json:"hourlyCost,omitempty"`
	// Score of the site's best node: its latency and cost terms and the
	// load term of its least-loaded node with room (0 when none has room).
	Score ScoreTerms `json:"score"`
	// Lost says why the pod did not go there: "lower score", "no room", "no
	// node meets the hardware rule", or "scored no lower; the other score
	// plugins or the candidate narrowing chose".
	Lost string `json:"lost"`
}
