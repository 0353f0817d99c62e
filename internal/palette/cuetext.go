package palette

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue/format"
)

// tree is CUE text being built: fields in the order set, each with the comments above it.
type tree struct {
	keys     []string
	kids     map[string]*tree
	lit      string   // a leaf's CUE literal
	comments []string // lines above the field, without "//"
}

func newTree() *tree { return &tree{kids: map[string]*tree{}} }

func (t *tree) at(path ...string) *tree {
	n := t
	for _, p := range path {
		k, ok := n.kids[p]
		if !ok {
			k = newTree()
			n.kids[p] = k
			n.keys = append(n.keys, p)
		}
		n = k
	}
	return n
}

// set sets the literal at path, with a comment saying where it came from.
func (t *tree) set(path []string, lit string, comment ...string) {
	n := t.at(path...)
	n.lit = lit
	n.comments = append(n.comments, comment...)
}

func (t *tree) note(path []string, comment ...string) {
	n := t.at(path...)
	n.comments = append(n.comments, comment...)
}

var identRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func label(k string) string {
	if identRE.MatchString(k) {
		return k
	}
	return strconv.Quote(k)
}

func (t *tree) write(b *strings.Builder, indent int) {
	tabs := strings.Repeat("\t", indent)
	for _, k := range t.keys {
		n := t.kids[k]
		for _, c := range n.comments {
			fmt.Fprintf(b, "%s// %s\n", tabs, oneLine(c))
		}
		if n.lit != "" {
			fmt.Fprintf(b, "%s%s: %s\n", tabs, label(k), n.lit)
			continue
		}
		fmt.Fprintf(b, "%s%s: {\n", tabs, label(k))
		n.write(b, indent+1)
		fmt.Fprintf(b, "%s}\n", tabs)
	}
}

// oneLine keeps a comment on its line: a value from the input may hold anything.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// source formats text as CUE (gofmt for CUE); an error means the builder wrote something wrong.
func source(text string) ([]byte, error) {
	out, err := format.Source([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("generated CUE does not parse: %w\n%s", err, text)
	}
	return out, nil
}

func str(s string) string { return strconv.Quote(s) }

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func boolLit(b bool) string { return strconv.FormatBool(b) }

func strList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = str(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
