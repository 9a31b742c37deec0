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
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"text/template"
)

// TemplateDir is where the scheduler_perf templates of Proxima's bench/e2e
// live, relative to the repository root: the one copy, which bench/peers/e2e
// runs as well.
const TemplateDir = "bench/e2e/templates"

// templateFuncs maps the names of the template functions that
// scheduler_perf offers at Proxima's Kubernetes version (1.36: getTemplateFuncs
// in test/integration/scheduler_perf/operations.go, which the templates in
// TemplateDir are written for) to their names at 1.34 (in
// getSpecFromTextTemplateFile, test/integration/scheduler_perf/create.go),
// which has only these two: integer division and remainder.
var templateFuncs = map[string]string{
	"DivideInt": "div",
	"Mod":       "mod",
}

// funcs134 stand for scheduler_perf 1.34's template functions when a
// translated template is checked: the names alone matter to the parser.
var funcs134 = template.FuncMap{
	"div": func(a, b int) int { return a / b },
	"mod": func(a, b int) int { return a % b },
}

var (
	// action is a template action, {{ ... }}; the templates hold no "}}"
	// inside one.
	action = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	// funcName is an identifier that may name a function in an action.
	funcName = regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9_]*\b`)
)

// TranslateTemplate rewrites a scheduler_perf template written for Proxima's
// Kubernetes version so that scheduler_perf 1.34 renders the same text: it
// renames the functions in its actions (DivideInt to div, Mod to mod) and
// checks that the result parses with 1.34's functions.
func TranslateTemplate(name, text string) (string, error) {
	out := action.ReplaceAllStringFunc(text, func(a string) string {
		return funcName.ReplaceAllStringFunc(a, func(id string) string {
			if to, ok := templateFuncs[id]; ok {
				return to
			}
			return id
		})
	})
	if _, err := template.New(name).Funcs(funcs134).Parse(out); err != nil {
		return "", fmt.Errorf("%s does not translate for scheduler_perf 1.34 (which offers only div and mod): %w", name, err)
	}
	return out, nil
}

// TranslateTemplates translates every template in Proxima's TemplateDir
// into dir, under the same names, and returns the path of TemplateDir, so
// that a caller can point references to it at dir instead.
func TranslateTemplates(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, filepath.FromSlash(TemplateDir))
	files, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no templates in %s", src)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		out, err := TranslateTemplate(filepath.Base(f), string(data))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(out), 0o644); err != nil {
			return "", err
		}
	}
	return src, nil
}

// TranslateConfig writes a copy of the scheduler_perf configuration at
// path into dir, with every template path that names a file in Proxima's
// TemplateDir (relative to the configuration's directory, where the test
// runs) pointed at its translation, also written into dir. Other paths (the
// scheduler configurations) are left as they are. It returns the path of
// the copy.
func TranslateConfig(path, dir string) (string, error) {
	templates := filepath.Join(dir, "templates")
	if err := os.MkdirAll(templates, 0o755); err != nil {
		return "", err
	}
	src, err := TranslateTemplates(templates)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return "", err
	}
	n := 0
	var lineErr error
	out := templatePathLine.ReplaceAllStringFunc(string(data), func(line string) string {
		m := templatePathLine.FindStringSubmatch(line)
		ref := m[2]
		abs := ref
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(base, ref)
		}
		if filepath.Dir(abs) != src {
			return line
		}
		if _, err := os.Stat(filepath.Join(templates, filepath.Base(abs))); err != nil && lineErr == nil {
			lineErr = fmt.Errorf("%s names %s, which is not a template in %s", path, ref, src)
		}
		n++
		return m[1] + filepath.Join(templates, filepath.Base(abs))
	})
	if lineErr != nil {
		return "", lineErr
	}
	if n == 0 {
		return "", fmt.Errorf("%s names no template in %s", path, src)
	}
	copyPath := filepath.Join(dir, filepath.Base(path))
	return copyPath, os.WriteFile(copyPath, []byte(out), 0o644)
}

// templatePathLine is a scheduler_perf configuration line naming a
// template: nodeTemplatePath, defaultPodTemplatePath, templatePath and the
// like, with the path unquoted.
var templatePathLine = regexp.MustCompile(`(?m)^(\s*(?:-\s+)?[A-Za-z]*[Tt]emplatePath:\s*)(\S+)\s*$`)
