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

package telemetry

import (
	"time"

	"github.com/proxima-sched/proxima/apis/config"
)

// ConfigFromArgs is the collector configuration of EdgePlacement's
// telemetry args (defaulted and validated): the scheduler plugin and
// kubectl proxima read Prometheus with the same queries, ages and labels.
func ConfigFromArgs(t *config.TelemetryArgs) Config {
	q := func(s *config.SignalArgs) Query {
		if s == nil {
			return Query{}
		}
		return Query{PromQL: s.Query, MaxAge: time.Duration(s.MaxAgeSeconds) * time.Second,
			NodeLabel: s.NodeLabel, SourceLabel: s.SourceLabel, SiteLabel: s.SiteLabel,
			FromSiteLabel: s.FromSiteLabel, ToSiteLabel: s.ToSiteLabel}
	}
	return Config{
		Address: t.Address,
		Refresh: time.Duration(t.RefreshSeconds) * time.Second, Timeout: time.Duration(t.QueryTimeoutSeconds) * time.Second,
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, BearerTokenFile: t.BearerTokenFile,
		NodeLoad: q(t.NodeUtilization), RTT: q(t.RTT), Price: q(t.Price), Health: q(t.Health), SiteRTT: q(t.SiteRTT),
	}
}
