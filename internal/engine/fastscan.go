package engine

import (
	"strings"

	"cuelang.org/go/cue/scanner"
	"cuelang.org/go/cue/token"
)

// scanData reads a file written as plain data — a package clause and fields whose values are struct,
// list and basic literals — from the tokens of CUE's own scanner, into the values dataValue gives
// the parser's syntax tree. It is the fast path's reader for the files that hold a cluster's VMs:
// BenchmarkReadVMs measures it against the parser (which also builds and resolves a syntax tree).
// Any other token, and the file is read by the parser instead (ok false).
func scanData(name string, src []byte) (decls []scannedDecl, ok bool) {
	r := &dataScanner{}
	r.s.Init(token.NewFile(name, -1, len(src)), src, func(token.Pos, string, []any) { r.bad = true }, 0)
	r.next()
	if r.tok == token.IDENT && r.lit == "package" {
		if r.next(); r.tok != token.IDENT || r.lit != "fleet" {
			return nil, false
		}
		r.next()
		r.separator(token.EOF)
	}
	for !r.bad && r.tok != token.EOF {
		d := scannedDecl{start: r.pos.Offset()}
		var name string
		name, d.value = r.field()
		d.vms = name == "vms"
		d.end = r.end
		if r.tok == token.COMMA && r.lit == "," {
			d.end = r.pos.Offset() + 1
		}
		r.separator(token.EOF)
		decls = append(decls, d)
	}
	return decls, !r.bad
}

// scannedDecl is a top-level field: its value, and the bytes it spans (an explicit comma after it
// included).
type scannedDecl struct {
	vms        bool
	value      any
	start, end int
}

type dataScanner struct {
	s   scanner.Scanner
	bad bool
	// the current token, and where the previous one ended
	pos token.Pos
	tok token.Token
	lit string
	end int
	// the token after the current one, when looked at
	ahead bool
	aPos  token.Pos
	aTok  token.Token
	aLit  string
}

func (r *dataScanner) next() {
	if r.pos.IsValid() {
		n := len(r.lit)
		if n == 0 {
			n = len(r.tok.String()) // an operator: `}`, `]`
		}
		r.end = r.pos.Offset() + n
	}
	if r.ahead {
		r.pos, r.tok, r.lit, r.ahead = r.aPos, r.aTok, r.aLit, false
		return
	}
	r.pos, r.tok, r.lit = r.s.Scan()
}

// peek returns the token after the current one.
func (r *dataScanner) peek() token.Token {
	if !r.ahead {
		r.aPos, r.aTok, r.aLit = r.s.Scan()
		r.ahead = true
	}
	return r.aTok
}

// separator consumes the comma after a field or element, unless closer follows.
func (r *dataScanner) separator(closer token.Token) {
	switch r.tok {
	case token.COMMA:
		r.next()
	case closer:
	default:
		r.bad = true
	}
}

// field reads `label: value`, where value may be a field itself (`a: b: 1`).
func (r *dataScanner) field() (string, any) {
	name, ok := r.label()
	if !ok {
		r.bad = true
		return "", nil
	}
	if r.next(); r.tok != token.COLON {
		r.bad = true
		return "", nil
	}
	r.next()
	if (r.tok == token.IDENT || r.tok == token.STRING) && r.peek() == token.COLON {
		k, v := r.field()
		return name, map[string]any{k: v}
	}
	return name, r.value()
}

// label is a regular field's name: an identifier or a double-quoted string.
func (r *dataScanner) label() (string, bool) {
	switch r.tok {
	case token.IDENT:
		return r.lit, r.lit[0] != '#' && r.lit[0] != '_'
	case token.STRING:
		if r.lit[0] != '"' || len(r.lit) > 2 && r.lit[1] == '"' {
			return "", false // bytes, raw or multi-line strings are not read as labels
		}
		s, ok := unquote(r.lit)
		str, _ := s.(string)
		return str, ok
	}
	return "", false
}

func (r *dataScanner) value() any {
	if r.bad {
		return nil
	}
	tok, lit := r.tok, r.lit
	r.next()
	switch tok {
	case token.LBRACE:
		m := map[string]any{}
		for !r.bad && r.tok != token.RBRACE {
			k, v := r.field()
			if _, dup := m[k]; dup {
				r.bad = true
			}
			m[k] = v
			r.separator(token.RBRACE)
		}
		r.next()
		return m
	case token.LBRACK:
		var l []any
		for !r.bad && r.tok != token.RBRACK {
			l = append(l, r.value())
			r.separator(token.RBRACK)
		}
		r.next()
		if l == nil {
			l = []any{}
		}
		return l
	case token.STRING:
		if len(lit) >= 2 && lit[0] == '"' && lit[len(lit)-1] == '"' && !strings.HasPrefix(lit, `"""`) && plain(lit[1:len(lit)-1]) {
			return lit[1 : len(lit)-1]
		}
		v, ok := unquote(lit)
		r.bad = r.bad || !ok
		return v
	case token.INT, token.FLOAT:
		v, ok := number(lit, false)
		r.bad = r.bad || !ok
		return v
	case token.SUB:
		if r.tok != token.INT && r.tok != token.FLOAT {
			r.bad = true
			return nil
		}
		v, ok := number(r.lit, true)
		r.bad = r.bad || !ok
		r.next()
		return v
	case token.TRUE, token.FALSE:
		return tok == token.TRUE
	case token.NULL:
		return nil
	}
	r.bad = true
	return nil
}

// plain reports whether a string is printable ASCII without a backslash or quote, which CUE and Go
// unquote alike.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' || s[i] == '\\' || s[i] == '"' {
			return false
		}
	}
	return true
}
