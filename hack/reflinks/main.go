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

// Command reflinks unlinks the in-page links of generated Markdown files
// whose anchor no heading gives (make generate): crd-ref-docs links type
// aliases (CountryCode) and types it does not render (PlacementRecord, the
// annotation's document) as if they had sections.
//
// usage: go run ./hack/reflinks FILE...
package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

var (
	heading = regexp.MustCompile(`(?m)^#+ (.+)$`)
	link    = regexp.MustCompile(`\[([^\]]+)\]\(#([^)]+)\)`)
	drop    = regexp.MustCompile(`[^a-z0-9 _-]`)
)

// anchor is the anchor GitHub gives a heading.
func anchor(h string) string {
	return strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
}

func main() {
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		anchors := map[string]bool{}
		for _, m := range heading.FindAllStringSubmatch(string(data), -1) {
			anchors[anchor(m[1])] = true
		}
		out := link.ReplaceAllStringFunc(string(data), func(l string) string {
			m := link.FindStringSubmatch(l)
			if anchors[m[2]] {
				return l
			}
			return m[1]
		})
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
