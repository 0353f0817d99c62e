package macassign

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"go.yaml.in/yaml/v3"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// insertion is text inserted at a byte offset of a file as validation read it.
type insertion struct {
	off  int
	text string
	// macLine is the line of text (0 its first) that holds the MACs of edits.
	macLine int
	edits   []Edit
}

var nameKey = regexp.MustCompile(`"?name"?\s*:`)

// nextToName places `macAddress: "<mac>"` next to the interface's name key at p: block style gets a
// line after the name's line with the key's indentation; flow style ({name: ..., ...}) gets the field
// before the name key.
func nextToName(data []byte, p diag.Position, mac string, edit Edit) (insertion, error) {
	start, end, ok := lineBounds(data, p.Line)
	if !ok {
		return insertion{}, fmt.Errorf("line %d is out of range", p.Line)
	}
	l := string(data[start:end])
	col := min(p.Col-1, len(l))
	key := -1
	for _, loc := range nameKey.FindAllStringIndex(l, -1) {
		if loc[0] <= col && (loc[0] == 0 || !isWordByte(l[loc[0]-1])) {
			key = loc[0]
		}
	}
	if key < 0 {
		return insertion{}, fmt.Errorf("cannot find the interface's name key to place macAddress %s", mac)
	}
	field := fmt.Sprintf("macAddress: %q", mac)
	before := strings.TrimRight(l[:key], " \t")
	if strings.HasSuffix(before, "{") || strings.HasSuffix(before, ",") {
		return insertion{off: start + key, text: field + ", ", edits: []Edit{edit}}, nil
	}
	indent := leadingIndent(l, key)
	if strings.HasSuffix(l, "\r\n") {
		return insertion{off: end, text: indent + field + "\r\n", edits: []Edit{edit}}, nil
	}
	if strings.HasSuffix(l, "\n") {
		return insertion{off: end, text: indent + field + "\n", edits: []Edit{edit}}, nil
	}
	return insertion{off: end, text: "\n" + indent + field, macLine: 1, edits: []Edit{edit}}, nil
}

// vmLine writes the MACs of interfaces that come from a shared template as a declaration of the VM's
// own, after the first declaration of its key in the cluster's folder (or at the end of the cluster's
// first CUE file when its key is made by a comprehension).
func vmLine(fc *fleetfs.Cluster, vm *validate.VM, ifaces []*validate.Interface) (insertion, error) {
	if fc == nil || len(fc.CUE) == 0 {
		return insertion{}, errors.New("its cluster has no CUE file to write its MACs into")
	}
	label, err := format.Node(ast.NewStringLabel(vm.Key))
	if err != nil {
		return insertion{}, fmt.Errorf("key %q: %w", vm.Key, err)
	}
	last := 0
	macs := map[int]string{}
	for _, ifc := range ifaces {
		macs[ifc.Index] = ifc.Assigned
		last = max(last, ifc.Index)
	}
	var list strings.Builder
	for i := 0; i <= last; i++ {
		if m, ok := macs[i]; ok {
			fmt.Fprintf(&list, "{macAddress: %q}, ", m)
		} else {
			list.WriteString("_, ")
		}
	}
	line := fmt.Sprintf("vms: %s: spec: template: spec: domain: devices: interfaces: [%s...]", label, list.String())

	in := insertion{}
	file := fc.CUE[0]
	if decls := validate.VMDecls(fc.CUE, vm.Key); len(decls) > 0 {
		d := decls[0]
		for _, f := range fc.CUE {
			if f.Path == d.File {
				file = f
			}
		}
		eol := d.End + lineEnd(file.Data[d.End:])
		if rest := strings.TrimSpace(string(file.Data[d.End:eol])); rest == "" || rest == "," || strings.HasPrefix(rest, "//") {
			in.off, in.text, in.macLine = eol, "\n"+line, 1
		} else {
			in.off, in.text, in.macLine = d.End, "\n"+line+"\n", 1
		}
	} else {
		in.off = len(file.Data)
		in.text = "\n" + line + "\n"
		if !bytes.HasSuffix(file.Data, []byte("\n")) {
			in.text = "\n" + in.text
		}
		in.macLine = strings.Count(in.text, "\n") - 1
	}
	for _, ifc := range ifaces {
		in.edits = append(in.edits, Edit{File: file.Path, VM: vm.Namespace + "/" + vm.Name, Interface: ifc.Name, MAC: ifc.Assigned})
	}
	return in, nil
}

// apply inserts every insertion into data and sets each edit's line in the result. Insertions at one
// offset keep the order they were planned in.
func apply(data []byte, ins []insertion) ([]byte, []Edit, error) {
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].off < ins[j].off })
	var out bytes.Buffer
	var edits []Edit
	prev, line := 0, 1
	for _, in := range ins {
		if in.off < prev || in.off > len(data) {
			return nil, nil, fmt.Errorf("offset %d out of range", in.off)
		}
		line += bytes.Count(data[prev:in.off], []byte("\n"))
		out.Write(data[prev:in.off])
		for _, e := range in.edits {
			e.Line = line + in.macLine
			edits = append(edits, e)
		}
		out.WriteString(in.text)
		line += strings.Count(in.text, "\n")
		prev = in.off
	}
	out.Write(data[prev:])
	return out.Bytes(), edits, nil
}

// parses checks that an edited file still parses.
func parses(name string, data []byte) error {
	if strings.HasSuffix(name, ".cue") {
		if _, err := parser.ParseFile(name, data, parser.ParseComments); err != nil {
			return fmt.Errorf("the edited file does not parse: %w", err)
		}
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("the edited file does not parse: %w", err)
		}
	}
}

// lineBounds returns the byte range of line n (from 1), its newline included.
func lineBounds(data []byte, n int) (start, end int, ok bool) {
	if n < 1 {
		return 0, 0, false
	}
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data[start:], '\n')
		if j < 0 {
			return 0, 0, false
		}
		start += j + 1
	}
	if start >= len(data) {
		return 0, 0, false
	}
	end = start + lineEnd(data[start:])
	if end < len(data) {
		end++ // the newline
	}
	return start, end, true
}

// lineEnd is the offset of the first newline in data (len(data) if none).
func lineEnd(data []byte) int {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i
	}
	return len(data)
}

func isWordByte(b byte) bool {
	return b == '_' || b == '-' || b == '#' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// leadingIndent is the indentation of a sibling key of the one at col: the same column, made of the
// line's own whitespace (a YAML list item's "- " becomes spaces).
func leadingIndent(l string, col int) string {
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
