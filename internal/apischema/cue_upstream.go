package apischema

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// UpstreamCUEDir is the CUE package of the VM family's definitions, made from the upstream CRDs.
const UpstreamCUEDir = "schemas/upstream"

// upstreamCUEKinds are the kinds package upstream defines: what a fleet may declare. Each
// definition is the union of the kind's schema over every carried release (a field any supported
// release has is allowed; the Go check holds each cluster to its own release's schema), with the
// types, required fields, nullability and closedness of the CRDs. Enums, bounds, patterns, list
// sizes and keys are left to the Go check (internal/schema), which reports them in CUE's words on
// every evaluation path.
var upstreamCUEKinds = []struct{ Source, Kind string }{
	{"kubevirt", "VirtualMachine"},
	{"kubevirt", "VirtualMachineInstancetype"},
	{"kubevirt", "VirtualMachineClusterInstancetype"},
	{"kubevirt", "VirtualMachinePreference"},
	{"kubevirt", "VirtualMachineClusterPreference"},
	{"cdi", "DataVolume"},
}

// upstreamCUE renders package upstream from the upstream CRD files (paths from the repository root).
func upstreamCUE(files map[string][]byte) ([]byte, error) {
	var body strings.Builder
	for _, k := range upstreamCUEKinds {
		var paths []string
		for p := range files {
			if strings.HasPrefix(p, CRDDir+"/"+k.Source+"/") {
				paths = append(paths, p)
			}
		}
		// Newest release first: its types win where releases disagree.
		sort.Sort(sort.Reverse(sort.StringSlice(paths)))
		var union *apiextensionsv1.JSONSchemaProps
		apiVersion := ""
		for _, p := range paths {
			c := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.Unmarshal(files[p], c); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if c.Spec.Names.Kind != k.Kind {
				continue
			}
			for _, v := range c.Spec.Versions {
				if !v.Storage || v.Schema == nil {
					continue
				}
				if apiVersion == "" {
					apiVersion = c.Spec.Group + "/" + v.Name
				}
				if union == nil {
					union = v.Schema.OpenAPIV3Schema.DeepCopy()
				} else {
					unionSchema(union, v.Schema.OpenAPIV3Schema)
				}
			}
		}
		if union == nil {
			return nil, fmt.Errorf("no CRD of %s in %s", k.Kind, path.Join(CRDDir, k.Source))
		}
		e := &openAPICUE{}
		fmt.Fprintf(&body, "#%s: {\n\tapiVersion: %s\n\tkind: %s\n\tmetadata?: kubevirt.#ObjectMeta\n",
			k.Kind, literal.String.Quote(apiVersion), literal.String.Quote(k.Kind))
		names := sortedKeys(union.Properties)
		for _, name := range names {
			switch name {
			case "apiVersion", "kind", "metadata":
				continue
			case "status":
				body.WriteString("\tstatus?: {...}\n") // the cluster's: internal/validate refuses it unless empty
				continue
			}
			p := union.Properties[name]
			fmt.Fprintf(&body, "\t%s%s %s\n", cueLabel(name), marker(union, name), e.expr(&p, name))
		}
		body.WriteString("}\n")
	}
	src := fmt.Sprintf("%s\n\npackage upstream\n\nimport \"vmo-cue.dev/vmo/schemas/kubevirt\"\n\n%s", Header, body.String())
	out, err := format.Source([]byte(src))
	if err != nil {
		return nil, fmt.Errorf("formatting CUE package upstream: %w", err)
	}
	return out, nil
}

func marker(s *apiextensionsv1.JSONSchemaProps, name string) string {
	for _, r := range s.Required {
		if r == name {
			return "!:"
		}
	}
	return "?:"
}

// unionSchema adds to a what b allows besides: fields of either, required only where both require.
func unionSchema(a, b *apiextensionsv1.JSONSchemaProps) {
	if b == nil {
		return
	}
	a.Nullable = a.Nullable || b.Nullable
	a.XIntOrString = a.XIntOrString || b.XIntOrString
	if b.XPreserveUnknownFields != nil && *b.XPreserveUnknownFields {
		a.XPreserveUnknownFields = b.XPreserveUnknownFields
	}
	for name, bp := range b.Properties {
		if ap, ok := a.Properties[name]; ok {
			unionSchema(&ap, &bp)
			a.Properties[name] = ap
			continue
		}
		if a.Properties == nil {
			a.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
		}
		a.Properties[name] = bp
	}
	var req []string
	for _, r := range a.Required {
		for _, q := range b.Required {
			if r == q {
				req = append(req, r)
			}
		}
	}
	a.Required = req
	if a.Items != nil && a.Items.Schema != nil && b.Items != nil {
		unionSchema(a.Items.Schema, b.Items.Schema)
	}
	if a.AdditionalProperties != nil && a.AdditionalProperties.Schema != nil && b.AdditionalProperties != nil {
		unionSchema(a.AdditionalProperties.Schema, b.AdditionalProperties.Schema)
	}
}

// openAPICUE writes a structural schema as CUE: closed structs (a definition's), optional (`?`) or
// required (`!`) fields, null where the schema is nullable.
type openAPICUE struct{}

func (e *openAPICUE) expr(s *apiextensionsv1.JSONSchemaProps, name string) string {
	t := e.typ(s, name)
	if s.Nullable {
		return "null | " + t
	}
	return t
}

func (e *openAPICUE) typ(s *apiextensionsv1.JSONSchemaProps, name string) string {
	preserve := s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields
	switch {
	case s.XIntOrString:
		return "int | string"
	case name == "metadata" && s.Type == "object" && len(s.Properties) == 0:
		// An embedded object's metadata (a template's): the API server keeps it as it is; vmo-cue
		// holds it to ObjectMeta, as the object's own.
		return "kubevirt.#ObjectMeta"
	}
	switch s.Type {
	case "string":
		return "string"
	case "integer":
		return "int"
	case "number":
		return "number"
	case "boolean":
		return "bool"
	case "array":
		if s.Items == nil || s.Items.Schema == nil {
			return "[..._]"
		}
		return "[..." + e.expr(s.Items.Schema, "") + "]"
	case "object":
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			return "{[string]: " + e.expr(s.AdditionalProperties.Schema, "") + "}"
		}
		if len(s.Properties) == 0 {
			if preserve || (s.AdditionalProperties != nil && s.AdditionalProperties.Allows) {
				return "{...}"
			}
			return "{}"
		}
		var b strings.Builder
		b.WriteString("{\n")
		for _, n := range sortedKeys(s.Properties) {
			p := s.Properties[n]
			fmt.Fprintf(&b, "%s%s %s\n", cueLabel(n), marker(s, n), e.expr(&p, n))
		}
		if preserve {
			b.WriteString("...\n")
		}
		b.WriteString("}")
		return b.String()
	case "":
		return "_"
	}
	return "_"
}

// schemaJSONFiles writes, next to each upstream CRD of a kind in upstreamCUEKinds, its storage
// version's schema as compact JSON (<file>.schema.json): what vet decodes, at every run, for each
// cluster's releases (decoding the YAML CRD took about a tenth of a second per kind).
func schemaJSONFiles(upstream, files map[string][]byte) error {
	checked := map[string]bool{}
	for _, k := range upstreamCUEKinds {
		checked[k.Kind] = true
	}
	for p, b := range upstream {
		if !strings.HasSuffix(p, ".yaml") {
			continue
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, c); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if !checked[c.Spec.Names.Kind] {
			continue
		}
		for _, v := range c.Spec.Versions {
			if !v.Storage || v.Schema == nil {
				continue
			}
			j, err := json.Marshal(v.Schema.OpenAPIV3Schema)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			files[strings.TrimSuffix(p, ".yaml")+".schema.json"] = append(j, '\n')
		}
	}
	return nil
}
