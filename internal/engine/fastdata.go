package engine

import (
	"sort"
	"sync"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// dkind is the kind of a data value.
type dkind uint8

const (
	dStruct dkind = iota
	dList
	dString
	dInt
	dFloat
	dBool
	dNull
)

// kindName is CUE's name of each kind, as its error messages write it.
var kindName = [...]string{dStruct: "struct", dList: "list", dString: "string", dInt: "int", dFloat: "float", dBool: "bool", dNull: "null"}

// dnode is a literal value as written in a file, with where it was written: the compact form both the
// data reader and the syntax tree are read into.
type dnode struct {
	kind dkind
	neg  bool // a number written with a minus
	b    bool // a bool's value
	file int32
	// label is the offset of the field's label, -1 for a list element.
	label int32
	// off is the offset where the value starts (for a struct written without braces, its first
	// field's label; for a negative number, the minus).
	off int32
	// name is the field's label, unquoted.
	name string
	// text is a number's literal (without its sign) or a string's value.
	text string
	// kids are a struct's fields or a list's elements.
	kids []dnode
}

// dfile is a file the fast path read.
type dfile struct {
	abs  string
	rel  string // as positions name it
	data []byte

	once  sync.Once
	lines []int // offsets where lines start
}

// lineCol converts an offset to a 1-based line and byte column, as token positions do.
func (f *dfile) lineCol(off int32) (int, int) {
	f.once.Do(func() {
		f.lines = []int{0}
		for i, c := range f.data {
			if c == '\n' {
				f.lines = append(f.lines, i+1)
			}
		}
	})
	o := int(off)
	i := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > o }) - 1
	return i + 1, o - f.lines[i] + 1
}

// dataReader reads a file in the pure-data subset of CUE: the package clause, comments, and fields
// whose values are struct, list and basic literals. It is strict: whatever it does not know for
// certain to mean in CUE what it means here, it refuses, and the file is read by the CUE parser.
type dataReader struct {
	src  []byte
	i    int
	file int32
	bad  bool
	// stack holds the children of the structs and lists being read (each gets an exact-size copy).
	stack []dnode
	// labels interns labels (a VM's labels repeat in every VM), with whether each is a regular
	// field's name.
	labels map[string]internedLabel
}

type internedLabel struct {
	name string
	ok   bool
}

// topDecl is a top-level field read by the data reader, with the bytes it spans (its separator
// included).
type topDecl struct {
	node       dnode
	start, end int
}

// readData reads a whole file; ok is false when the file is not in the subset.
func readData(src []byte, file int32) (decls []topDecl, ok bool) {
	r := &dataReader{src: src, file: file, labels: map[string]internedLabel{}}
	r.space(true)
	if !r.word("package") || !r.inlineSpace() || !r.word("fleet") {
		return nil, false
	}
	if !r.endOfLine() {
		return nil, false
	}
	for !r.bad {
		r.space(true)
		if r.i >= len(r.src) {
			break
		}
		start := r.i
		n := r.field()
		if r.bad {
			return nil, false
		}
		sep := r.separator(0)
		if r.bad {
			return nil, false
		}
		end := r.i
		if sep != ',' {
			end = int(n.end)
		}
		decls = append(decls, topDecl{node: n.dnode, start: start, end: end})
	}
	return decls, !r.bad
}

func (r *dataReader) fail() { r.bad = true }

func (r *dataReader) peek() byte {
	if r.i < len(r.src) {
		return r.src[r.i]
	}
	return 0
}

// space skips blanks and comments, newlines too if asked.
func (r *dataReader) space(newlines bool) {
	for r.i < len(r.src) {
		switch c := r.src[r.i]; {
		case c == ' ' || c == '\t':
			r.i++
		case c == '\n' && newlines:
			r.i++
		case c == '/' && r.i+1 < len(r.src) && r.src[r.i+1] == '/':
			for r.i < len(r.src) && r.src[r.i] != '\n' {
				r.i++
			}
		default:
			return
		}
	}
}

// inlineSpace skips at least one blank.
func (r *dataReader) inlineSpace() bool {
	start := r.i
	for r.i < len(r.src) && (r.src[r.i] == ' ' || r.src[r.i] == '\t') {
		r.i++
	}
	return r.i > start
}

// endOfLine accepts blanks, a comment, and a newline (or the end of the file).
func (r *dataReader) endOfLine() bool {
	r.space(false)
	if r.i >= len(r.src) {
		return true
	}
	if r.src[r.i] != '\n' {
		return false
	}
	r.i++
	return true
}

func (r *dataReader) word(w string) bool {
	if r.i+len(w) > len(r.src) || string(r.src[r.i:r.i+len(w)]) != w {
		return false
	}
	if r.i+len(w) < len(r.src) && isIdentByte(r.src[r.i+len(w)]) {
		return false
	}
	r.i += len(w)
	return true
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c == '#' || c >= 0x80 ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// separator reads what follows an element: a comma, a newline (a comma in CUE), or the closing
// bracket (not consumed). It returns the comma, the newline, or the closer.
func (r *dataReader) separator(closer byte) byte {
	r.space(false)
	if r.i >= len(r.src) {
		if closer != 0 {
			r.fail()
		}
		return 0
	}
	switch c := r.src[r.i]; {
	case c == ',':
		r.i++
		return ','
	case c == '\n':
		// CUE drops the comma a newline stands for when a ',' or ':' follows; refuse that layout.
		j := r.i
		r.space(true)
		if c := r.peek(); c == ',' || c == ':' {
			r.fail()
		}
		r.i = j
		return '\n'
	case c == closer && closer != 0:
		return c
	}
	r.fail()
	return 0
}

// fieldNode is a field as read, with the end of its value.
type fieldNode struct {
	dnode
	end int32
}

// field reads `label: value`.
func (r *dataReader) field() fieldNode {
	labelAt := r.i
	name, ok := r.label()
	if !ok {
		r.fail()
		return fieldNode{}
	}
	r.inlineSpace()
	if r.peek() != ':' {
		r.fail()
		return fieldNode{}
	}
	r.i++
	r.space(true)
	v := r.value(true)
	v.name = name
	v.label = int32(labelAt)
	return fieldNode{dnode: v, end: int32(r.i)}
}

// label reads an identifier (a regular field's) or a single-line string.
func (r *dataReader) label() (string, bool) {
	c := r.peek()
	if c == '"' {
		if r.i+2 < len(r.src) && r.src[r.i+1] == '"' && r.src[r.i+2] == '"' {
			return "", false // a multi-line string is not a label
		}
		s, ok := r.str()
		return s, ok
	}
	if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '$') {
		return "", false // definitions, hidden fields, patterns, dynamic fields, ...
	}
	start := r.i
	for r.i < len(r.src) {
		c := r.src[r.i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_' || c == '$' {
			r.i++
			continue
		}
		if c == '#' || c >= 0x80 {
			return "", false
		}
		break
	}
	if l, ok := r.labels[string(r.src[start:r.i])]; ok {
		return l.name, l.ok
	}
	name := string(r.src[start:r.i])
	ok := token.Lookup(name) == token.IDENT && name != "package" && name != "import"
	r.labels[name] = internedLabel{name, ok}
	return name, ok
}

// value reads a value; with shorthand, `a: b: c` is a struct holding the field b.
func (r *dataReader) value(shorthand bool) dnode {
	at := int32(r.i)
	n := dnode{file: r.file, label: -1, off: at}
	switch c := r.peek(); {
	case c == '{':
		r.i++
		n.kind = dStruct
		mark := len(r.stack)
		for !r.bad {
			r.space(true)
			if r.peek() == '}' {
				r.i++
				break
			}
			f := r.field()
			if r.bad {
				break
			}
			r.stack = append(r.stack, f.dnode)
			r.separator('}')
		}
		n.kids = r.pop(mark)
	case c == '[':
		r.i++
		n.kind = dList
		mark := len(r.stack)
		for !r.bad {
			r.space(true)
			if r.peek() == ']' {
				r.i++
				break
			}
			v := r.value(false)
			if r.bad {
				break
			}
			r.stack = append(r.stack, v)
			r.separator(']')
		}
		n.kids = r.pop(mark)
	case c == '"':
		if r.i+2 < len(r.src) && r.src[r.i+1] == '"' && r.src[r.i+2] == '"' {
			s, ok := r.multiline()
			if !ok {
				r.fail()
				break
			}
			n.kind, n.text = dString, s
			break
		}
		s, ok := r.str()
		if !ok {
			r.fail()
			break
		}
		r.inlineSpace()
		if r.peek() == ':' {
			if !shorthand {
				r.fail()
				break
			}
			r.i = int(at)
			f := r.field()
			n.kind, n.kids = dStruct, []dnode{f.dnode}
			n.off = f.label
			break
		}
		n.kind, n.text = dString, s
	case c == '-':
		r.i++
		if c := r.peek(); c < '0' || c > '9' {
			r.fail()
			break
		}
		r.number(&n)
		n.neg = true
	case '0' <= c && c <= '9':
		r.number(&n)
	default:
		start := r.i
		name, ok := r.label()
		if !ok {
			// true, false and null are refused as labels, not as values.
			r.i = start
			switch {
			case r.word("true"):
				n.kind, n.b = dBool, true
			case r.word("false"):
				n.kind = dBool
			case r.word("null"):
				n.kind = dNull
			default:
				r.fail()
			}
			break
		}
		_ = name
		r.inlineSpace()
		if !shorthand || r.peek() != ':' {
			r.fail() // a reference
			break
		}
		r.i = start
		f := r.field()
		n.kind, n.kids = dStruct, []dnode{f.dnode}
		n.off = f.label
	}
	return n
}

// pop takes the children read since mark off the stack.
func (r *dataReader) pop(mark int) []dnode {
	if len(r.stack) == mark {
		return nil
	}
	kids := make([]dnode, len(r.stack)-mark)
	copy(kids, r.stack[mark:])
	clear(r.stack[mark:])
	r.stack = r.stack[:mark]
	return kids
}

// number reads a decimal integer or a decimal float (other notations are left to the CUE parser).
func (r *dataReader) number(n *dnode) {
	start := r.i
	digits := func() int {
		s := r.i
		for r.i < len(r.src) && '0' <= r.src[r.i] && r.src[r.i] <= '9' {
			r.i++
		}
		return r.i - s
	}
	d := digits()
	n.kind = dInt
	if d > 1 && r.src[start] == '0' {
		r.fail() // a leading zero
		return
	}
	if r.peek() == '.' {
		r.i++
		if digits() == 0 {
			r.fail()
			return
		}
		n.kind = dFloat
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.i++
		if c := r.peek(); c == '+' || c == '-' {
			r.i++
		}
		if digits() == 0 {
			r.fail()
			return
		}
		n.kind = dFloat
	}
	if r.i < len(r.src) && (isIdentByte(r.src[r.i]) || r.src[r.i] == '.') {
		r.fail() // a multiplier, a separator, another base: the CUE parser's business
		return
	}
	n.text = string(r.src[start:r.i])
}

// str reads a single-line double-quoted string without interpolation.
func (r *dataReader) str() (string, bool) {
	start := r.i
	r.i++
	escaped := false
	for r.i < len(r.src) {
		switch c := r.src[r.i]; c {
		case '\\':
			if r.i+1 < len(r.src) && r.src[r.i+1] == '(' {
				return "", false // interpolation
			}
			escaped = true
			r.i += 2
			continue
		case '\n':
			return "", false
		case '"':
			r.i++
			raw := r.src[start:r.i]
			if !escaped {
				return string(raw[1 : len(raw)-1]), true
			}
			s, err := literal.Unquote(string(raw))
			if err != nil || !utf8.ValidString(s) {
				return "", false
			}
			return s, true
		default:
			if c < 0x20 || c == 0x7f {
				escaped = true // let CUE's unquoting judge control characters
			}
		}
		r.i++
	}
	return "", false
}

// multiline reads a """ string; CUE's own unquoting checks its layout.
func (r *dataReader) multiline() (string, bool) {
	start := r.i
	r.i += 3
	for r.i < len(r.src) {
		switch r.src[r.i] {
		case '\\':
			if r.i+1 < len(r.src) && r.src[r.i+1] == '(' {
				return "", false
			}
			r.i += 2
			continue
		case '"':
			if r.i+2 < len(r.src) && r.src[r.i+1] == '"' && r.src[r.i+2] == '"' {
				r.i += 3
				if r.peek() == '"' {
					return "", false
				}
				s, err := literal.Unquote(string(r.src[start:r.i]))
				if err != nil || !utf8.ValidString(s) {
					return "", false
				}
				return s, true
			}
		}
		r.i++
	}
	return "", false
}

// fromAST converts a value of the syntax tree; ok is false for anything but data.
func fromAST(x ast.Expr, file int32) (dnode, bool) {
	n := dnode{file: file, label: -1, off: int32(x.Pos().Offset())}
	switch x := x.(type) {
	case *ast.StructLit:
		n.kind = dStruct
		n.kids = make([]dnode, 0, len(x.Elts))
		for _, el := range x.Elts {
			f, ok := el.(*ast.Field)
			if !ok {
				return n, false
			}
			k, ok := fieldFromAST(f, file)
			if !ok {
				return n, false
			}
			n.kids = append(n.kids, k)
		}
		return n, true
	case *ast.ListLit:
		n.kind = dList
		n.kids = make([]dnode, 0, len(x.Elts))
		for _, el := range x.Elts {
			k, ok := fromAST(el, file)
			if !ok {
				return n, false
			}
			n.kids = append(n.kids, k)
		}
		return n, true
	case *ast.UnaryExpr:
		lit, ok := x.X.(*ast.BasicLit)
		if !ok || x.Op != token.SUB || (lit.Kind != token.INT && lit.Kind != token.FLOAT) {
			return n, false
		}
		k, ok := fromAST(lit, file)
		k.neg, k.off = true, n.off
		return k, ok
	case *ast.BasicLit:
		switch x.Kind {
		case token.INT, token.FLOAT:
			var info literal.NumInfo
			if literal.ParseNum(x.Value, &info) != nil {
				return n, false
			}
			n.kind, n.text = dFloat, x.Value
			if info.IsInt() {
				n.kind = dInt
			}
		case token.STRING:
			q, k, _, err := literal.ParseQuotes(x.Value, x.Value)
			if err != nil || !q.IsDouble() {
				return n, false
			}
			s, err := q.Unquote(x.Value[k:])
			if err != nil || !utf8.ValidString(s) {
				return n, false
			}
			n.kind, n.text = dString, s
		case token.TRUE, token.FALSE:
			n.kind, n.b = dBool, x.Kind == token.TRUE
		case token.NULL:
			n.kind = dNull
		default:
			return n, false
		}
		return n, true
	}
	return n, false
}

// fieldFromAST converts a field of the syntax tree.
func fieldFromAST(f *ast.Field, file int32) (dnode, bool) {
	name, ok := dataLabel(f)
	if !ok {
		return dnode{}, false
	}
	n, ok := fromAST(f.Value, file)
	n.name, n.label = name, int32(f.Pos().Offset())
	return n, ok
}
