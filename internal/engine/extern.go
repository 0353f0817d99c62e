package engine

import (
	"bytes"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// refuseExtern refuses the file-level @extern attributes of files. @extern(embed) turns on @embed,
// which puts the content of other files into values, past what fleetfs checks of a VM file (YAML
// limits, VM kinds); a fleet has no use for it. Each attribute is a finding at its line, and is
// blanked out (spaces: every position stays) in the copy of the file the engine evaluates, so that
// no injection ever runs. Files without one are returned as they are.
func refuseExtern(files []fleetfs.File) ([]fleetfs.File, diag.List) {
	var out diag.List
	copied := false
	for i, f := range files {
		if !bytes.Contains(f.Data, []byte("@extern")) {
			continue
		}
		af, err := parser.ParseFile(f.Path, f.Data, parser.ImportsOnly)
		if err != nil {
			continue // the loader reports the syntax error
		}
		var data []byte
		for _, d := range af.Decls {
			a, ok := d.(*ast.Attribute)
			if !ok {
				continue
			}
			key, body := a.Split()
			if key != "extern" {
				continue
			}
			pos := []diag.Position{{File: f.Path, Line: a.Pos().Line(), Col: a.Pos().Column()}}
			if body == "embed" {
				out.Errorf("embed", "", pos, "@extern(embed): a fleet may not embed files into values; write the data in CUE, or VMs as YAML files")
			} else {
				out.Errorf("embed", "", pos, "@extern(%s): a fleet may not inject external values", body)
			}
			if data == nil {
				data = bytes.Clone(f.Data)
			}
			start := a.Pos().Offset()
			copy(data[start:start+len(a.Text)], bytes.Repeat([]byte(" "), len(a.Text)))
		}
		if data == nil {
			continue
		}
		if !copied {
			files, copied = append([]fleetfs.File(nil), files...), true
		}
		files[i].Data = data
	}
	return files, out
}
