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

// Package validation validates Proxima's plugin args.
package validation

import (
	"net/url"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"

	"github.com/proxima-sched/proxima/apis/config"
)

// ValidateEdgePlacementArgs returns the problems with args under path.
func ValidateEdgePlacementArgs(path *field.Path, args *config.EdgePlacementArgs) error {
	var errs field.ErrorList
	if args.MinCandidateNodes < 1 || args.MinCandidateNodes > 100000 {
		errs = append(errs, field.Invalid(path.Child("minCandidateNodes"), args.MinCandidateNodes, "must be between 1 and 100000"))
	}
	if args.CacheSyncTimeoutSeconds < 1 || args.CacheSyncTimeoutSeconds > 3600 {
		errs = append(errs, field.Invalid(path.Child("cacheSyncTimeoutSeconds"), args.CacheSyncTimeoutSeconds, "must be between 1 and 3600"))
	}
	errs = append(errs, validateGPUResources(path.Child("gpuResources"), args.GPUResources)...)
	if t := args.Telemetry; t != nil {
		errs = append(errs, validateTelemetry(path.Child("telemetry"), t)...)
	}
	return errs.ToAggregate()
}

// validateGPUResources checks that each entry is an extended resource name
// (domain-prefixed, outside kubernetes.io) or, ending in "*", a prefix of
// such names (so it includes the domain and "/").
func validateGPUResources(path *field.Path, entries []string) field.ErrorList {
	if len(entries) == 0 {
		return field.ErrorList{field.Required(path, "list the extended resources priced as GPUs, e.g. nvidia.com/gpu")}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, e := range entries {
		p := path.Index(i)
		name, isPrefix := strings.CutSuffix(e, "*")
		if isPrefix {
			// A prefix is valid when it extends to some valid name.
			name += "x"
		}
		switch {
		case seen.Has(e):
			errs = append(errs, field.Duplicate(p, e))
		case !v1helper.IsExtendedResourceName(v1.ResourceName(name)):
			errs = append(errs, field.Invalid(p, e, `must be an extended resource name such as amd.com/gpu (domain-prefixed, outside kubernetes.io), or a prefix of such names ending in "*", such as nvidia.com/mig-*`))
		}
		seen.Insert(e)
	}
	return errs
}

func validateTelemetry(path *field.Path, t *config.TelemetryArgs) field.ErrorList {
	var errs field.ErrorList
	if u, err := url.Parse(t.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, field.Invalid(path.Child("address"), t.Address, "must be an http:// or https:// URL of the Prometheus HTTP API"))
	}
	if t.RefreshSeconds < 1 || t.RefreshSeconds > 3600 {
		errs = append(errs, field.Invalid(path.Child("refreshSeconds"), t.RefreshSeconds, "must be between 1 and 3600"))
	}
	if t.QueryTimeoutSeconds < 1 || t.QueryTimeoutSeconds > t.RefreshSeconds {
		errs = append(errs, field.Invalid(path.Child("queryTimeoutSeconds"), t.QueryTimeoutSeconds, "must be at least 1 and at most refreshSeconds, so a slow Prometheus cannot delay the next refresh"))
	}
	for name, s := range map[string]*config.SignalArgs{"nodeUtilization": t.NodeUtilization, "rtt": t.RTT, "price": t.Price, "health": t.Health,
		"siteRTT": t.SiteRTT} {
		if s == nil || s.Query == "" {
			continue
		}
		p := path.Child(name)
		if s.MaxAgeSeconds < t.RefreshSeconds+t.QueryTimeoutSeconds {
			errs = append(errs, field.Invalid(p.Child("maxAgeSeconds"), s.MaxAgeSeconds,
				"must be at least refreshSeconds + queryTimeoutSeconds, or a read on schedule goes stale before the next one completes"))
		}
		labels := map[string]string{"siteLabel": s.SiteLabel}
		switch name {
		case "nodeUtilization":
			labels = map[string]string{"nodeLabel": s.NodeLabel}
		case "rtt":
			labels["sourceLabel"] = s.SourceLabel
		case "siteRTT":
			labels = map[string]string{"fromSiteLabel": s.FromSiteLabel, "toSiteLabel": s.ToSiteLabel}
		}
		for f, v := range labels {
			if v == "" {
				errs = append(errs, field.Required(p.Child(f), "names the label that maps series to objects"))
			}
		}
	}
	return errs
}
