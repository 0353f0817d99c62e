package validate

import (
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// VMDecl is where a CUE VM's key is written in a file: `vms: "<key>": ...` or `vms: {"<key>": ...}`.
type VMDecl struct {
	File string
	// Key is the position of the key's label.
	Key diag.Position
	// End is the byte offset just after the top-level declaration that holds the key.
	End int
}

// VMDecls finds where the CUE VM keyed key is declared in files, in file order. A VM whose key is
// made by a comprehension or an interpolation has no such declaration. Files that do not parse are
// skipped (their syntax error is reported by the evaluation).
func VMDecls(files []fleetfs.File, key string) []VMDecl {
	var out []VMDecl
	for _, f := range files {
		af, err := parser.ParseFile(f.Path, f.Data)
		if err != nil {
			continue
		}
		for _, d := range af.Decls {
			top, ok := d.(*ast.Field)
			if !ok || labelName(top.Label) != "vms" {
				continue
			}
			st, ok := top.Value.(*ast.StructLit)
			if !ok {
				continue
			}
			for _, e := range st.Elts {
				fld, ok := e.(*ast.Field)
				if !ok || labelName(fld.Label) != key {
					continue
				}
				p := fld.Label.Pos()
				out = append(out, VMDecl{File: f.Path, Key: diag.Position{File: f.Path, Line: p.Line(), Col: p.Column()},
					End: top.End().Offset()})
			}
		}
	}
	return out
}

// labelName is a regular field's name ("" for patterns, definitions, hidden and dynamic labels).
func labelName(l ast.Label) string {
	name, isIdent, err := ast.LabelName(l)
	if err != nil {
		return ""
	}
	if isIdent && len(name) > 0 && (name[0] == '#' || name[0] == '_') {
		return ""
	}
	return name
}
