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

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every alert has a runbook: a heading "Alert NAME" in
// docs/troubleshooting.md, whose anchor its runbook_url names, and the
// fields an operator reads.
func TestAlertsHaveRunbooks(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(doc), -1) {
		// GitHub's anchor: lower case, spaces to dashes, punctuation dropped.
		a := strings.ToLower(strings.ReplaceAll(m[1], " ", "-"))
		headings[regexp.MustCompile(`[^a-z0-9_-]`).ReplaceAllString(a, "")] = true
	}
	seen := map[string]bool{}
	for _, r := range ruleGroups("v9.9.9")[0].Rules {
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		anchor := runbookAnchor(r.Alert)
		if !headings[anchor] {
			t.Errorf("alert %s: docs/troubleshooting.md has no heading \"Alert %s\" (#%s)", r.Alert, r.Alert, anchor)
		}
		if !strings.HasSuffix(r.Annotations["runbook_url"], "/blob/v9.9.9/docs/troubleshooting.md#"+anchor) {
			t.Errorf("alert %s: runbook_url %s", r.Alert, r.Annotations["runbook_url"])
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("alert %s has no summary or description", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("alert %s: severity %q", r.Alert, s)
		}
		if r.For == nil {
			t.Errorf("alert %s has no for", r.Alert)
		}
	}
}

// Every panel has a title and a query; titles are unique.
func TestDashboardPanels(t *testing.T) {
	titles := map[string]bool{}
	for _, r := range rows {
		for _, p := range r.Panels {
			if titles[p.Title] {
				t.Errorf("panel %q twice", p.Title)
			}
			titles[p.Title] = true
			if len(p.Queries) == 0 || p.Unit == "" || p.Description == "" {
				t.Errorf("panel %q lacks a query, unit or description", p.Title)
			}
		}
	}
	if _, err := buildDashboard(); err != nil {
		t.Fatal(err)
	}
}
