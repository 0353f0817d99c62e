package engine

import (
	"strconv"
	"sync"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
	"github.com/cockroachdb/apd/v3"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// fastVM reads one VM, written once, from its syntax; the reason is non-empty when the general path
// is needed. With the canonical constraint, the VM gets what #NamedVirtualMachine gives plain data:
// the fields of the light #VirtualMachine (their kinds read from it), and metadata.name from the key.
func (e *Engine) fastVM(key string, v any, general *generalVMs) (*VM, string) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "not a struct"
	}
	vm := &VM{Object: obj, Key: key, Pos: general.pos(key), LazyPos: true}
	fr := e.fast
	if !fr.canonical {
		return vm, ""
	}
	vm.File = fr.rootFile
	for k, x := range obj {
		kind, ok := fr.vmFields[k]
		if !ok || kind&kindOf(x) == 0 {
			return nil, "a field the VM schema does not allow, or of another kind"
		}
	}
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	if n, ok := md["name"]; !ok {
		md["name"] = key
	} else if n != key {
		return nil, "metadata.name is not the key"
	}
	return vm, ""
}

// kindOf is the CUE kind of a Go value dataValue returns.
func kindOf(v any) cue.Kind {
	switch v.(type) {
	case map[string]any:
		return cue.StructKind
	case []any:
		return cue.ListKind
	case string:
		return cue.StringKind
	case float64:
		return cue.NumberKind
	case bool:
		return cue.BoolKind
	}
	return cue.NullKind
}

// dataValue converts plain data (struct, list and basic literals, each field written once) into the
// Go values JSON decoding of the CUE value gives (maps, slices, strings, float64, bools, nil); false
// for anything else.
func dataValue(x ast.Expr) (any, bool) {
	switch x := x.(type) {
	case *ast.StructLit:
		m := make(map[string]any, len(x.Elts))
		for _, el := range x.Elts {
			f, ok := el.(*ast.Field)
			if !ok {
				return nil, false
			}
			name, ok := dataLabel(f)
			if _, dup := m[name]; !ok || dup {
				return nil, false
			}
			if m[name], ok = dataValue(f.Value); !ok {
				return nil, false
			}
		}
		return m, true
	case *ast.ListLit:
		l := make([]any, len(x.Elts))
		for i, el := range x.Elts {
			var ok bool
			if l[i], ok = dataValue(el); !ok {
				return nil, false
			}
		}
		return l, true
	case *ast.UnaryExpr:
		if b, ok := x.X.(*ast.BasicLit); ok && x.Op == token.SUB && (b.Kind == token.INT || b.Kind == token.FLOAT) {
			return number(b.Value, true)
		}
	case *ast.BasicLit:
		switch x.Kind {
		case token.INT, token.FLOAT:
			return number(x.Value, false)
		case token.TRUE, token.FALSE:
			return x.Kind == token.TRUE, true
		case token.NULL:
			return nil, true
		case token.STRING:
			return unquote(x.Value)
		}
	}
	return nil, false
}

// unquote reads a string literal (not bytes) as valid UTF-8.
func unquote(lit string) (any, bool) {
	q, n, _, err := literal.ParseQuotes(lit, lit)
	if err != nil || !q.IsDouble() {
		return nil, false
	}
	s, err := q.Unquote(lit[n:])
	if err != nil || !utf8.ValidString(s) {
		return nil, false
	}
	return s, true
}

// number converts a number literal to the float64 that JSON decoding of CUE's value gives.
func number(text string, neg bool) (any, bool) {
	if len(text) < 16 && plainInt(text) {
		f, err := strconv.ParseFloat(text, 64)
		if neg {
			f = -f
		}
		return f, err == nil
	}
	var info literal.NumInfo
	if err := literal.ParseNum(text, &info); err != nil {
		return nil, false
	}
	var d apd.Decimal
	if err := info.Decimal(&d); err != nil {
		return nil, false
	}
	if neg {
		d.Neg(&d)
	}
	f, err := strconv.ParseFloat(d.String(), 64)
	return f, err == nil
}

// plainInt reports whether a literal is a decimal integer without separators or multiplier.
func plainInt(s string) bool {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// generalVMs are a fast-path cluster's VMs as the general path evaluates them, for their positions:
// the cluster is evaluated on the first Pos of any of its VMs (which only findings ask for).
type generalVMs struct {
	e     *Engine
	files []string

	once sync.Once
	mu   sync.Mutex // CUE values are not safe for concurrent use
	vms  map[string]cue.Value
	idx  map[string]*fieldIndex
}

// pos answers VM.Pos for the VM key as the general path does.
func (g *generalVMs) pos(key string) func(path ...string) diag.Position {
	return func(path ...string) diag.Position {
		g.once.Do(g.evaluate)
		g.mu.Lock()
		defer g.mu.Unlock()
		v, ok := g.vms[key]
		if !ok {
			return diag.Position{}
		}
		return g.e.valuePos(v, g.idx[key], path)
	}
}

func (g *generalVMs) evaluate() {
	g.e.posEvaluations.Add(1)
	g.vms, g.idx = map[string]cue.Value{}, map[string]*fieldIndex{}
	v, _ := g.e.build(cuecontext.New(), g.files, g.e.overlay)
	it, err := v.LookupPath(cue.ParsePath("vms")).Fields()
	if err != nil {
		return
	}
	for it.Next() {
		key := it.Selector().Unquoted()
		g.vms[key], g.idx[key] = it.Value(), &fieldIndex{}
	}
}
