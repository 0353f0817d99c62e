package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/literal"
	"github.com/cockroachdb/apd/v3"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// orderKeys orders the VMs as CUE orders the fields of `vms` (internal/core/toposort): edges between
// labels in declaration order within each file, a label seen earlier in the same file adding none;
// then a topological sort of the graph's strongly connected components that takes the smallest first
// (a component's labels sorted, components compared by those lists).
func orderKeys(lits []*dnode) []string {
	type node struct {
		lit  int
		file int32
		out  []int
	}
	index := map[string]int{}
	var names []string
	var nodes []*node
	edges := map[[2]int]bool{}
	previous := -1
	prevFile := int32(-1)
	for i, l := range lits {
		if prevFile >= 0 && l.file != prevFile {
			previous = -1
		}
		for k := range l.kids {
			name := l.kids[k].name
			id, exists := index[name]
			if exists && (nodes[id].lit == i || nodes[id].file == l.file) {
				continue
			}
			if !exists {
				id = len(nodes)
				index[name] = id
				names = append(names, name)
				nodes = append(nodes, &node{})
			}
			nodes[id].lit, nodes[id].file = i, l.file
			if previous >= 0 && !edges[[2]int{previous, id}] {
				edges[[2]int{previous, id}] = true
				nodes[previous].out = append(nodes[previous].out, id)
			}
			previous = id
		}
		prevFile = l.file
	}

	// Tarjan's strongly connected components.
	comp := make([]int, len(nodes))
	low := make([]int, len(nodes))
	num := make([]int, len(nodes))
	onStack := make([]bool, len(nodes))
	for i := range num {
		num[i] = -1
	}
	var stack []int
	var comps [][]string
	counter := 0
	var visit func(v int)
	visit = func(v int) {
		num[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range nodes[v].out {
			if num[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], num[w])
			}
		}
		if low[v] == num[v] {
			var members []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = len(comps)
				members = append(members, names[w])
				if w == v {
					break
				}
			}
			slices.Sort(members)
			comps = append(comps, members)
		}
	}
	for v := range nodes {
		if num[v] < 0 {
			visit(v)
		}
	}

	// Kahn's algorithm over the components, smallest first.
	in := make([]int, len(comps))
	out := make([][]int, len(comps))
	seen := map[[2]int]bool{}
	for v, n := range nodes {
		for _, w := range n.out {
			a, b := comp[v], comp[w]
			if a != b && !seen[[2]int{a, b}] {
				seen[[2]int{a, b}] = true
				out[a] = append(out[a], b)
				in[b]++
			}
		}
	}
	byNames := func(a, b int) int { return slices.Compare(comps[a], comps[b]) }
	var ready []int
	for c := range comps {
		if in[c] == 0 {
			ready = append(ready, c)
		}
	}
	slices.SortFunc(ready, byNames)
	order := make([]string, 0, len(names))
	for len(ready) > 0 {
		c := ready[0]
		ready = ready[1:]
		order = append(order, comps[c]...)
		added := false
		for _, d := range out[c] {
			if in[d]--; in[d] == 0 {
				ready = append(ready, d)
				added = true
			}
		}
		if added {
			slices.SortFunc(ready, byNames)
		}
	}
	return order
}

// vmFields are the top-level fields the light #VirtualMachine allows (it is closed).
var vmFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "spec": true, "status": true}

// fastVM builds one VM from the fields that declare it. A VM whose data conflicts is reported and
// left out, as the general path does; the reason is non-empty when the general path is needed.
func (e *Engine) fastVM(key string, fields []*dnode, files []*dfile) (*VM, diag.List, string) {
	b := &vmBuilder{}
	for _, f := range fields {
		if f.kind != dStruct {
			return nil, nil, "a VM is not a struct"
		}
	}
	var v any
	if len(fields) == 1 {
		v = b.one(fields[0])
	} else {
		v = b.many(fields)
	}
	if b.bad != "" {
		return nil, nil, b.bad
	}
	obj := v.(map[string]any)
	fr := e.fast
	if fr.canonical {
		// #NamedVirtualMachine: a closed light #VirtualMachine, and metadata.name from the key.
		for _, c := range b.conflicts {
			if len(c.at) == 1 || (len(c.at) == 2 && c.at[0] == "metadata" && c.at[1] == "name") {
				return nil, nil, "a conflict the schema takes part in"
			}
		}
		for k, x := range obj {
			if !vmFields[k] {
				return nil, nil, "a field the VM schema does not allow"
			}
			switch k {
			case "apiVersion", "kind":
				if _, ok := x.(string); !ok {
					return nil, nil, k + " is not a string"
				}
			default:
				if _, ok := x.(map[string]any); !ok {
					return nil, nil, k + " is not a struct"
				}
			}
		}
		md, _ := obj["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
			obj["metadata"] = md
		}
		if n, ok := md["name"]; !ok {
			md["name"] = key
		} else if s, ok := n.(string); !ok || (s != key && (!nameRE.MatchString(s) || utf8.RuneCountInString(s) > nameMaxRunes)) {
			return nil, nil, "metadata.name does not satisfy the schema"
		}
	}
	if len(b.conflicts) > 0 {
		var out diag.List
		for _, c := range b.conflicts {
			out = append(out, conflictDiag(key, c, files))
		}
		return nil, out, ""
	}
	idx := &kidIndex{}
	vm := &VM{Object: obj, Key: key, Pos: func(path ...string) diag.Position { return e.fastPos(fields, files, idx, path) }}
	vm.File = vm.Pos().File
	return vm, nil, ""
}

// conflict is a unification error in a VM's data.
type conflict struct {
	at  []string // the path below the VM, labels unquoted, or list indexes
	idx []bool   // which elements of at are list indexes
	msg string
	pos []*dnode // the values in conflict
}

func conflictDiag(key string, c conflict, files []*dfile) diag.Diagnostic {
	elems := []string{"vms", cue.Str(key).String()}
	for i, a := range c.at {
		if c.idx[i] {
			elems = append(elems, a)
		} else {
			elems = append(elems, cue.Str(a).String())
		}
	}
	// As CUE sorts positions: by file name, then offset.
	pos := slices.Clone(c.pos)
	slices.SortFunc(pos, func(a, b *dnode) int {
		if c := cmp.Compare(files[a.file].abs, files[b.file].abs); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
	d := diag.Diagnostic{Severity: diag.Error, Rule: "schema", Path: pathString(elems), Message: c.msg}
	for i, p := range pos {
		if i > 0 && p.file == pos[i-1].file && p.off == pos[i-1].off {
			continue
		}
		d.Positions = append(d.Positions, files[p.file].position(p.off))
	}
	return d
}

// position is a diag.Position of an offset of the file.
func (f *dfile) position(off int32) diag.Position {
	line, col := f.lineCol(off)
	return diag.Position{File: f.rel, Line: line, Col: col}
}

// vmBuilder turns a VM's literals into Go values (maps, slices, strings, float64, bools, nil), as
// JSON decoding of the CUE value would, unifying what is written several times as CUE would.
type vmBuilder struct {
	at        []string
	idx       []bool
	conflicts []conflict
	bad       string
}

func (b *vmBuilder) fail(why string) any {
	if b.bad == "" {
		b.bad = why
	}
	return nil
}

func (b *vmBuilder) push(label string, index bool) {
	b.at = append(b.at, label)
	b.idx = append(b.idx, index)
}

func (b *vmBuilder) pop() {
	b.at = b.at[:len(b.at)-1]
	b.idx = b.idx[:len(b.idx)-1]
}

func (b *vmBuilder) conflict(msg string, pos ...*dnode) {
	b.conflicts = append(b.conflicts, conflict{at: slices.Clone(b.at), idx: slices.Clone(b.idx), msg: msg, pos: pos})
}

// one converts a value written once.
func (b *vmBuilder) one(n *dnode) any {
	switch n.kind {
	case dStruct:
		m := make(map[string]any, len(n.kids))
		for i := range n.kids {
			k := &n.kids[i]
			if _, dup := m[k.name]; dup {
				// The same field twice in one struct: unify its values.
				return b.many([]*dnode{n})
			}
			b.push(k.name, false)
			m[k.name] = b.one(k)
			b.pop()
			if b.bad != "" {
				return nil
			}
		}
		return m
	case dList:
		l := make([]any, len(n.kids))
		for i := range n.kids {
			b.push(strconv.Itoa(i), true)
			l[i] = b.one(&n.kids[i])
			b.pop()
			if b.bad != "" {
				return nil
			}
		}
		return l
	}
	v, ok := n.scalar()
	if !ok {
		return b.fail("a number out of range")
	}
	return v
}

// many unifies a value written several times.
func (b *vmBuilder) many(xs []*dnode) any {
	switch xs[0].kind {
	case dStruct:
		groups := map[string][]*dnode{}
		var order []string
		for _, x := range xs {
			if x.kind != dStruct {
				return b.fail("a struct unified with a value of another kind")
			}
			for i := range x.kids {
				k := &x.kids[i]
				if _, seen := groups[k.name]; !seen {
					order = append(order, k.name)
				}
				groups[k.name] = append(groups[k.name], k)
			}
		}
		m := make(map[string]any, len(order))
		for _, name := range order {
			b.push(name, false)
			if g := groups[name]; len(g) == 1 {
				m[name] = b.one(g[0])
			} else {
				m[name] = b.many(g)
			}
			b.pop()
			if b.bad != "" {
				return nil
			}
		}
		return m
	case dList:
		n := len(xs[0].kids)
		for _, x := range xs[1:] {
			if x.kind != dList {
				return b.fail("a list unified with a value of another kind")
			}
			// CUE reports the two lengths, the shorter first, where the second list is written.
			// With more lists than two, which elements it still unifies is not reproduced here.
			if len(x.kids) != n {
				if len(xs) > 2 {
					return b.fail("lists of different lengths unified more than twice")
				}
				b.conflict(fmt.Sprintf("incompatible list lengths (%d and %d)", min(n, len(x.kids)), max(n, len(x.kids))), x)
				n = min(n, len(x.kids))
			}
		}
		// Two lists of different lengths: their common elements are unified (and the VM left out).
		out := make([]any, n)
		for i := range n {
			g := make([]*dnode, len(xs))
			for j, x := range xs {
				g[j] = &x.kids[i]
			}
			b.push(strconv.Itoa(i), true)
			out[i] = b.many(g)
			b.pop()
			if b.bad != "" {
				return nil
			}
		}
		return out
	}
	for _, x := range xs {
		if x.kind == dStruct || x.kind == dList {
			return b.fail("a struct or list unified with a value of another kind")
		}
	}
	same := true
	for _, x := range xs[1:] {
		same = same && x.kind == xs[0].kind
	}
	switch {
	case same:
		// CUE keeps the first value and reports each different one against it.
		for _, x := range xs[1:] {
			eq, ok := x.equal(xs[0])
			if !ok {
				return b.fail("a number CUE would compare differently")
			}
			if !eq {
				b.conflict(fmt.Sprintf("conflicting values %s and %s", x.cue(), xs[0].cue()), xs[0], x)
			}
		}
	case len(xs) == 2:
		b.conflict(fmt.Sprintf("conflicting values %s and %s (mismatched types %s and %s)",
			xs[0].cue(), xs[1].cue(), kindName[xs[0].kind], kindName[xs[1].kind]), xs[0], xs[1])
	default:
		return b.fail("values of several kinds")
	}
	v, ok := xs[0].scalar()
	if !ok {
		return b.fail("a number out of range")
	}
	return v
}

// scalar is the Go value of a basic literal, as JSON decoding of the CUE value gives it.
func (n *dnode) scalar() (any, bool) {
	switch n.kind {
	case dString:
		return n.text, true
	case dInt, dFloat:
		f, ok := number(n.text)
		if n.neg {
			f = -f
		}
		return f, ok
	case dBool:
		return n.b, true
	}
	return nil, true
}

// number converts a number literal to the float64 JSON decoding of CUE's value gives.
func number(text string) (float64, bool) {
	if plainInt(text) {
		f, err := strconv.ParseFloat(text, 64)
		return f, err == nil
	}
	var info literal.NumInfo
	if err := literal.ParseNum(text, &info); err != nil {
		return 0, false
	}
	var d apd.Decimal
	if err := info.Decimal(&d); err != nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(d.String(), 64)
	return f, err == nil
}

// plainInt reports whether a literal is a decimal integer without separators or multiplier.
func plainInt(s string) bool {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decimal returns a number's exact value.
func (n *dnode) decimal() (*apd.Decimal, bool) {
	var info literal.NumInfo
	if err := literal.ParseNum(n.text, &info); err != nil {
		return nil, false
	}
	d := new(apd.Decimal)
	if err := info.Decimal(d); err != nil {
		return nil, false
	}
	if n.neg {
		d.Neg(d)
	}
	return d, true
}

// equal compares two scalars of the same kind as CUE does.
func (n *dnode) equal(m *dnode) (bool, bool) {
	switch n.kind {
	case dInt, dFloat:
		if n.neg == m.neg && n.text == m.text {
			return true, true
		}
		a, ok1 := n.decimal()
		b, ok2 := m.decimal()
		if !ok1 || !ok2 {
			return false, false
		}
		return a.Cmp(b) == 0, true
	case dString:
		return n.text == m.text, true
	case dBool:
		return n.b == m.b, true
	}
	return true, true
}

// cue writes a scalar as CUE's error messages do.
func (n *dnode) cue() string {
	switch n.kind {
	case dString:
		return literal.String.Quote(n.text)
	case dInt, dFloat:
		d, ok := n.decimal()
		if !ok {
			return n.text
		}
		return d.String()
	case dBool:
		return strconv.FormatBool(n.b)
	}
	return "null"
}

// schema levels: where a path stands relative to what #NamedVirtualMachine adds.
const (
	lvNone = iota
	lvRoot
	lvMetadata
	lvName
	lvSpec
	lvStatus
	lvScalar // apiVersion, kind
)

// kidIndex indexes the fields of a VM's large structs by name, built on first use, so that finding
// the positions of many fields of one struct stays linear.
type kidIndex struct {
	mu    sync.Mutex
	index map[*dnode]map[string][]int
}

// bigStruct is the number of fields from which a struct's fields are indexed.
const bigStruct = 16

// appendFields appends n's fields named name, in order (a field may be written twice).
func (x *kidIndex) appendFields(out []*dnode, n *dnode, name string) []*dnode {
	if len(n.kids) < bigStruct {
		for i := range n.kids {
			if n.kids[i].name == name {
				out = append(out, &n.kids[i])
			}
		}
		return out
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	m, ok := x.index[n]
	if !ok {
		m = make(map[string][]int, len(n.kids))
		for i := range n.kids {
			m[n.kids[i].name] = append(m[n.kids[i].name], i)
		}
		if x.index == nil {
			x.index = map[*dnode]map[string][]int{}
		}
		x.index[n] = m
	}
	for _, i := range m[name] {
		out = append(out, &n.kids[i])
	}
	return out
}

// fastPos answers as valuePos does for the CUE value: the position of the deepest element of the path
// that exists, by CUE's rule (cue.Value.Pos): a value written once is where its field (or list
// element) is written; a scalar written several times is where its first value is; a struct or list
// written several times is where the last of its values (the schema's, if it adds one) starts.
func (e *Engine) fastPos(fields []*dnode, files []*dfile, idx *kidIndex, path []string) diag.Position {
	fr := e.fast
	cur := fields
	level := lvNone
	if fr.canonical {
		level = lvRoot
	}
	for _, p := range path {
		var next []*dnode
		nextLevel := lvNone
		if i, err := strconv.Atoi(p); err == nil && allDigits(p) {
			for _, c := range cur {
				if c.kind == dList && i < len(c.kids) {
					next = append(next, &c.kids[i])
				}
			}
		} else {
			for _, c := range cur {
				if c.kind != dStruct {
					continue
				}
				next = idx.appendFields(next, c, p)
			}
			switch {
			case level == lvRoot && p == "metadata":
				nextLevel = lvMetadata
			case level == lvRoot && p == "spec":
				nextLevel = lvSpec
			case level == lvRoot && p == "status":
				nextLevel = lvStatus
			case level == lvRoot && (p == "apiVersion" || p == "kind"):
				nextLevel = lvScalar
			case level == lvMetadata && p == "name":
				nextLevel = lvName
			}
		}
		if len(next) == 0 && nextLevel != lvMetadata && nextLevel != lvName {
			break
		}
		cur, level = next, nextLevel
	}

	// The schema's conjuncts come after the data's.
	var schema []diag.Position
	switch level {
	case lvRoot:
		schema = []diag.Position{fr.rootPos}
	case lvMetadata:
		schema = []diag.Position{fr.namePos, fr.metadataPos} // metadata: name: ..., then metadata?: {...}
	case lvName:
		schema = []diag.Position{fr.namePos}
	case lvSpec:
		schema = []diag.Position{fr.specPos}
	case lvStatus:
		schema = []diag.Position{fr.statusPos}
	case lvScalar:
		schema = []diag.Position{{}} // a type: never the position given
	}
	if len(cur)+len(schema) == 1 {
		if len(cur) == 0 {
			return schema[0]
		}
		if c := cur[0]; c.label >= 0 {
			return files[c.file].position(c.label)
		}
		return files[cur[0].file].position(cur[0].off)
	}
	if len(cur) > 0 && cur[0].kind != dStruct && cur[0].kind != dList {
		return files[cur[0].file].position(cur[0].off)
	}
	if len(schema) > 0 {
		return schema[len(schema)-1]
	}
	last := cur[len(cur)-1]
	return files[last.file].position(last.off)
}
