package apischema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"slices"
	"text/template"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// quantityPattern is the syntax of resource.Quantity, as controller-gen writes it into CRDs.
const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

// CRDDir holds the generated CRDs and their Go package.
const CRDDir = "schemas/crds"

func crdFileName(k kindSpec) string { return k.Group + "_" + k.Plural + ".yaml" }

// crd builds the CustomResourceDefinition of one kind. OpenAPI schemas in CRDs cannot refer to each
// other, so every struct is spelled out where it is used; a recursive type stops at its second
// occurrence with x-kubernetes-preserve-unknown-fields.
func crd(k kindSpec, m *Model) *apiextensionsv1.CustomResourceDefinition {
	root := openAPIStruct(m.Defs[k.Go], nil)
	// The apiserver owns the schema of the root metadata: a CRD may only say it is an object.
	root.Properties["metadata"] = apiextensionsv1.JSONSchemaProps{Type: "object"}
	scope := apiextensionsv1.ClusterScoped
	if k.Namespaced {
		scope = apiextensionsv1.NamespaceScoped
	}
	version := apiextensionsv1.CustomResourceDefinitionVersion{
		Name: k.Version, Served: true, Storage: true,
		Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &root},
	}
	if k.StatusSubresource {
		version.Subresources = &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: k.Plural + "." + k.Group, Annotations: k.Annotations},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: k.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: k.Plural, Singular: k.Singular, ShortNames: k.ShortNames,
				Kind: k.Kind, ListKind: k.Kind + "List", Categories: k.Categories,
			},
			Scope:    scope,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{version},
		},
	}
}

func openAPIStruct(d *Def, stack []*Def) apiextensionsv1.JSONSchemaProps {
	s := apiextensionsv1.JSONSchemaProps{Type: "object"}
	if slices.Contains(stack, d) {
		s.XPreserveUnknownFields = ptr(true)
		return s
	}
	stack = append(stack, d)
	for _, f := range d.Fields {
		p := openAPI(f.Type, stack)
		p.Nullable = f.Nullable
		if s.Properties == nil {
			s.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
		}
		s.Properties[f.Name] = p
		if f.Required {
			s.Required = append(s.Required, f.Name)
		}
	}
	return s
}

func openAPI(t *Type, stack []*Def) apiextensionsv1.JSONSchemaProps {
	intOrString := []apiextensionsv1.JSONSchemaProps{{Type: "integer"}, {Type: "string"}}
	switch t.Kind {
	case KindString:
		return apiextensionsv1.JSONSchemaProps{Type: "string", Format: t.Format}
	case KindInt:
		return apiextensionsv1.JSONSchemaProps{Type: "integer", Format: t.Format}
	case KindNumber:
		return apiextensionsv1.JSONSchemaProps{Type: "number"}
	case KindBool:
		return apiextensionsv1.JSONSchemaProps{Type: "boolean"}
	case KindAny:
		return apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: ptr(true)}
	case KindObject:
		return apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}
	case KindIntOrString:
		return apiextensionsv1.JSONSchemaProps{AnyOf: intOrString, XIntOrString: true}
	case KindQuantity:
		return apiextensionsv1.JSONSchemaProps{AnyOf: intOrString, XIntOrString: true, Pattern: quantityPattern}
	case KindList:
		e := openAPI(t.Elem, stack)
		return apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &e}}
	case KindMap:
		e := openAPI(t.Elem, stack)
		return apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &e}}
	case KindStruct:
		return openAPIStruct(t.Def, stack)
	}
	panic(fmt.Sprintf("apischema: no OpenAPI for kind %d", t.Kind))
}

func ptr[T any](v T) *T { return &v }

// crdYAML renders a CRD without the empty status and creationTimestamp that its Go type carries.
func crdYAML(c *apiextensionsv1.CustomResourceDefinition) ([]byte, error) {
	j, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(j, &obj); err != nil {
		return nil, err
	}
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	y, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return append([]byte("# "+Header[len("// "):]+"\n"), y...), nil
}

type crdsGoKind struct {
	Set, Kind, File, ShippedBy, CreatedBy string
}

// crdsGo renders schemas/crds/zz_generated.go: the table of the generated CRDs, which the hand-written
// crds.go serves (embedded YAML, by who installs them, per upstream release).
func crdsGo(kinds []kindSpec) ([]byte, error) {
	var ks []crdsGoKind
	for _, k := range kinds {
		if k.Upstream {
			continue
		}
		ks = append(ks, crdsGoKind{Kind: k.Kind, File: crdFileName(k), ShippedBy: k.ShippedBy, CreatedBy: k.CreatedBy})
	}
	for _, e := range upstreamEntries() {
		ks = append(ks, crdsGoKind(e))
	}
	var sets []string
	for _, s := range append(append([]Source(nil), KubeVirtSources...), CDISources...) {
		sets = append(sets, s.Set)
	}
	var b bytes.Buffer
	if err := crdsGoTemplate.Execute(&b, map[string]any{"Header": Header, "Kinds": ks, "Sets": sets}); err != nil {
		return nil, err
	}
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting zz_generated.go: %w\n%s", err, b.Bytes())
	}
	return out, nil
}

var crdsGoTemplate = template.Must(template.New("zz_generated.go").Parse(`{{.Header}}

package crds

// entries are the generated CRDs: their release set ("" for those made from Go types), kind, file,
// and who installs them (crds.go).
var entries = []entry{
{{- range .Kinds}}
	{set: {{printf "%q" .Set}}, kind: {{printf "%q" .Kind}}, file: {{printf "%q" .File}}, shippedBy: {{printf "%q" .ShippedBy}}, createdBy: {{printf "%q" .CreatedBy}}},
{{- end}}
}

// sets are the upstream releases carried, oldest first per project.
var sets = []string{
{{- range .Sets}}
	{{printf "%q" .}},
{{- end}}
}
`))

// objectMetaJSON is the OpenAPI schema of metav1.ObjectMeta, made from the Go type: vmo-cue checks an
// object's metadata, and its templates', against it (the CRDs leave both to the API server).
func objectMetaJSON(m *Model) ([]byte, error) {
	d := m.Defs[typeOf[metav1.ObjectMeta]()]
	if d == nil {
		return nil, fmt.Errorf("ObjectMeta is not in the model")
	}
	s := openAPIStruct(d, nil)
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
