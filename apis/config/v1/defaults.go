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

package v1

import (
	"slices"

	"k8s.io/utils/ptr"
)

// Defaults of EdgePlacementArgs.
const (
	DefaultMinCandidateNodes       int32 = 100
	DefaultCacheSyncTimeoutSeconds int32 = 60
	DefaultRefreshSeconds          int32 = 15
	DefaultQueryTimeoutSeconds     int32 = 5

	DefaultNodeUtilizationQuery = `1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[2m]))`
	DefaultRTTQuery             = `proxima_rtt_seconds`
	DefaultPriceQuery           = `proxima_site_price_multiplier`
	DefaultHealthQuery          = `proxima_site_up`
	// SiteRTTQuery is the site RTT signal's metric, which a fleet that
	// measures RTTs between its sites records; the signal is read only
	// when its query is set.
	SiteRTTQuery = `proxima_site_rtt_seconds`
)

// DefaultGPUResources are the extended resources priced as GPUs when the
// args do not say: NVIDIA, AMD and Intel (i915 and xe drivers) device-plugin
// GPUs and NVIDIA MIG slices. Intel's gpu.intel.com/millicores and
// memory.max are shares of a GPU, not GPUs, and are left out.
var DefaultGPUResources = []string{"nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe", "nvidia.com/mig-*"}

// SetDefaults_EdgePlacementArgs fills unset EdgePlacementArgs fields.
func SetDefaults_EdgePlacementArgs(obj *EdgePlacementArgs) {
	if obj.MinCandidateNodes == nil {
		obj.MinCandidateNodes = ptr.To(DefaultMinCandidateNodes)
	}
	if obj.CacheSyncTimeoutSeconds == nil {
		obj.CacheSyncTimeoutSeconds = ptr.To(DefaultCacheSyncTimeoutSeconds)
	}
	if obj.PlacedEvents == nil {
		obj.PlacedEvents = ptr.To(false)
	}
	if obj.AcceptLegacySiteLabel == nil {
		obj.AcceptLegacySiteLabel = ptr.To(false)
	}
	if obj.GPUResources == nil {
		obj.GPUResources = slices.Clone(DefaultGPUResources)
	}
	if t := obj.Telemetry; t != nil {
		if t.RefreshSeconds == nil {
			t.RefreshSeconds = ptr.To(DefaultRefreshSeconds)
		}
		if t.QueryTimeoutSeconds == nil {
			t.QueryTimeoutSeconds = ptr.To(DefaultQueryTimeoutSeconds)
		}
		// A signal is stale after four missed refreshes (one minute by default).
		maxAge := 4 * *t.RefreshSeconds
		t.NodeUtilization = defaultSignal(t.NodeUtilization, DefaultNodeUtilizationQuery, maxAge)
		t.RTT = defaultSignal(t.RTT, DefaultRTTQuery, maxAge)
		t.Price = defaultSignal(t.Price, DefaultPriceQuery, 20*maxAge)
		t.Health = defaultSignal(t.Health, DefaultHealthQuery, maxAge)
		t.SiteRTT = defaultSignal(t.SiteRTT, "", maxAge)
	}
}

func defaultSignal(s *SignalArgs, query string, maxAge int32) *SignalArgs {
	if s == nil {
		s = &SignalArgs{}
	}
	if s.Query == nil {
		s.Query = ptr.To(query)
	}
	if s.MaxAgeSeconds == nil {
		s.MaxAgeSeconds = ptr.To(maxAge)
	}
	if s.NodeLabel == nil {
		s.NodeLabel = ptr.To("instance")
	}
	if s.SourceLabel == nil {
		s.SourceLabel = ptr.To("source")
	}
	if s.SiteLabel == nil {
		s.SiteLabel = ptr.To("site")
	}
	if s.FromSiteLabel == nil {
		s.FromSiteLabel = ptr.To("from_site")
	}
	if s.ToSiteLabel == nil {
		s.ToSiteLabel = ptr.To("to_site")
	}
	return s
}
