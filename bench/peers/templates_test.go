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

package peers

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

// funcs136 behave as scheduler_perf's DivideInt and Mod at Kubernetes 1.36
// (operations.go): both convert their operands to float64 first.
var funcs136 = template.FuncMap{
	"DivideInt": func(a, b any) int { return int(toFloat(a) / toFloat(b)) },
	"Mod":       func(a, b any) int { return int(toFloat(a)) % int(toFloat(b)) },
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	}
	panic("unexpected operand")
}

func render(t *testing.T, name, text string, funcs template.FuncMap, index, count int) string {
	t.Helper()
	tmpl, err := template.New(name).Funcs(funcs).Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]any{"Index": index, "Count": count}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestTranslateTemplates checks that every template of bench/e2e renders
// the same text translated for scheduler_perf 1.34 as it does for 1.36.
func TestTranslateTemplates(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(TemplateDir), "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in %s: %v", TemplateDir, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			translated, err := TranslateTemplate(name, string(data))
			if err != nil {
				t.Fatal(err)
			}
			// The AppGroup and the NetworkTopology are created once.
			count := 5000
			if name == "app-group.yaml" || name == "network-topology.yaml" {
				count = 1
			}
			for i := range count {
				want := render(t, name, string(data), funcs136, i, count)
				if got := render(t, name, translated, funcs134, i, count); got != want {
					t.Fatalf("index %d renders differently:\n%s\nwant:\n%s", i, got, want)
				}
			}
		})
	}
}

func TestTranslateTemplateUnknownFunction(t *testing.T) {
	if _, err := TranslateTemplate("x.yaml", "a: {{AddInt .Index 1}}"); err == nil {
		t.Error("a function scheduler_perf 1.34 lacks was translated")
	}
}

// TestTranslateConfig checks that the peers' scheduler_perf configuration
// names only bench/e2e's templates, each pointed at its translation.
func TestTranslateConfig(t *testing.T) {
	dir := t.TempDir()
	path, err := TranslateConfig(filepath.Join("e2e", "performance-config.yaml"), dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(strings.ToLower(line), "templatepath:") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			n++
		}
		m := templatePathLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n--
		if !strings.HasPrefix(m[2], filepath.Join(dir, "templates")+string(filepath.Separator)) {
			t.Errorf("%q does not name a translated template", strings.TrimSpace(line))
		} else if _, err := os.Stat(m[2]); err != nil {
			t.Error(err)
		}
	}
	if n != 0 {
		t.Errorf("%d template paths in the configuration are not in the form TranslateConfig rewrites", n)
	}
}
