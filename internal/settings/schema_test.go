package settings_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// schemas loads the embedded CUE schemas (the one source of the settings' shape).
func schemas(t *testing.T) cue.Value {
	t.Helper()
	inst, err := engine.LoadEmbedded("./schemas")
	require.NoError(t, err)
	v := cuecontext.New().BuildInstance(inst)
	require.NoError(t, v.Err())
	return v
}

// TestTypesMatchSchema walks #Settings and #Stack of the embedded schemas and the Go types side by
// side: every CUE field (optional and required ones, every #Network type's) has a Go field of its
// name and kind, and every Go field a CUE field. A field added to the schema fails here until Go
// has it.
func TestTypesMatchSchema(t *testing.T) {
	s := schemas(t)
	for _, tc := range []struct {
		def string
		typ reflect.Type
	}{
		{"#Settings", reflect.TypeFor[settings.Settings]()},
		{"#Stack", reflect.TypeFor[settings.Stack]()},
	} {
		t.Run(tc.def, func(t *testing.T) {
			v := s.LookupPath(cue.ParsePath(tc.def))
			require.NoError(t, v.Err())
			var problems []string
			compare(v, tc.typ, tc.def, &problems)
			require.Empty(t, problems)
		})
	}
}

// TestCompareFindsDifferences proves the walk fails in both directions and on a kind.
func TestCompareFindsDifferences(t *testing.T) {
	ctx := cuecontext.New()
	v := ctx.CompileString(`#X: {a?: string, b!: int, c?: [...bool]}`).LookupPath(cue.ParsePath("#X"))
	type X struct {
		A string `json:"a"`
		C []int  `json:"c"`
		D string `json:"d"`
	}
	var problems []string
	compare(v, reflect.TypeFor[X](), "#X", &problems)
	require.Equal(t, []string{
		"#X.b: in CUE, not in Go (settings_test.X)",
		"#X.c.*: CUE bool, Go int",
		"#X.d: in Go (settings_test.X.D), not in CUE",
	}, problems)
}

var anyType = reflect.TypeFor[any]()

// at is a value of the schema as the root holds it: a pattern's value ([Name=#Name]: #Network) and a
// discriminator's branch exist only once the root has a key or a value there (FillPath), so the walk
// keeps the root it filled and the path into it.
type at struct {
	root cue.Value
	path []cue.Selector
}

func (a at) value() cue.Value { return a.root.LookupPath(cue.MakePath(a.path...)) }

func (a at) child(s cue.Selector) at {
	return at{root: a.root, path: append(a.path[:len(a.path):len(a.path)], s)}
}

// fill sets the value at sel below a in the root.
func (a at) fill(sel cue.Selector, x any) at {
	c := a.child(sel)
	return at{root: a.root.FillPath(cue.MakePath(c.path...), x), path: c.path}
}

func compare(v cue.Value, typ reflect.Type, name string, problems *[]string) {
	walkType(at{root: v}, typ, name, problems)
}

func walkType(a at, typ reflect.Type, path string, problems *[]string) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	v := a.value()
	kind := v.IncompleteKind()
	if typ == reflect.TypeFor[settings.VLAN]() {
		// #VLANID | #VLANRange: a number or a string.
		if kind != cue.IntKind|cue.StringKind {
			*problems = append(*problems, path+": CUE "+kind.String()+", Go VLAN (int | string)")
		}
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		if kind != cue.StructKind {
			*problems = append(*problems, path+": CUE "+kind.String()+", Go struct "+typ.String())
			return
		}
		cueFields := fieldsOf(a)
		goFields := map[string]reflect.StructField{}
		for _, f := range reflect.VisibleFields(typ) {
			if name := settings.JSONName(f); name != "" {
				goFields[name] = f
			}
		}
		var names []string
		for n := range cueFields {
			names = append(names, n)
		}
		for n := range goFields {
			if _, ok := cueFields[n]; !ok {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			cf, inCUE := cueFields[n]
			gf, inGo := goFields[n]
			switch {
			case !inGo:
				*problems = append(*problems, path+"."+n+": in CUE, not in Go ("+typ.String()+")")
			case !inCUE:
				*problems = append(*problems, path+"."+n+": in Go ("+typ.String()+"."+gf.Name+"), not in CUE")
			default:
				walkType(cf, gf.Type, path+"."+n, problems)
			}
		}
	case reflect.Map:
		if kind != cue.StructKind {
			*problems = append(*problems, path+": CUE "+kind.String()+", Go map "+typ.String())
			return
		}
		if typ.Elem() == anyType {
			return // an open struct ({...}) as written
		}
		// The value a key takes: through a key of top ("x" is a #Name too).
		elem := a.fill(cue.Str("x"), cuecontext.New().CompileString("_"))
		if !elem.value().Exists() {
			*problems = append(*problems, path+": CUE has no pattern for the keys of Go "+typ.String())
			return
		}
		walkType(elem, typ.Elem(), path+".*", problems)
	case reflect.Slice:
		if kind != cue.ListKind {
			*problems = append(*problems, path+": CUE "+kind.String()+", Go "+typ.String())
			return
		}
		walkType(at{root: v.LookupPath(cue.MakePath(cue.AnyIndex))}, typ.Elem(), path+".*", problems)
	default:
		want := map[reflect.Kind]cue.Kind{
			reflect.String: cue.StringKind, reflect.Bool: cue.BoolKind,
			reflect.Int64: cue.IntKind, reflect.Float64: cue.NumberKind,
		}[typ.Kind()]
		if kind != want {
			*problems = append(*problems, path+": CUE "+kind.String()+", Go "+typ.Kind().String())
		}
	}
}

// fieldsOf lists a struct's regular, optional and required fields. A struct whose fields depend on
// a discriminator (#Network's `if type == ...`) lists the fields of every value the discriminator
// takes, and of every value of a nested one (OVN's topology).
func fieldsOf(a at) map[string]at {
	out := map[string]at{}
	seen := map[string]bool{}
	var walk func(a at)
	walk = func(a at) {
		v := a.value()
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return
		}
		var names []string
		discriminators := map[string]cue.Value{}
		for it.Next() {
			name := it.Selector().Unquoted()
			names = append(names, name)
			if _, ok := out[name]; !ok {
				out[name] = a.child(it.Selector())
			}
			if name == "type" || name == "topology" {
				discriminators[name] = it.Value()
			}
		}
		sort.Strings(names)
		if seen[strings.Join(names, ",")] {
			return
		}
		seen[strings.Join(names, ",")] = true
		for name, f := range discriminators {
			for _, alt := range alternatives(f) {
				// Filled by its plain name: a required field's selector (topology!) fills nothing.
				walk(a.fill(cue.Str(name), alt).parent())
			}
		}
	}
	walk(a)
	return out
}

func (a at) parent() at { return at{root: a.root, path: a.path[:len(a.path)-1]} }

// alternatives are the strings a disjunction of strings allows.
func alternatives(f cue.Value) []string {
	op, args := f.Expr()
	if op != cue.OrOp {
		return nil
	}
	var out []string
	for _, a := range args {
		if s, err := a.String(); err == nil {
			out = append(out, s)
		}
	}
	return out
}
