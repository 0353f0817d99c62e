package genfleet

import (
	"regexp"
	"strconv"
	"strings"
)

// node is an ordered JSON-like value: an object (keys in order), a list or a scalar (string, int,
// bool), written as CUE or YAML the way a person would.
type node struct {
	keys   []string
	vals   []*node
	items  []*node
	isObj  bool
	isList bool
	scalar any
}

func value(v any) *node {
	switch v := v.(type) {
	case *node:
		return v
	case string, int, bool:
		return &node{scalar: v}
	default:
		panic("genfleet: unsupported value type")
	}
}

func obj(kv ...any) *node {
	n := &node{isObj: true}
	for i := 0; i < len(kv); i += 2 {
		n.keys = append(n.keys, kv[i].(string))
		n.vals = append(n.vals, value(kv[i+1]))
	}
	return n
}

func list(items ...any) *node {
	n := &node{isList: true}
	for _, it := range items {
		n.items = append(n.items, value(it))
	}
	return n
}

func (n *node) isScalar() bool { return !n.isObj && !n.isList }

var cueIdent = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

var cueKeywords = map[string]bool{"package": true, "import": true, "for": true, "in": true, "if": true,
	"let": true, "true": true, "false": true, "null": true, "div": true, "mod": true, "quo": true, "rem": true}

func cueLabel(k string) string {
	if cueIdent.MatchString(k) && !cueKeywords[k] {
		return k
	}
	return strconv.Quote(k)
}

func indent(b *strings.Builder, depth int) {
	for i := 0; i < depth; i++ {
		b.WriteByte('\t')
	}
}

// writeCUE writes n at the given depth (the caller has written the label).
func (n *node) writeCUE(b *strings.Builder, depth int) {
	switch {
	case n.isObj:
		if len(n.keys) == 0 {
			b.WriteString("{}")
			return
		}
		if flow := n.flow(cueLabel, cueScalar); flow != "" {
			b.WriteString(flow)
			return
		}
		b.WriteString("{\n")
		for i, k := range n.keys {
			indent(b, depth+1)
			writeCUEField(b, k, n.vals[i], depth+1)
			b.WriteByte('\n')
		}
		indent(b, depth)
		b.WriteByte('}')
	case n.isList:
		if len(n.items) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[")
		for i, it := range n.items {
			if i > 0 {
				b.WriteString(", ")
			}
			it.writeCUE(b, depth)
		}
		b.WriteString("]")
	default:
		switch s := n.scalar.(type) {
		case string:
			if strings.Contains(s, "\n") && strings.HasSuffix(s, "\n") && !strings.Contains(s, `"""`) && !strings.Contains(s, `\`) {
				b.WriteString("\"\"\"\n")
				for _, line := range strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") {
					indent(b, depth+1)
					b.WriteString(line)
				}
				b.WriteString("\n\n")
				indent(b, depth+1)
				b.WriteString(`"""`)
				return
			}
			b.WriteString(strconv.Quote(s))
		case int:
			b.WriteString(strconv.Itoa(s))
		case bool:
			b.WriteString(strconv.FormatBool(s))
		}
	}
}

// writeCUEField writes `label: value`, folding a struct of one field into the label chain as people
// write CUE (`source: registry: url: "..."`).
func writeCUEField(b *strings.Builder, k string, v *node, depth int) {
	b.WriteString(cueLabel(k))
	b.WriteString(": ")
	for v.isObj && len(v.keys) == 1 {
		b.WriteString(cueLabel(v.keys[0]))
		b.WriteString(": ")
		v = v.vals[0]
	}
	v.writeCUE(b, depth)
}

func cueScalar(v any) string {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "\n") {
			return ""
		}
		return strconv.Quote(x)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func yamlScalar(v any) string {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "\n") {
			return ""
		}
		return yamlString(x)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// yamlPlain matches strings that YAML reads back as the same string without quotes.
var yamlPlain = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/-]*$`)

var yamlSpecial = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true,
	"y": true, "n": true, "null": true, "True": true, "False": true, "Yes": true, "No": true, "On": true,
	"Off": true, "Null": true, "TRUE": true, "FALSE": true, "NULL": true}

func yamlString(s string) string {
	if yamlPlain.MatchString(s) && !yamlSpecial[s] {
		return s
	}
	return strconv.Quote(s)
}

func yamlIndent(b *strings.Builder, depth int) {
	for i := 0; i < depth; i++ {
		b.WriteString("  ")
	}
}

// writeYAML writes an object as a block mapping at depth (each key on its own line).
func (n *node) writeYAML(b *strings.Builder, depth int) {
	for i, k := range n.keys {
		if i > 0 {
			yamlIndent(b, depth)
		}
		b.WriteString(yamlString(k))
		b.WriteByte(':')
		n.vals[i].writeYAMLValue(b, depth)
	}
}

// writeYAMLValue writes a value after "key:" or "- ", ending with a newline.
func (n *node) writeYAMLValue(b *strings.Builder, depth int) {
	switch {
	case n.isObj:
		if len(n.keys) == 0 {
			b.WriteString(" {}\n")
			return
		}
		if flow := n.flow(yamlString, yamlScalar); flow != "" {
			b.WriteString(" " + flow + "\n")
			return
		}
		b.WriteByte('\n')
		yamlIndent(b, depth+1)
		n.writeYAML(b, depth+1)
	case n.isList:
		if len(n.items) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteByte('\n')
		for _, it := range n.items {
			yamlIndent(b, depth+1)
			b.WriteString("-")
			if it.isObj && len(it.keys) > 0 {
				b.WriteByte(' ')
				it.writeYAML(b, depth+2)
				continue
			}
			it.writeYAMLValue(b, depth+1)
		}
	default:
		switch s := n.scalar.(type) {
		case string:
			if strings.Contains(s, "\n") && strings.HasSuffix(s, "\n") && !strings.HasPrefix(s, " ") {
				b.WriteString(" |\n")
				for _, line := range strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") {
					yamlIndent(b, depth+1)
					b.WriteString(line)
				}
				b.WriteByte('\n')
				return
			}
			b.WriteString(" " + yamlString(s) + "\n")
		case int:
			b.WriteString(" " + strconv.Itoa(s) + "\n")
		case bool:
			b.WriteString(" " + strconv.FormatBool(s) + "\n")
		}
	}
}

// flow returns a short flow mapping such as `{bus: "virtio"}` for a small object of scalars, or "".
func (n *node) flow(label func(string) string, scalar func(any) string) string {
	if !n.isObj || len(n.keys) == 0 || len(n.keys) > 3 {
		return ""
	}
	parts := make([]string, len(n.keys))
	for i, k := range n.keys {
		v := n.vals[i]
		if !v.isScalar() {
			return ""
		}
		s := scalar(v.scalar)
		if s == "" {
			return ""
		}
		parts[i] = label(k) + ": " + s
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
