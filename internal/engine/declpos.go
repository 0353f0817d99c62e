package engine

import (
	"strconv"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// fromCUEInFleet is fromCUE for the errors of a declaration (root is the package's value): a finding
// CUE places only in the embedded schemas — a required field that is not present, say — is also
// placed, first, at the nearest enclosing value a fleet file wrote, so that it names a line a person
// can change.
func (e *Engine) fromCUEInFleet(err error, rule string, root cue.Value) diag.List {
	var out diag.List
	for _, ce := range errors.Errors(err) {
		l := e.fromCUE(ce, rule)
		if !e.inFleet(ce) {
			if p, ok := e.ownAncestor(root, ce.Path()); ok {
				for i := range l {
					l[i].Positions = append([]diag.Position{p}, l[i].Positions...)
				}
			}
		}
		out = append(out, l...)
	}
	return out
}

// inFleet reports whether a CUE error has a position in the fleet's own files.
func (e *Engine) inFleet(ce errors.Error) bool {
	for _, p := range errors.Positions(ce) {
		if dp, mine := e.position(p); mine && dp.File != "" {
			return true
		}
	}
	return false
}

// ownAncestor finds the deepest value on path (the path itself first) that a fleet file wrote.
func (e *Engine) ownAncestor(root cue.Value, path []string) (diag.Position, bool) {
	for n := len(path); n > 0; n-- {
		sels := make([]cue.Selector, n)
		for i, p := range path[:n] {
			if k, err := strconv.Atoi(p); err == nil && allDigits(p) {
				sels[i] = cue.Index(k)
			} else {
				sels[i] = cue.Str(p)
			}
		}
		v := root.LookupPath(cue.MakePath(sels...))
		if !v.Exists() {
			continue
		}
		if dp, mine := e.position(v.Pos()); mine && dp.File != "" {
			return dp, true
		}
		// A value unified from a fleet file's struct and the schema's: the fleet's conjunct.
		if op, args := v.Expr(); op == cue.AndOp {
			for _, a := range args {
				if dp, mine := e.position(a.Pos()); mine && dp.File != "" {
					return dp, true
				}
			}
		}
	}
	return diag.Position{}, false
}
