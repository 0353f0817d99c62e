// Package macassign writes the MACs that validation assigned into the files the VMs came from, so that
// they stay stable in git: one line inserted per interface, next to the interface's name, keeping every
// comment and the layout of the file.
package macassign

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// Edit is one MAC written into a file.
type Edit struct {
	File      string
	Line      int
	VM        string
	Interface string
	MAC       string
}

type insertion struct {
	line, col int // of the interface's `name` key
	mac       string
	edit      Edit
}

// Plan lists the MACs to write for every valid cluster.
func Plan(r *validate.Result) map[string][]insertion {
	byFile := map[string][]insertion{}
	for _, c := range r.Clusters {
		if !c.Valid() {
			continue
		}
		for _, vm := range c.VMs {
			for _, ifc := range vm.Interfaces {
				if ifc.Assigned == "" {
					continue
				}
				p := vm.Pos("spec", "template", "spec", "domain", "devices", "interfaces", strconv.Itoa(ifc.Index), "name")
				byFile[p.File] = append(byFile[p.File], insertion{line: p.Line, col: p.Col, mac: ifc.Assigned,
					edit: Edit{File: p.File, Line: p.Line, VM: vm.Namespace + "/" + vm.Name, Interface: ifc.Name, MAC: ifc.Assigned}})
			}
		}
	}
	return byFile
}

// Apply writes the planned MACs into the files under root and returns what it wrote.
func Apply(root string, r *validate.Result) ([]Edit, error) {
	var edits []Edit
	plan := Plan(r)
	files := make([]string, 0, len(plan))
	for f := range plan {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		abs := filepath.Join(root, filepath.FromSlash(f))
		data, err := os.ReadFile(abs)
		if err != nil {
			return edits, fmt.Errorf("mac assign: %s: %w", diag.Name(f), diag.FileError(err))
		}
		out, err := insert(string(data), plan[f], strings.HasSuffix(f, ".cue"))
		if err != nil {
			return edits, fmt.Errorf("mac assign: %s: %w", diag.Name(f), diag.FileError(err))
		}
		st, err := os.Stat(abs)
		if err != nil {
			return edits, fmt.Errorf("mac assign: %s: %w", diag.Name(f), diag.FileError(err))
		}
		if err := os.WriteFile(abs, []byte(out), st.Mode().Perm()); err != nil {
			return edits, fmt.Errorf("mac assign: %s: %w", diag.Name(f), diag.FileError(err))
		}
		for _, in := range plan[f] {
			edits = append(edits, in.edit)
		}
	}
	return edits, nil
}

var nameKey = regexp.MustCompile(`"?name"?\s*:`)

// insert adds `macAddress: "<mac>"` next to each interface's name key, from the bottom of the file up
// so that earlier positions stay valid. Block style gets a new line after the name line with the same
// indentation; flow style ({name: ..., ...}) gets the field inserted before the name key.
func insert(text string, ins []insertion, isCUE bool) (string, error) {
	lines := strings.SplitAfter(text, "\n")
	sort.Slice(ins, func(i, j int) bool {
		if ins[i].line != ins[j].line {
			return ins[i].line > ins[j].line
		}
		return ins[i].col > ins[j].col
	})
	for _, in := range ins {
		if in.line < 1 || in.line > len(lines) {
			return "", fmt.Errorf("line %d: out of range", in.line)
		}
		l := lines[in.line-1]
		// Find the `name:` key at or before the reported column (CUE reports the value's column).
		col := in.col - 1
		if col > len(l) {
			col = len(l)
		}
		locs := nameKey.FindAllStringIndex(l, -1)
		key := -1
		for _, loc := range locs {
			if loc[0] <= col {
				key = loc[0]
			}
		}
		if key < 0 {
			return "", fmt.Errorf("line %d: cannot find the interface's name key to place macAddress %s", in.line, in.mac)
		}
		before := strings.TrimRight(l[:key], " \t")
		if strings.HasSuffix(before, "{") || strings.HasSuffix(before, ",") {
			lines[in.line-1] = l[:key] + fmt.Sprintf("macAddress: %q, ", in.mac) + l[key:]
			continue
		}
		indent := leadingIndent(l, key, isCUE)
		newline := indent + fmt.Sprintf("macAddress: %q", in.mac) + "\n"
		if !strings.HasSuffix(l, "\n") {
			lines[in.line-1] = l + "\n"
		}
		lines = append(lines[:in.line], append([]string{newline}, lines[in.line:]...)...)
	}
	return strings.Join(lines, ""), nil
}

// leadingIndent is the indentation of a sibling key of the one at col: the same column, made of the
// line's own whitespace (a YAML list item's "- " becomes spaces).
func leadingIndent(l string, col int, isCUE bool) string {
	var b strings.Builder
	for i := 0; i < col && i < len(l); i++ {
		if l[i] == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}
