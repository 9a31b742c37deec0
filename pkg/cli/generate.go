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

package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/manifests"
)

// The columns of the inventories `kubectl proxima generate` reads: a header
// row names them, in any order; the required ones must be there.
var (
	siteColumns = columns{
		required: []string{"name", "tier", "country", "latitude", "longitude"},
		optional: []string{"jurisdictions", "cpuCoreHour", "memoryGiBHour", "gpuHour", "egressGiB"},
	}
	sourceColumns = columns{
		required: []string{"name", "latitude", "longitude"},
		optional: []string{"demand", "probeTargets", "probeModule"},
	}
)

type columns struct{ required, optional []string }

func (o *Options) generateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "generate sites|sources -f inventory.csv",
		Short: "Write Sites or TrafficSources from a CSV inventory (stores, regions) as YAML to apply",
		Long: `generate turns an inventory into Proxima's objects, printed as YAML for
kubectl apply -f -. The first row names the columns, in any order:

  sites:   name, tier (Cloud, Regional, Edge, Device), country (ISO 3166-1
           alpha-2), latitude, longitude; optional jurisdictions (separated
           by ";"), cpuCoreHour, memoryGiBHour, gpuHour, egressGiB
  sources: name, latitude, longitude; optional demand, probeTargets
           (separated by ";"), probeModule (TCP or ICMP)

Every error names the line and the column; nothing is printed unless every
row is valid.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"sites", "sources"},
		RunE: func(c *cobra.Command, args []string) error {
			var in io.Reader = o.In
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			var objs []any
			var err error
			switch args[0] {
			case "sites":
				objs, err = GenerateSites(in, file)
			case "sources":
				objs, err = GenerateSources(in, file)
			default:
				return fmt.Errorf("generate %q: want sites or sources", args[0])
			}
			if err != nil {
				return err
			}
			for i, obj := range objs {
				b, err := yaml.Marshal(obj)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(c.OutOrStdout(), "---")
				}
				if _, err := c.OutOrStdout().Write(b); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "-", "The CSV inventory; - for standard input.")
	return cmd
}

// rows reads a CSV with a header row into one map per row, checking the
// columns; line numbers are the file's.
func rows(in io.Reader, name string, cols columns) ([]map[string]string, []int, error) {
	r := csv.NewReader(in)
	r.TrimLeadingSpace = true
	r.Comment = '#'
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading the header row: %w", name, err)
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !slices.Contains(cols.required, h) && !slices.Contains(cols.optional, h) {
			return nil, nil, fmt.Errorf("%s: unknown column %q (columns: %s; optional: %s)", name, h,
				strings.Join(cols.required, ", "), strings.Join(cols.optional, ", "))
		}
		if _, dup := index[h]; dup {
			return nil, nil, fmt.Errorf("%s: column %q twice", name, h)
		}
		index[h] = i
	}
	for _, c := range cols.required {
		if _, ok := index[c]; !ok {
			return nil, nil, fmt.Errorf("%s: no column %q (required: %s)", name, c, strings.Join(cols.required, ", "))
		}
	}
	var out []map[string]string
	var lines []int
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		row := map[string]string{}
		for c, i := range index {
			row[c] = strings.TrimSpace(rec[i])
		}
		out = append(out, row)
		lines = append(lines, line)
	}
	return out, lines, nil
}

// rowErrors collects every row's errors, so that one run reports them all.
type rowErrors struct {
	file string
	errs []string
}

func (e *rowErrors) add(line int, column, format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf("%s:%d: column %s: %s", e.file, line, column, fmt.Sprintf(format, args...)))
}

func (e *rowErrors) err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(e.errs, "\n"))
}

func (e *rowErrors) name(line int, seen map[string]int, v string) {
	if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
		e.add(line, "name", "%q: %s", v, strings.Join(msgs, "; "))
	} else if first, dup := seen[v]; dup {
		e.add(line, "name", "%q already on line %d", v, first)
	}
	seen[v] = line
}

func (e *rowErrors) quantity(line int, column, v string) *resource.Quantity {
	if v == "" {
		return nil
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		e.add(line, column, "%q is not a decimal", v)
		return nil
	}
	return &q
}

// crdSchema validates objects of one kind as the apiserver does on create:
// the OpenAPI schema and its CEL rules.
type crdSchema struct {
	openAPI    crdvalidation.SchemaCreateValidator
	structural *structuralschema.Structural
	cel        *cel.Validator
}

// schemas are the CRDs' validators by kind: a generated object is checked
// against the schema the apiserver checks it with, not a copy of its rules.
var schemas = sync.OnceValues(func() (map[string]crdSchema, error) {
	crds, err := manifests.CRDs()
	if err != nil {
		return nil, err
	}
	out := map[string]crdSchema{}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if v.Name != placementv1alpha1.SchemeGroupVersion.Version || v.Schema == nil {
				continue
			}
			var internal apiextensionsinternal.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				return nil, err
			}
			validator, _, err := crdvalidation.NewSchemaValidator(&internal)
			if err != nil {
				return nil, err
			}
			ss, err := structuralschema.NewStructural(&internal)
			if err != nil {
				return nil, err
			}
			out[crd.Spec.Names.Kind] = crdSchema{openAPI: validator, structural: ss, cel: cel.NewValidator(ss, true, celconfig.PerCallLimit)}
		}
	}
	return out, nil
})

// schema checks obj against its CRD's schema.
func (e *rowErrors) schema(line int, obj runtime.Object, kind string) {
	validators, err := schemas()
	if err != nil {
		e.errs = append(e.errs, fmt.Sprintf("the CRDs' schemas: %v", err))
		return
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		e.errs = append(e.errs, err.Error())
		return
	}
	v := validators[kind]
	errs := crdvalidation.ValidateCustomResource(nil, u, v.openAPI)
	if len(errs) == 0 {
		errs, _ = v.cel.Validate(context.Background(), nil, v.structural, u, nil, celconfig.RuntimeCELCostBudget)
	}
	for _, fe := range errs {
		msg := fe.Error()
		if fe.Field == "spec.country" && fe.Type == field.ErrorTypeNotSupported {
			// Not the list of 249 codes.
			msg = fmt.Sprintf("spec.country: %q is not an officially assigned ISO 3166-1 alpha-2 code in upper case", fe.BadValue)
			if fe.BadValue == "UK" {
				msg += " (the United Kingdom is GB)"
			}
		}
		e.errs = append(e.errs, fmt.Sprintf("%s:%d: %s", e.file, line, msg))
	}
}

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// generate reads an inventory of one kind: build makes each row's object
// (its name already checked), which is then checked against the CRD.
func generate(in io.Reader, name string, cols columns, kind string,
	build func(line int, r map[string]string, e *rowErrors) runtime.Object) ([]any, error) {
	recs, lines, err := rows(in, name, cols)
	if err != nil {
		return nil, err
	}
	e := &rowErrors{file: name}
	seen := map[string]int{}
	var out []any
	for i, r := range recs {
		e.name(lines[i], seen, r["name"])
		obj := build(lines[i], r, e)
		e.schema(lines[i], obj, kind)
		out = append(out, obj)
	}
	return out, e.err()
}

// GenerateSites reads a site inventory (name is the file's name in errors)
// and returns its Sites, or every error in it.
func GenerateSites(in io.Reader, name string) ([]any, error) {
	return generate(in, name, siteColumns, "Site", func(line int, r map[string]string, e *rowErrors) runtime.Object {
		site := &placementv1alpha1.Site{
			TypeMeta:   metav1.TypeMeta{APIVersion: placementv1alpha1.SchemeGroupVersion.String(), Kind: "Site"},
			ObjectMeta: metav1.ObjectMeta{Name: r["name"]},
			Spec: placementv1alpha1.SiteSpec{Tier: placementv1alpha1.SiteTier(r["tier"]), Country: r["country"],
				Jurisdictions: list(r["jurisdictions"]),
				Location:      placementv1alpha1.GeoLocation{Latitude: r["latitude"], Longitude: r["longitude"]}},
		}
		p := placementv1alpha1.SitePricing{
			CPUCoreHour:   e.quantity(line, "cpuCoreHour", r["cpuCoreHour"]),
			MemoryGiBHour: e.quantity(line, "memoryGiBHour", r["memoryGiBHour"]),
			GPUHour:       e.quantity(line, "gpuHour", r["gpuHour"]),
			EgressGiB:     e.quantity(line, "egressGiB", r["egressGiB"]),
		}
		if p != (placementv1alpha1.SitePricing{}) {
			site.Spec.Pricing = &p
		}
		return site
	})
}

// GenerateSources reads a traffic-source inventory and returns its
// TrafficSources, or every error in it.
func GenerateSources(in io.Reader, name string) ([]any, error) {
	return generate(in, name, sourceColumns, "TrafficSource", func(line int, r map[string]string, e *rowErrors) runtime.Object {
		src := &placementv1alpha1.TrafficSource{
			TypeMeta:   metav1.TypeMeta{APIVersion: placementv1alpha1.SchemeGroupVersion.String(), Kind: "TrafficSource"},
			ObjectMeta: metav1.ObjectMeta{Name: r["name"]},
			Spec: placementv1alpha1.TrafficSourceSpec{
				Location: &placementv1alpha1.GeoLocation{Latitude: r["latitude"], Longitude: r["longitude"]}},
		}
		if v := r["demand"]; v != "" {
			d, err := strconv.ParseInt(v, 10, 32)
			if err != nil || d < 0 {
				e.add(line, "demand", "%q is not a non-negative integer", v)
			}
			src.Spec.Demand = ptr.To(int32(d))
		}
		if targets := list(r["probeTargets"]); len(targets) > 0 {
			src.Spec.Probe = &placementv1alpha1.SourceProbe{Targets: targets, Module: placementv1alpha1.ProbeModule(r["probeModule"])}
		} else if r["probeModule"] != "" {
			e.add(line, "probeModule", "set without probeTargets")
		}
		return src
	})
}
