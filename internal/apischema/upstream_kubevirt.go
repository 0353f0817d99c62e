package apischema

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"strconv"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// upstreamKind is one kind whose CRD comes from an upstream release's generated validation.
type upstreamKind struct {
	// Key is the kind's entry in the generated map (KubeVirt: the singular name; CDI: its own key).
	Key string
	// Func is the function of KubeVirt's crds.go that assembles the CRD (KubeVirt only).
	Func                   string
	Group, Kind            string
	Plural, Singular       string
	ShortNames, Categories []string
	Namespaced             bool
	ShippedBy, CreatedBy   string
}

// kubevirtKinds are the KubeVirt kinds whose CRDs vmo-cue carries: the VM family a fleet may declare
// (VirtualMachine, instance types and preferences), the KubeVirt CR's own CRD (in KubeVirt's release
// manifests), and what virt-operator creates besides, for test clusters.
var kubevirtKinds = []upstreamKind{
	kv("virtualmachine", "NewVirtualMachineCrd", "kubevirt.io", "VirtualMachine", []string{"vm", "vms"}, true),
	kv("virtualmachineinstance", "NewVirtualMachineInstanceCrd", "kubevirt.io", "VirtualMachineInstance", []string{"vmi", "vmis"}, true),
	shipped(kv("kubevirt", "NewKubeVirtCrd", "kubevirt.io", "KubeVirt", []string{"kv", "kvs"}, true)),
	kv("virtualmachinesnapshot", "NewVirtualMachineSnapshotCrd", "snapshot.kubevirt.io", "VirtualMachineSnapshot", []string{"vmsnapshot", "vmsnapshots"}, true),
	kv("virtualmachinesnapshotcontent", "NewVirtualMachineSnapshotContentCrd", "snapshot.kubevirt.io", "VirtualMachineSnapshotContent", []string{"vmsnapshotcontent", "vmsnapshotcontents"}, true),
	kv("virtualmachinerestore", "NewVirtualMachineRestoreCrd", "snapshot.kubevirt.io", "VirtualMachineRestore", []string{"vmrestore", "vmrestores"}, true),
	kv("virtualmachineexport", "NewVirtualMachineExportCrd", "export.kubevirt.io", "VirtualMachineExport", []string{"vmexport", "vmexports"}, true),
	kv("virtualmachineinstancetype", "NewVirtualMachineInstancetypeCrd", "instancetype.kubevirt.io", "VirtualMachineInstancetype", []string{"vminstancetype", "vminstancetypes", "vmf", "vmfs"}, true),
	kv("virtualmachineclusterinstancetype", "NewVirtualMachineClusterInstancetypeCrd", "instancetype.kubevirt.io", "VirtualMachineClusterInstancetype", []string{"vmclusterinstancetype", "vmclusterinstancetypes", "vmcf", "vmcfs"}, false),
	kv("virtualmachinepreference", "NewVirtualMachinePreferenceCrd", "instancetype.kubevirt.io", "VirtualMachinePreference", []string{"vmpref", "vmprefs", "vmp", "vmps"}, true),
	kv("virtualmachineclusterpreference", "NewVirtualMachineClusterPreferenceCrd", "instancetype.kubevirt.io", "VirtualMachineClusterPreference", []string{"vmcp", "vmcps"}, false),
}

// cdiKinds are the CDI kinds whose CRDs vmo-cue carries.
var cdiKinds = []upstreamKind{
	{Key: "datavolume", Group: "cdi.kubevirt.io", Kind: "DataVolume", Plural: "datavolumes", CreatedBy: "cdi-operator"},
	{Key: "cdi", Group: "cdi.kubevirt.io", Kind: "CDI", Plural: "cdis", ShippedBy: "cdi"},
}

func kv(key, fn, group, kind string, short []string, namespaced bool) upstreamKind {
	k := upstreamKind{Key: key, Func: fn, Group: group, Kind: kind, Plural: key + "s", Singular: key,
		ShortNames: short, Namespaced: namespaced, CreatedBy: "virt-operator"}
	if namespaced {
		k.Categories = []string{"all"} // crds.go: the cluster-scoped instance types and preferences have none
	}
	return k
}

func shipped(k upstreamKind) upstreamKind {
	k.ShippedBy, k.CreatedBy = "kubevirt", ""
	return k
}

// apiSupportedVersions is kubevirt.io/api core/v1 ApiSupportedVersions (register.go), which crds.go's
// newCRDVersions copies for the kubevirt.io kinds: v1 stored, and the deprecated v1alpha3 still served.
// It lives in the kubevirt.io/api module, not in kubevirt.io/kubevirt; it is the same in v1.4–v1.8.
func apiSupportedVersions() []apiextensionsv1.CustomResourceDefinitionVersion {
	return []apiextensionsv1.CustomResourceDefinitionVersion{
		{Name: "v1", Served: true, Storage: true},
		{Name: "v1alpha3", Served: true, Deprecated: true,
			DeprecationWarning: ptr("kubevirt.io/v1alpha3 is now deprecated and will be removed in a future release.")},
	}
}

// kubevirtCRDs builds the CRDs of kubevirtKinds from one KubeVirt release: the schemas from its
// validations_generated.go, the rest from the functions of crds.go that assemble them.
func kubevirtCRDs(validation map[string]string, moduleRoot, file string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	crdsGo := filepath.Join(moduleRoot, filepath.Dir(filepath.FromSlash(file)), "crds.go")
	src, err := os.ReadFile(crdsGo)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseFile(token.NewFileSet(), crdsGo, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	a := newCRDsGo(f)
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, k := range kubevirtKinds {
		text, ok := validation[k.Key]
		if !ok {
			return nil, fmt.Errorf("validations_generated.go has no %q", k.Key)
		}
		var v apiextensionsv1.CustomResourceValidation
		if err := yaml.UnmarshalStrict([]byte(text), &v); err != nil {
			return nil, fmt.Errorf("validation of %s: %w", k.Key, err)
		}
		stripDescriptions(v.OpenAPIV3Schema)
		fn := a.funcs[k.Func]
		if fn == nil {
			return nil, fmt.Errorf("crds.go has no func %s", k.Func)
		}
		asm, err := a.assemble(fn)
		if err != nil {
			return nil, fmt.Errorf("crds.go %s: %w", k.Func, err)
		}
		for i := range asm.versions {
			asm.versions[i].Schema = v.DeepCopy()
			if asm.statusAll && asm.versions[i].Subresources == nil {
				asm.versions[i].Subresources = &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}}
			}
			asm.versions[i].AdditionalPrinterColumns = asm.columns
		}
		scope := apiextensionsv1.ClusterScoped
		if k.Namespaced {
			scope = apiextensionsv1.NamespaceScoped
		}
		out = append(out, &apiextensionsv1.CustomResourceDefinition{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
			ObjectMeta: metav1.ObjectMeta{Name: k.Plural + "." + k.Group, Labels: asm.labels},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: k.Group,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: k.Plural, Singular: k.Singular,
					ShortNames: k.ShortNames, Kind: k.Kind, ListKind: k.Kind + "List", Categories: k.Categories},
				Scope:    scope,
				Versions: asm.versions,
			},
		})
	}
	return out, nil
}

// cdiCRDs reads the CRDs of cdiKinds from CDI's crds_generated.go, whose entries are whole CRDs.
func cdiCRDs(generated map[string]string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, k := range cdiKinds {
		text, ok := generated[k.Key]
		if !ok {
			return nil, fmt.Errorf("crds_generated.go has no %q", k.Key)
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict([]byte(text), c); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", k.Key, err)
		}
		if c.Spec.Names.Kind != k.Kind || c.Spec.Group != k.Group || c.Spec.Names.Plural != k.Plural {
			return nil, fmt.Errorf("CRD %s is %s.%s, want %s.%s", k.Key, c.Spec.Names.Kind, c.Spec.Group, k.Kind, k.Group)
		}
		for i := range c.Spec.Versions {
			if c.Spec.Versions[i].Schema != nil {
				stripDescriptions(c.Spec.Versions[i].Schema.OpenAPIV3Schema)
			}
		}
		c.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
		out = append(out, c)
	}
	return out, nil
}

// stripDescriptions removes the documentation from a schema: it is most of its size, and vmo-cue
// embeds every version's CRDs. Validation does not read it.
func stripDescriptions(s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	s.Description = ""
	for k, p := range s.Properties {
		stripDescriptions(&p)
		s.Properties[k] = p
	}
	if s.Items != nil {
		stripDescriptions(s.Items.Schema)
		for i := range s.Items.JSONSchemas {
			stripDescriptions(&s.Items.JSONSchemas[i])
		}
	}
	if s.AdditionalProperties != nil {
		stripDescriptions(s.AdditionalProperties.Schema)
	}
	for _, l := range [][]apiextensionsv1.JSONSchemaProps{s.AnyOf, s.AllOf, s.OneOf} {
		for i := range l {
			stripDescriptions(&l[i])
		}
	}
	if s.Not != nil {
		stripDescriptions(s.Not)
	}
}

// crdsGo reads KubeVirt's crds.go as syntax: its string constants, its imports and its functions.
type crdsGoFile struct {
	consts  map[string]string
	imports map[string]string // alias -> import path
	funcs   map[string]*ast.FuncDecl
}

func newCRDsGo(f *ast.File) *crdsGoFile {
	a := &crdsGoFile{consts: map[string]string{}, imports: map[string]string{}, funcs: map[string]*ast.FuncDecl{}}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		a.imports[name] = p
	}
	for _, d := range f.Decls {
		switch x := d.(type) {
		case *ast.FuncDecl:
			a.funcs[x.Name.Name] = x
		case *ast.GenDecl:
			if x.Tok != token.CONST {
				continue
			}
			for _, s := range x.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if v, err := stringExpr(vs.Values[i]); err == nil {
							a.consts[n.Name] = v
						}
					}
				}
			}
		}
	}
	return a
}

// assembled is what one New...Crd function sets besides the schema.
type assembled struct {
	versions  []apiextensionsv1.CustomResourceDefinitionVersion
	columns   []apiextensionsv1.CustomResourceColumnDefinition
	statusAll bool // a status subresource added to every version (addFieldsToAllVersions)
	labels    map[string]string
}

// assemble reads a New...Crd function: its version list (newCRDVersions() or a literal), its
// printer columns, its subresources and its labels (newBlankCrd's, or a literal map).
func (a *crdsGoFile) assemble(fn *ast.FuncDecl) (*assembled, error) {
	out := &assembled{}
	var err error
	inVersions := map[ast.Node]bool{}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if err != nil {
			return false
		}
		switch x := n.(type) {
		case *ast.CallExpr:
			if id, ok := x.Fun.(*ast.Ident); ok {
				switch id.Name {
				case "newCRDVersions":
					out.versions = apiSupportedVersions()
				case "newBlankCrd":
					out.labels = map[string]string{"kubevirt.io": ""}
				}
			}
		case *ast.CompositeLit:
			switch typeName(x.Type) {
			case "[]CustomResourceDefinitionVersion":
				for _, e := range x.Elts {
					var v apiextensionsv1.CustomResourceDefinitionVersion
					v, err = a.version(e.(*ast.CompositeLit))
					out.versions = append(out.versions, v)
					ast.Inspect(e, func(m ast.Node) bool { inVersions[m] = true; return true })
				}
			case "[]CustomResourceColumnDefinition":
				for _, e := range x.Elts {
					var c apiextensionsv1.CustomResourceColumnDefinition
					c, err = a.column(e.(*ast.CompositeLit))
					out.columns = append(out.columns, c)
				}
			case "CustomResourceSubresources":
				if !inVersions[x] {
					if hasKey(x, "Scale") {
						err = fmt.Errorf("a scale subresource is not supported here")
					}
					out.statusAll = hasKey(x, "Status")
				}
			case "map[string]string":
				labels := map[string]string{}
				for _, e := range x.Elts {
					kv := e.(*ast.KeyValueExpr)
					k, err1 := stringExpr(kv.Key)
					v, err2 := stringExpr(kv.Value)
					if err1 == nil && err2 == nil {
						labels[k] = v
					}
				}
				if len(labels) > 0 && out.labels == nil {
					out.labels = labels
				}
			}
		}
		return true
	})
	if err == nil && len(out.versions) == 0 {
		err = fmt.Errorf("no versions")
	}
	return out, err
}

func typeName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	case *ast.ArrayType:
		return "[]" + typeName(x.Elt)
	case *ast.MapType:
		return "map[" + typeName(x.Key) + "]" + typeName(x.Value)
	}
	return ""
}

func hasKey(lit *ast.CompositeLit, key string) bool {
	for _, e := range lit.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if id, ok := kv.Key.(*ast.Ident); ok && id.Name == key {
				return true
			}
		}
	}
	return false
}

func (a *crdsGoFile) version(lit *ast.CompositeLit) (apiextensionsv1.CustomResourceDefinitionVersion, error) {
	var v apiextensionsv1.CustomResourceDefinitionVersion
	for _, e := range lit.Elts {
		kv := e.(*ast.KeyValueExpr)
		key := kv.Key.(*ast.Ident).Name
		switch key {
		case "Name":
			name, err := a.versionName(kv.Value)
			if err != nil {
				return v, err
			}
			v.Name = name
		case "Served", "Storage", "Deprecated":
			b, err := boolExpr(kv.Value)
			if err != nil {
				return v, fmt.Errorf("%s: %w", key, err)
			}
			switch key {
			case "Served":
				v.Served = b
			case "Storage":
				v.Storage = b
			default:
				v.Deprecated = b
			}
		case "DeprecationWarning":
			call, ok := kv.Value.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return v, fmt.Errorf("DeprecationWarning: not pointer.P(string)")
			}
			s, err := stringExpr(call.Args[0])
			if err != nil {
				return v, err
			}
			v.DeprecationWarning = &s
		case "Subresources":
			v.Subresources = &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}}
			if u, ok := kv.Value.(*ast.UnaryExpr); !ok || !hasKey(u.X.(*ast.CompositeLit), "Status") || len(u.X.(*ast.CompositeLit).Elts) != 1 {
				return v, fmt.Errorf("subresources other than status")
			}
		default:
			return v, fmt.Errorf("version field %s not understood", key)
		}
	}
	return v, nil
}

// versionName reads `<alias>.SchemeGroupVersion.Version` (the last element of the alias's import
// path, such as v1beta1) or a string literal.
func (a *crdsGoFile) versionName(e ast.Expr) (string, error) {
	if s, err := stringExpr(e); err == nil {
		return s, nil
	}
	if sel, ok := e.(*ast.SelectorExpr); ok && sel.Sel.Name == "Version" {
		if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "SchemeGroupVersion" {
			if id, ok := inner.X.(*ast.Ident); ok {
				if p, ok := a.imports[id.Name]; ok {
					return path.Base(p), nil
				}
			}
		}
	}
	return "", fmt.Errorf("version name not understood")
}

func boolExpr(e ast.Expr) (bool, error) {
	if id, ok := e.(*ast.Ident); ok && (id.Name == "true" || id.Name == "false") {
		return id.Name == "true", nil
	}
	return false, fmt.Errorf("not true or false")
}

func (a *crdsGoFile) column(lit *ast.CompositeLit) (apiextensionsv1.CustomResourceColumnDefinition, error) {
	var c apiextensionsv1.CustomResourceColumnDefinition
	for _, e := range lit.Elts {
		kv := e.(*ast.KeyValueExpr)
		key := kv.Key.(*ast.Ident).Name
		if key == "Priority" {
			lit, ok := kv.Value.(*ast.BasicLit)
			if !ok || lit.Kind != token.INT {
				return c, fmt.Errorf("column priority not an int literal")
			}
			n, err := strconv.Atoi(lit.Value)
			if err != nil {
				return c, err
			}
			c.Priority = int32(n)
			continue
		}
		s, err := stringExpr(kv.Value)
		if err != nil {
			id, ok := kv.Value.(*ast.Ident)
			if !ok {
				return c, fmt.Errorf("column %s: %w", key, err)
			}
			if s, ok = a.consts[id.Name]; !ok {
				return c, fmt.Errorf("column %s: constant %s not found", key, id.Name)
			}
		}
		switch key {
		case "Name":
			c.Name = s
		case "Type":
			c.Type = s
		case "JSONPath":
			c.JSONPath = s
		case "Description":
			c.Description = s
		case "Format":
			c.Format = s
		default:
			return c, fmt.Errorf("column field %s not understood", key)
		}
	}
	if c.Name == "" || c.JSONPath == "" || c.Type == "" {
		return c, fmt.Errorf("column without name, type or JSONPath")
	}
	return c, nil
}

// upstreamSet names a source's CRD files: schemas/crds/<set>/<group>_<plural>.yaml.
func upstreamFile(set string, c *apiextensionsv1.CustomResourceDefinition) string {
	return set + "/" + c.Spec.Group + "_" + c.Spec.Names.Plural + ".yaml"
}

// upstreamEntries lists the upstream CRD files of every source, in order, for the table of
// schemas/crds; it needs no download.
func upstreamEntries() []upstreamEntry {
	var out []upstreamEntry
	add := func(s Source, kinds []upstreamKind) {
		for _, k := range kinds {
			out = append(out, upstreamEntry{Set: s.Set, Kind: k.Kind, File: s.Set + "/" + k.Group + "_" + k.Plural + ".yaml",
				ShippedBy: k.ShippedBy, CreatedBy: k.CreatedBy})
		}
	}
	for _, s := range KubeVirtSources {
		add(s, kubevirtKinds)
	}
	for _, s := range CDISources {
		add(s, cdiKinds)
	}
	return out
}
