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
	"math"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// Requests are a pod's resource requests in the core's units.
type Requests struct {
	Cores, MemGiB, GPUs float64
}

// GPUResources are the extended resources priced as GPU-hours (a Site's
// pricing.gpuHour): exact names, and name prefixes written with a trailing
// "*" (nvidia.com/mig-* is every MIG profile). Each unit a pod requests of
// any of them counts as one GPU. The zero value prices no GPUs.
type GPUResources struct {
	names    map[v1.ResourceName]struct{}
	prefixes []string
}

// NewGPUResources builds the set from the EdgePlacement arg gpuResources
// (validated by validation.ValidateEdgePlacementArgs).
func NewGPUResources(entries []string) GPUResources {
	g := GPUResources{names: make(map[v1.ResourceName]struct{}, len(entries))}
	for _, e := range entries {
		if prefix, ok := strings.CutSuffix(e, "*"); ok {
			g.prefixes = append(g.prefixes, prefix)
		} else {
			g.names[v1.ResourceName(e)] = struct{}{}
		}
	}
	return g
}

// Has reports whether the resource is priced as GPUs.
func (g GPUResources) Has(name v1.ResourceName) bool {
	if _, ok := g.names[name]; ok {
		return true
	}
	for _, p := range g.prefixes {
		if strings.HasPrefix(string(name), p) {
			return true
		}
	}
	return false
}

// RequestsOf converts a pod's effective requests (resourcehelper.PodRequests)
// into the core's units; its GPUs are the units it requests of the
// resources in gpus, summed.
func RequestsOf(r v1.ResourceList, gpus GPUResources) Requests {
	var n int64
	for name, q := range r {
		if gpus.Has(name) {
			n += q.Value()
		}
	}
	return Requests{
		Cores:  float64(r.Cpu().MilliValue()) / 1000,
		MemGiB: float64(r.Memory().Value()) / (1 << 30),
		GPUs:   float64(n),
	}
}

// UnknownSourceError is returned when a policy names a TrafficSource that
// does not exist: its latency rules cannot be evaluated, so the pod must not
// be placed (fail closed).
type UnknownSourceError struct{ Source string }

func (e *UnknownSourceError) Error() string {
	return fmt.Sprintf("TrafficSource %q does not exist", e.Source)
}

// InvalidRuleError: a hard rule of a policy cannot be evaluated as
// written (admission refuses such policies; one stored before a stricter
// CRD, or written around it, fails closed).
type InvalidRuleError struct{ Rule, Reason string }

func (e *InvalidRuleError) Error() string { return e.Rule + ": " + e.Reason }

// CorePolicy puts a PlacementPolicy spec and a pod's requests in the core's
// terms against this snapshot (source names become indexes, tags become tag
// sets), ready for scoring.Plan.Evaluate. It fails when a rule cannot be
// evaluated: a source that does not exist (UnknownSourceError), a denied
// country that is not a country code or an RTT bound without sources
// (InvalidRuleError).
func (s *Snapshot) CorePolicy(spec *placementv1alpha1.PlacementPolicySpec, req Requests, out *scoring.Policy) error {
	*out = scoring.Policy{AllowAll: true, Cores: req.Cores, MemGiB: req.MemGiB, GPUs: req.GPUs}
	w := s.World
	if r := spec.Residency; r != nil {
		out.HasResidency = true
		if a := r.Allowed; a != nil {
			out.AllowAll = false
			for _, c := range a.Countries {
				if i, ok := scoring.CountryIndex(c); ok {
					out.AllowCountries.Add(i)
				}
			}
			for _, tag := range a.Jurisdictions {
				if i := w.TagIndex(tag); i >= 0 {
					out.AllowTags.Add(i)
				}
			}
		}
		if d := r.Denied; d != nil {
			for _, c := range d.Countries {
				i, ok := scoring.CountryIndex(c)
				if !ok {
					return &InvalidRuleError{Rule: "residency.denied.countries", Reason: fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 code", c)}
				}
				out.DenyCountry.Add(i)
			}
			for _, tag := range d.Jurisdictions {
				if i := w.TagIndex(tag); i >= 0 {
					out.DenyTags.Add(i)
				}
			}
		}
	}
	for _, t := range spec.Tiers {
		out.Tiers |= 1 << tierOf(t)
	}
	if l := spec.Latency; l != nil {
		for _, sw := range l.Sources {
			j, ok := s.SourceIndex(sw.Name)
			if !ok {
				return &UnknownSourceError{Source: sw.Name}
			}
			weight := w.SourceDemand[j]
			if sw.Weight != nil {
				weight = float64(*sw.Weight)
			}
			out.Sources = append(out.Sources, j)
			out.Weights = append(out.Weights, weight)
			sent, _, err := TrafficOf(sw.Traffic, "latency.sources["+sw.Name+"].traffic")
			if err != nil {
				return err
			}
			out.SentGiB += sent
		}
		if l.Objective == placementv1alpha1.WorstCase {
			out.Objective = scoring.WorstCase
		}
		switch l.Estimates {
		case placementv1alpha1.EstimatesCentral:
			out.EstimatedRTT = scoring.EstimatesCentral
		case placementv1alpha1.EstimatesReject:
			out.EstimatedRTT = scoring.EstimatesReject
		default:
			out.EstimatedRTT = scoring.EstimatesConservative
		}
		if l.MaxRTTMilliseconds != nil {
			// Admission refuses this; a bound over no source would hold
			// everywhere, so it fails closed here too.
			if len(l.Sources) == 0 {
				return &InvalidRuleError{Rule: "latency.maxRTTMilliseconds", Reason: "latency.sources is empty, so there is no RTT to bound"}
			}
			out.MaxRTT = float64(*l.MaxRTTMilliseconds)
		}
	}
	if c := spec.Cost; c != nil {
		out.MaxHourly = c.MaxHourly.AsApproximateFloat64()
	}
	for i := range spec.Dependencies {
		d := &spec.Dependencies[i]
		if _, _, err := TrafficOf(d.Traffic, "dependencies["+d.Name+"].traffic"); err != nil {
			return err
		}
	}
	if sp := spec.Spread; sp != nil {
		out.Spread = scoring.Spread{MinSites: ptr.Deref(sp.MinSites, 1), MaxSkew: ptr.Deref(sp.MaxSkew, 0), MaxPerSite: ptr.Deref(sp.MaxPerSite, 0)}
		if out.Spread.MaxSkew == 0 && out.Spread.MaxPerSite == 0 {
			out.Spread.MaxSkew = 1 // the API's default
		}
	}
	out.WLatency, out.WCost, out.WLoad = Weights(spec)
	if t := spec.Telemetry; t != nil {
		if t.MaxNodeUtilizationPercent != nil {
			out.MaxLoad = float64(*t.MaxNodeUtilizationPercent) / 100
		}
		if o := t.OnStale; o != nil {
			out.RejectStaleRTT = o.RTT == placementv1alpha1.Reject
			out.RejectStalePrice = o.Price == placementv1alpha1.Reject
			out.RejectStaleHealth = o.Health == placementv1alpha1.Reject
			out.RejectStaleLoad = o.NodeUtilizationAction() == placementv1alpha1.Reject
		}
	}
	return nil
}

// TrafficOf is a declared Traffic in GiB per hour: sent, received (0 for
// absent). A negative value is an InvalidRuleError naming field.
func TrafficOf(t *placementv1alpha1.Traffic, field string) (sent, received float64, err error) {
	if t == nil {
		return 0, 0, nil
	}
	gib := func(q *resource.Quantity, name string) float64 {
		if q == nil || err != nil {
			return 0
		}
		v := q.AsApproximateFloat64()
		if !(v >= 0) || math.IsInf(v, 1) {
			err = &InvalidRuleError{Rule: field + "." + name, Reason: fmt.Sprintf("%s is not a non-negative number of GiB per hour", q.String())}
			return 0
		}
		return v
	}
	sent, received = gib(t.SentGiBPerHour, "sentGiBPerHour"), gib(t.ReceivedGiBPerHour, "receivedGiBPerHour")
	return sent, received, err
}

// Weights are a policy's soft objective weights for latency, cost and load
// as written: 1 each when the policy sets no weights, and 0 for a weight
// left out of a weights block. The core normalizes them
// (scoring.NormalizeWeights).
func Weights(spec *placementv1alpha1.PlacementPolicySpec) (latency, cost, load float64) {
	wt := spec.Weights
	if wt == nil {
		return 1, 1, 1
	}
	return weight(wt.Latency), weight(wt.Cost), weight(wt.Load)
}

func weight(p *int32) float64 {
	if p == nil {
		return 0
	}
	return float64(*p)
}
