// Package apischema turns the Go API types of KubeVirt, CDI, Multus and the CSI snapshotter into one
// schema model, by reflection, and writes that model out twice: as closed CUE definitions
// (schemas/kubevirt, schemas/cdi) and as structural OpenAPI v3 schemas inside CustomResourceDefinitions
// (schemas/crds). hack/gen-schemas is its command; the package's tests check that the files in the
// tree are what the generator produces now.
//
// Reflection sees what encoding/json sees: json tags, embedded structs flattened the way encoding/json
// flattens them, pointers, slices and maps. It does not see custom UnmarshalJSON methods, which is the
// point: VirtualMachineInstanceSpec has one, and `cue get go` gives up on it. A type whose JSON form is
// not its Go shape (metav1.Time, resource.Quantity, ...) must be listed in specialTypes; an unlisted type
// with its own JSON methods stops the generator, so a new one upstream cannot slip through as a wrong
// schema.
package apischema

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Kind is the JSON shape of a schema node.
type Kind int

const (
	KindString Kind = iota
	KindInt
	KindNumber
	KindBool
	KindStruct      // a Go struct: Type.Def
	KindList        // Type.Elem
	KindMap         // string keys, Type.Elem values
	KindAny         // any JSON value
	KindObject      // any JSON object (runtime.RawExtension, metav1.FieldsV1)
	KindIntOrString // intstr.IntOrString
	KindQuantity    // resource.Quantity: a number or a string in quantity syntax
)

// Type is one node of the model.
type Type struct {
	Kind   Kind
	Format string // OpenAPI format: int32, int64, date-time, byte, ...
	Elem   *Type  // KindList, KindMap
	Def    *Def   // KindStruct
	// Go is the Go type the node was made from (nil for synthesised nodes).
	Go reflect.Type
	// nullOnZero: the Go value marshals to null when it is zero (metav1.Time), whatever the tag says.
	nullOnZero bool
}

// Field is one JSON field of a struct.
type Field struct {
	Name     string
	Type     *Type
	Required bool
	// Nullable: Go's encoding/json can write null here (a nil pointer, slice or map without omitempty,
	// a zero metav1.Time). Required fields are never nullable.
	Nullable bool
	// Const pins a string field to one value (apiVersion and kind of a top-level kind).
	Const string
}

// Def is the schema of one Go struct type.
type Def struct {
	Go     reflect.Type
	Fields []*Field
}

// ID names the Go type: import path and type name.
func (d *Def) ID() string { return d.Go.PkgPath() + "." + d.Go.Name() }

// Field returns the field with that JSON name, or nil.
func (d *Def) Field(name string) *Field {
	for _, f := range d.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Model is every Go struct type reached from the kinds, each once.
type Model struct {
	Defs map[reflect.Type]*Def
}

var (
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// customJSON reports whether t (or *t) changes its JSON form with its own methods.
func customJSON(t reflect.Type) bool {
	for _, x := range []reflect.Type{t, reflect.PointerTo(t)} {
		if x.Implements(jsonMarshaler) || x.Implements(jsonUnmarshaler) ||
			x.Implements(textMarshaler) || x.Implements(textUnmarshaler) {
			return true
		}
	}
	return false
}

// builder walks Go types into a Model.
type builder struct {
	cfg   *config
	model *Model
}

func newModel(cfg *config) (*Model, error) {
	b := &builder{cfg: cfg, model: &Model{Defs: map[reflect.Type]*Def{}}}
	for _, k := range cfg.kinds {
		if _, err := b.typeOf(k.Go); err != nil {
			return nil, fmt.Errorf("%s: %w", k.Kind, err)
		}
	}
	if err := b.applyRequired(); err != nil {
		return nil, err
	}
	if err := b.pinKinds(); err != nil {
		return nil, err
	}
	return b.model, nil
}

func (b *builder) typeOf(t reflect.Type) (*Type, error) {
	if s, ok := b.cfg.special[t]; ok {
		c := *s
		c.Go = t
		return &c, nil
	}
	if t.Kind() == reflect.Pointer {
		return b.typeOf(t.Elem())
	}
	if customJSON(t) && !b.cfg.sameShapeJSON[t] {
		return nil, fmt.Errorf("%s has its own JSON (un)marshalling: list it in specialTypes, or in sameShapeJSON if its JSON keeps the Go shape", t)
	}
	switch t.Kind() {
	case reflect.String:
		return &Type{Kind: KindString, Go: t}, nil
	case reflect.Bool:
		return &Type{Kind: KindBool, Go: t}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &Type{Kind: KindInt, Format: intFormat(t.Kind()), Go: t}, nil
	case reflect.Float32, reflect.Float64:
		return &Type{Kind: KindNumber, Format: map[reflect.Kind]string{reflect.Float32: "float", reflect.Float64: "double"}[t.Kind()], Go: t}, nil
	case reflect.Interface:
		return &Type{Kind: KindAny, Go: t}, nil
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return &Type{Kind: KindString, Format: "byte", Go: t}, nil // encoding/json: base64
		}
		e, err := b.typeOf(t.Elem())
		if err != nil {
			return nil, err
		}
		return &Type{Kind: KindList, Elem: e, Go: t}, nil
	case reflect.Map:
		if k := t.Key().Kind(); k != reflect.String {
			return nil, fmt.Errorf("%s: map key kind %s is not a JSON object key", t, k)
		}
		e, err := b.typeOf(t.Elem())
		if err != nil {
			return nil, err
		}
		return &Type{Kind: KindMap, Elem: e, Go: t}, nil
	case reflect.Struct:
		d, err := b.def(t)
		if err != nil {
			return nil, err
		}
		return &Type{Kind: KindStruct, Def: d, Go: t}, nil
	}
	return nil, fmt.Errorf("%s: no JSON form for Go kind %s", t, t.Kind())
}

func intFormat(k reflect.Kind) string {
	switch k {
	case reflect.Int32, reflect.Uint32, reflect.Int16, reflect.Uint16, reflect.Int8, reflect.Uint8:
		return "int32"
	}
	return "int64"
}

func (b *builder) def(t reflect.Type) (*Def, error) {
	if d, ok := b.model.Defs[t]; ok {
		return d, nil
	}
	if t.Name() == "" {
		return nil, fmt.Errorf("anonymous struct type %s: give it a name upstream or a special type here", t)
	}
	d := &Def{Go: t}
	b.model.Defs[t] = d // before the fields: recursive types end here
	for _, jf := range jsonFields(t) {
		ft, err := b.typeOf(jf.typ)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name(), jf.name, err)
		}
		if jf.asString {
			switch ft.Kind {
			case KindInt, KindNumber, KindBool:
				ft = &Type{Kind: KindString, Go: jf.typ}
			}
		}
		// A zero metav1.Time marshals to null. k8s.io/apimachinery now tags creationTimestamp omitzero,
		// but manifests written by older clients (virtctl, kubectl) carry creationTimestamp: null.
		nullable := ft.nullOnZero
		switch jf.typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			nullable = nullable || !(jf.omitEmpty || jf.omitZero)
		}
		d.Fields = append(d.Fields, &Field{Name: jf.name, Type: ft, Nullable: nullable})
	}
	return d, nil
}

// applyRequired marks the configured required fields; a name that no longer exists is an error, so
// the list cannot rot silently when upstream renames a field.
func (b *builder) applyRequired() error {
	for _, r := range b.cfg.required {
		d, ok := b.model.Defs[r.Go]
		if !ok {
			return fmt.Errorf("required %s.%s: type not reached from any kind", r.Go, r.Field)
		}
		f := d.Field(r.Field)
		if f == nil {
			return fmt.Errorf("required %s.%s: no such JSON field", r.Go, r.Field)
		}
		f.Required, f.Nullable = true, false
	}
	return nil
}

func (b *builder) pinKinds() error {
	for _, k := range b.cfg.kinds {
		d := b.model.Defs[k.Go]
		for name, v := range map[string]string{"apiVersion": k.APIVersion(), "kind": k.Kind} {
			f := d.Field(name)
			if f == nil || f.Type.Kind != KindString {
				return fmt.Errorf("%s has no string field %q", k.Go, name)
			}
			f.Const = v
		}
	}
	return nil
}

// jsonField is one field as encoding/json sees it.
type jsonField struct {
	name                string
	typ                 reflect.Type
	index               []int
	tagged              bool
	omitEmpty, omitZero bool
	asString            bool
}

// jsonFields lists the JSON fields of struct type t in encoding/json's order, with embedded structs
// flattened and name conflicts resolved by its dominance rules (shallowest wins, then the tagged one;
// otherwise the name is dropped).
func jsonFields(t reflect.Type) []jsonField {
	type queued struct {
		t     reflect.Type
		index []int
	}
	var all []jsonField
	current, next := []queued{}, []queued{{t: t}}
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, current[:0]
		for _, q := range current {
			if visited[q.t] {
				continue
			}
			visited[q.t] = true
			for i := 0; i < q.t.NumField(); i++ {
				sf := q.t.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(append([]int{}, q.index...), i)
				ft := sf.Type
				if name == "" && sf.Anonymous {
					et := ft
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if et.Kind() == reflect.Struct {
						next = append(next, queued{t: et, index: index})
						continue
					}
				}
				jf := jsonField{name: name, typ: ft, index: index, tagged: name != ""}
				if name == "" {
					jf.name = sf.Name
				}
				for _, o := range strings.Split(opts, ",") {
					switch o {
					case "omitempty":
						jf.omitEmpty = true
					case "omitzero":
						jf.omitZero = true
					case "string":
						jf.asString = true
					}
				}
				all = append(all, jf)
			}
		}
	}
	// Dominance: group by name.
	byName := map[string][]jsonField{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	var out []jsonField
	for _, fs := range byName {
		sort.SliceStable(fs, func(i, j int) bool {
			if len(fs[i].index) != len(fs[j].index) {
				return len(fs[i].index) < len(fs[j].index)
			}
			return fs[i].tagged && !fs[j].tagged
		})
		if len(fs) > 1 && len(fs[0].index) == len(fs[1].index) && fs[0].tagged == fs[1].tagged {
			continue // ambiguous: encoding/json drops the name
		}
		out = append(out, fs[0])
	}
	// encoding/json's order: by index sequence.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].index, out[j].index
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
	return out
}
