package engine

import (
	"fmt"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// fromCUE turns a CUE error into findings, one per individual error, with positions made relative to
// the fleet root. Positions in the embedded module (the schema's side of a conflict) come after those
// in the fleet's own files, and are dropped when the fleet's files give at least one.
func (e *Engine) fromCUE(err error, rule string) diag.List {
	var out diag.List
	for _, ce := range errors.Errors(err) {
		format, args := ce.Msg()
		d := diag.Diagnostic{
			Severity: diag.Error,
			Rule:     rule,
			Path:     pathString(ce.Path()),
			Message:  fmt.Sprintf(format, args...),
		}
		// An import that failed says why (a package not found: not vendored, or refused by fleetfs).
		if inner, ok := errors.Unwrap(ce).(errors.Error); ok && d.Message == "import failed" {
			format, args := inner.Msg()
			d.Message += ": " + fmt.Sprintf(format, args...)
		}
		var own, module []diag.Position
		for _, p := range errors.Positions(ce) {
			dp, mine := e.position(p)
			if dp.File == "" {
				continue
			}
			if mine {
				own = append(own, dp)
			} else {
				module = append(module, dp)
			}
		}
		d.Positions = own
		if len(own) == 0 {
			d.Positions = module
		}
		out = append(out, d)
	}
	return out
}

// position converts a CUE position; mine reports whether it is in the fleet's own files.
func (e *Engine) position(p token.Pos) (diag.Position, bool) {
	if !p.IsValid() {
		return diag.Position{}, false
	}
	file, mine := e.relFile(p.Filename())
	return diag.Position{File: file, Line: p.Line(), Col: p.Column()}, mine
}

// relFile names a file as positions do, relative to the fleet root where possible; mine reports
// whether it is one of the fleet's own files (not the embedded module's).
func (e *Engine) relFile(file string) (string, bool) {
	mine := !(e.module.pkgDir != e.module.root && strings.HasPrefix(file, e.module.pkgDir+string(filepath.Separator)))
	if rel, err := filepath.Rel(e.module.root, file); err == nil && !strings.HasPrefix(rel, "..") {
		file = filepath.ToSlash(rel)
	}
	return file, mine
}

// pathString writes a path the way CUE does: identifiers bare, other labels quoted.
func pathString(elems []string) string {
	var b strings.Builder
	for i, el := range elems {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(label(el))
	}
	return b.String()
}

func label(s string) string {
	if s == "" {
		return `""`
	}
	if (strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "#")) && diag.Printable(s) {
		return s // quoted by CUE already, or a definition
	}
	for i, r := range s {
		ok := r == '_' || r == '$' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			if i == 0 && r >= '0' && r <= '9' && allDigits(s) {
				return s
			}
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// PathString is pathString for other packages.
func PathString(elems ...string) string { return pathString(elems) }
