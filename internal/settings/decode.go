package settings

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// Resolved are a cluster's settings with where each was written.
type Resolved struct {
	Settings
	pos func(path ...string) (diag.Position, bool)
}

// Decode reads a cluster's merged settings (maps, slices and scalars as the engine decodes CUE) into
// the typed settings; pos says where the setting at a path was written. A value of another type than
// the schema's is left out (its error is CUE's to report, and a finding must not hide the rest),
// and fields the schema does not have are ignored; err names the first such value.
func Decode(merged map[string]any, pos func(path ...string) (diag.Position, bool)) (*Resolved, error) {
	r := &Resolved{pos: pos}
	err := decodeInto(reflect.ValueOf(&r.Settings).Elem(), merged, nil)
	return r, err
}

// Pos returns where the setting at path was written (a file of the fleet), and whether any layer
// of the cluster's settings set it: the built-in defaults have no position.
func (r *Resolved) Pos(path ...string) (diag.Position, bool) {
	if r == nil || r.pos == nil {
		return diag.Position{}, false
	}
	return r.pos(path...)
}

// anyDecoder is a type that reads itself from a decoded value (a disjunction of kinds, say).
type anyDecoder interface{ decodeAny(x any) bool }

var anyDecoderType = reflect.TypeFor[anyDecoder]()

// decodeInto sets dst from x, field by field by JSON name, and returns the first value it left out.
func decodeInto(dst reflect.Value, x any, path *step) error {
	if x == nil {
		return nil
	}
	if dst.CanAddr() && dst.Addr().Type().Implements(anyDecoderType) {
		if !dst.Addr().Interface().(anyDecoder).decodeAny(x) {
			return mismatch(path, x, dst.Type())
		}
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		v := reflect.New(dst.Type().Elem())
		if err := decodeInto(v.Elem(), x, path); err != nil {
			return err
		}
		dst.Set(v)
		return nil
	case reflect.Struct:
		m, ok := x.(map[string]any)
		if !ok {
			return mismatch(path, x, dst.Type())
		}
		var first error
		for _, f := range fieldsOf(dst.Type()) {
			if fx, set := m[f.name]; set {
				if err := decodeInto(dst.FieldByIndex(f.index), fx, &step{path, f.name}); err != nil && first == nil {
					first = err
				}
			}
		}
		return first
	case reflect.Map:
		m, ok := x.(map[string]any)
		if !ok {
			return mismatch(path, x, dst.Type())
		}
		out := reflect.MakeMapWithSize(dst.Type(), len(m))
		var first error
		for k, vx := range m {
			v := reflect.New(dst.Type().Elem()).Elem()
			if err := decodeInto(v, vx, &step{path, k}); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			out.SetMapIndex(reflect.ValueOf(k), v)
		}
		dst.Set(out)
		return first
	case reflect.Slice:
		l, ok := x.([]any)
		if !ok {
			return mismatch(path, x, dst.Type())
		}
		out := reflect.MakeSlice(dst.Type(), 0, len(l))
		var first error
		for i, ex := range l {
			v := reflect.New(dst.Type().Elem()).Elem()
			if err := decodeInto(v, ex, &step{path, strconv.Itoa(i)}); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			out = reflect.Append(out, v)
		}
		dst.Set(out)
		return first
	case reflect.Interface:
		dst.Set(reflect.ValueOf(x))
		return nil
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return mismatch(path, x, dst.Type())
		}
		dst.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return mismatch(path, x, dst.Type())
		}
		dst.SetBool(b)
		return nil
	case reflect.Int64:
		n, ok := number(x)
		if !ok || n != float64(int64(n)) {
			return mismatch(path, x, dst.Type())
		}
		dst.SetInt(int64(n))
		return nil
	case reflect.Float64:
		n, ok := number(x)
		if !ok {
			return mismatch(path, x, dst.Type())
		}
		dst.SetFloat(n)
		return nil
	}
	return fmt.Errorf("settings: no decoding into %s", dst.Type())
}

// field is a struct field by its JSON name.
type field struct {
	name  string
	index []int
}

var fieldCache sync.Map // reflect.Type -> []field

// fieldsOf lists a struct type's fields by JSON name (an embedded struct's as its parent's), once.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for _, f := range reflect.VisibleFields(t) {
		if name := JSONName(f); name != "" {
			fs = append(fs, field{name: name, index: f.Index})
		}
	}
	fieldCache.Store(t, fs)
	return fs
}

// step is the path to a value being decoded, built only when a value is left out.
type step struct {
	parent *step
	name   string
}

func (s *step) String() string {
	if s == nil {
		return ""
	}
	if s.parent == nil {
		return s.name
	}
	return s.parent.String() + "." + s.name
}

func mismatch(path *step, x any, t reflect.Type) error {
	return fmt.Errorf("settings: %s: %T is not %s", path, x, t)
}

// number reads the numbers a decoded CUE or JSON value holds.
func number(x any) (float64, bool) {
	switch n := x.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// JSONName is the name a struct field has in CUE and JSON ("" for an embedded struct, whose fields
// are its parent's, and for a field without a json tag).
func JSONName(f reflect.StructField) string {
	if f.Anonymous {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}
