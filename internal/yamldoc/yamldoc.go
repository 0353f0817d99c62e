// Package yamldoc decodes multi-document YAML into plain values (maps, slices, scalars) and keeps
// every value's line and column, so that a finding about a field points at the line a person wrote.
// Expanding aliases is bounded, so a YAML alias bomb is refused quickly with bounded memory.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// MaxNodes bounds the values one document may expand to (aliases included).
const MaxNodes = 200_000

// Doc is one YAML document.
type Doc struct {
	File string
	// Index counts documents in the file from 0.
	Index int
	// Value is the decoded document.
	Value any
	// file is the file's bytes: the document's node tree (positions) is parsed again from them the
	// first time a position is asked for, and kept from then on. A fleet's thousands of documents
	// keep only their values; a tree costs several times its document's values.
	file *lazyFile
	once sync.Once
	root *yaml.Node
	// keys indexes the keys of large mappings (see bigMapping), so that finding the positions of
	// many fields of one mapping stays linear.
	keys map[*yaml.Node]map[string]int
}

// tree returns the document's node tree, from the file's trees parsed again the first time one of its
// documents is asked for a position. Decode parsed the same bytes without error, so the tree is the
// one it converted.
func (d *Doc) tree() *yaml.Node {
	d.once.Do(func() {
		d.root = d.file.root(d.Index)
		d.keys = map[*yaml.Node]map[string]int{}
		indexKeys(d.root, d.keys, 0)
	})
	return d.root
}

// lazyFile is a file's bytes, parsed into node trees once, when a position in one of its documents is
// first asked for.
type lazyFile struct {
	data  []byte
	once  sync.Once
	roots map[int]*yaml.Node
}

func (f *lazyFile) root(index int) *yaml.Node {
	f.once.Do(func() {
		f.roots = map[int]*yaml.Node{}
		dec := yaml.NewDecoder(bytes.NewReader(f.data))
		for i := 0; ; i++ {
			var n yaml.Node
			if err := dec.Decode(&n); err != nil {
				return
			}
			f.roots[i] = documentRoot(&n)
		}
	})
	if r := f.roots[index]; r != nil {
		return r
	}
	return &yaml.Node{Kind: yaml.MappingNode}
}

// documentRoot is the node under a document node.
func documentRoot(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return &yaml.Node{Kind: yaml.MappingNode}
		}
		return n.Content[0]
	}
	return n
}

// indexKeys indexes the keys of the tree's large mappings (aliases are not followed: what they
// point at is indexed where it is written).
func indexKeys(n *yaml.Node, keys map[*yaml.Node]map[string]int, depth int) {
	if n == nil || depth > MaxNodes {
		return
	}
	if n.Kind == yaml.MappingNode && len(n.Content)/2 >= bigMapping {
		idx := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if _, dup := idx[n.Content[i].Value]; !dup {
				idx[n.Content[i].Value] = i
			}
		}
		keys[n] = idx
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			indexKeys(c, keys, depth+1)
		}
	}
}

// bigMapping is the number of keys from which a mapping's keys are indexed.
const bigMapping = 16

// Pos returns the position of the value at path (map keys and list indexes); for a path that does not
// exist, the position of its deepest existing parent.
func (d *Doc) Pos(path []string) diag.Position {
	n := d.tree()
	for _, p := range path {
		next := d.child(n, p)
		if next == nil {
			break
		}
		n = next
	}
	return diag.Position{File: d.File, Line: n.Line, Col: n.Column}
}

// KeyPos returns the position of the key of the field at path (where a person wrote the field name).
func (d *Doc) KeyPos(path []string) diag.Position {
	if len(path) == 0 {
		return d.Pos(nil)
	}
	parent := d.tree()
	for _, p := range path[:len(path)-1] {
		next := d.child(parent, p)
		if next == nil {
			return d.Pos(path)
		}
		parent = next
	}
	parent = deref(parent)
	if parent.Kind == yaml.MappingNode {
		if i := d.keyIndex(parent, path[len(path)-1]); i >= 0 {
			k := parent.Content[i]
			return diag.Position{File: d.File, Line: k.Line, Col: k.Column}
		}
	}
	return d.Pos(path)
}

// keyIndex returns the index in n.Content of the key, or -1.
func (d *Doc) keyIndex(n *yaml.Node, key string) int {
	if idx, ok := d.keys[n]; ok {
		if i, ok := idx[key]; ok {
			return i
		}
		return -1
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func (d *Doc) child(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		if i := d.keyIndex(n, key); i >= 0 {
			return n.Content[i+1]
		}
	case yaml.SequenceNode:
		i, err := strconv.Atoi(key)
		if err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// Decode reads every document of a file. A syntax error is returned as a diagnostic with its line;
// documents before it are still returned. data must not be changed afterwards: positions are parsed
// again from it when asked for, and the documents' strings may share its memory.
func Decode(file string, data []byte) ([]*Doc, diag.List) {
	lazy := &lazyFile{data: data}
	if docs, ok := fastDecode(file, data, lazy); ok {
		return docs, nil
	}
	return decodeV3(file, data, lazy)
}

// decodeV3 decodes with yaml.v3 (what fastDecode does not read).
func decodeV3(file string, data []byte, lazy *lazyFile) ([]*Doc, diag.List) {
	var docs []*Doc
	var problems diag.List
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			pos := diag.Position{File: file}
			if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
				pos.Line, _ = strconv.Atoi(m[1])
				pos.Col = 1
			}
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msg = lineRE.ReplaceAllString(msg, "")
			msg = strings.TrimLeft(msg, ": ")
			problems.Errorf("yaml-syntax", "", []diag.Position{pos}, "YAML syntax error: %s", msg)
			break
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 0 {
			continue
		}
		root := documentRoot(&n)
		c := converter{file: file}
		v := c.convert(root, nil)
		if c.err != nil {
			problems = append(problems, *c.err)
			continue
		}
		if v == nil {
			continue // an empty document
		}
		docs = append(docs, &Doc{File: file, Index: i, Value: v, file: lazy})
	}
	return docs, problems
}

type converter struct {
	file  string
	nodes int
	err   *diag.Diagnostic
}

func (c *converter) fail(n *yaml.Node, rule, format string, args ...any) {
	if c.err == nil {
		c.err = &diag.Diagnostic{Severity: diag.Error, Rule: rule, Message: fmt.Sprintf(format, args...),
			Positions: []diag.Position{{File: c.file, Line: n.Line, Col: n.Column}}}
	}
}

func (c *converter) convert(n *yaml.Node, path []string) any {
	if c.err != nil {
		return nil
	}
	c.nodes++
	if c.nodes > MaxNodes {
		c.fail(n, "yaml-size", "document expands to more than %d values (a YAML alias bomb?): refused", MaxNodes)
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.convert(n.Alias, path)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				c.fail(k, "yaml-merge", "YAML merge keys (<<) are not supported in manifests")
				return nil
			}
			if _, dup := m[k.Value]; dup {
				c.fail(k, "yaml-duplicate-key", "key %q appears twice in one mapping", k.Value)
				return nil
			}
			m[k.Value] = c.convert(n.Content[i+1], append(path, k.Value))
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, item := range n.Content {
			l[i] = c.convert(item, path)
		}
		return l
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil
}

func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return float64(i)
		}
		var i int64
		if err := n.Decode(&i); err == nil {
			return float64(i)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			return f
		}
	}
	return n.Value
}
