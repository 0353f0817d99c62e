package yamldoc

// The fast reader: most manifests are written in a small part of YAML (block mappings and sequences,
// one-line flow collections, plain and quoted one-line scalars, literal blocks). fastDecode reads
// that part straight into values, without yaml.v3's node trees, which made decoding a 10,000-VM
// fleet in YAML cost twice its CUE form. Anything it is not certain to read exactly as yaml.v3 and
// the converter do (anchors, aliases, tags, merge keys, folded or multi-line scalars, numbers other
// than plain decimal integers, a duplicate key, a syntax error, ...) makes it give up on the whole
// file, which is then decoded by yaml.v3: the values, findings and positions are yaml.v3's either way
// (positions always come from yaml.v3, parsed again when a finding asks for one; FuzzFastDecodeAsV3
// holds the two to the same documents and positions).
//
// What a fleet's YAML costs is allocation: keys and most scalars are substrings of the file's bytes
// (not copied), mappings and sequences are built once at their size from a stack of entries, small
// numbers are boxed once, and a reader's lines and stacks are reused for the next file.

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// errGiveUp stops the fast reader: the file is decoded by yaml.v3.
type errGiveUp struct{}

type line struct {
	start, end int // the line's bytes, without its newline
	indent     int // leading spaces
	blank      bool
	comment    bool // only a comment
}

type fastReader struct {
	data []byte
	// text is data as a string (the same memory): keys and plain or unescaped quoted scalars are
	// substrings of it, not a string allocated each.
	text  string
	lines []line
	nodes int
	// pairs and items are the entries of the mappings and sequences being read (a stack: nested
	// collections push above their parent's and pop back), so that each collection is allocated once
	// at its size.
	pairs []pair
	items []any
}

type pair struct {
	key string
	val any
}

// fastDecode returns the file's documents (values only), or false when the file is not in the part
// of YAML it reads.
func fastDecode(file string, data []byte, lazy *lazyFile) (docs []*Doc, ok bool) {
	if len(data) > 0 && !utf8.Valid(data) || !printable(data) {
		return nil, false
	}
	r := readers.Get().(*fastReader)
	// data's bytes as a string, not a copy: Decode's caller leaves data unchanged (the documents'
	// positions are parsed again from it), so the values may share its memory.
	r.data, r.text = data, unsafe.String(unsafe.SliceData(data), len(data))
	defer r.release()
	if !r.split() {
		return nil, false
	}
	defer func() {
		if x := recover(); x != nil {
			if _, give := x.(errGiveUp); !give {
				panic(x)
			}
			docs, ok = nil, false
		}
	}()
	// Documents are separated by `---` lines.
	index, from := 0, 0
	for i := 0; i <= len(r.lines); i++ {
		if i < len(r.lines) && !r.isMarker(i) {
			continue
		}
		empty := r.next(from, i) == i
		switch {
		case empty && from == 0 && i < len(r.lines):
			// a leading `---`: the first document starts after it
		case empty && i == len(r.lines):
			// nothing after the last `---` (or an empty file)
		case empty:
			return nil, false // an empty document between two others
		default:
			v := r.document(from, i)
			docs = append(docs, &Doc{File: file, Index: index, Value: v, file: lazy})
			index++
		}
		from = i + 1
	}
	return docs, true
}

func giveUp() { panic(errGiveUp{}) }

// printable reports whether valid UTF-8 data holds only what yaml.v3 reads as printable text, with
// no line break but '\n': not a control character (a tab aside), CR, NEL, U+2028, U+2029, a byte
// order mark, U+FFFE or U+FFFF.
func printable(data []byte) bool {
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			continue
		}
		switch {
		case c < 0x80:
			return false // a control character, CR, DEL
		case c == 0xc2 && i+1 < len(data) && data[i+1] < 0xa0:
			return false // C1 controls, NEL
		case c == 0xe2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9):
			return false // line and paragraph separators
		case c == 0xef && i+2 < len(data) && (data[i+1] == 0xbb && data[i+2] == 0xbf || data[i+1] == 0xbf && data[i+2] >= 0xbe):
			return false // a byte order mark, U+FFFE, U+FFFF
		}
	}
	return true
}

// readers keeps fastReaders for the next file: their lines and stacks are scratch space, reused
// rather than allocated again for each of a fleet's thousands of files.
var readers = sync.Pool{New: func() any { return &fastReader{} }}

// release returns the reader to readers, holding nothing of the file.
func (r *fastReader) release() {
	if cap(r.lines) > 1<<16 {
		r.lines = nil // a large file's: not kept
	}
	clear(r.pairs[:cap(r.pairs)])
	clear(r.items[:cap(r.items)])
	*r = fastReader{lines: r.lines[:0], pairs: r.pairs[:0], items: r.items[:0]}
	readers.Put(r)
}

// split cuts the data into lines; false for what the reader does not take anywhere (a directive,
// a document end marker, a tab where indentation is).
func (r *fastReader) split() bool {
	d := r.data
	if n := bytes.Count(d, []byte{'\n'}) + 1; cap(r.lines) < n {
		r.lines = make([]line, 0, n)
	}
	for s := 0; s < len(d); {
		e := bytes.IndexByte(d[s:], '\n')
		if e < 0 {
			e = len(d)
		} else {
			e += s
		}
		l := line{start: s, end: e}
		i := s
		for i < e && d[i] == ' ' {
			i++
		}
		l.indent = i - s
		switch {
		case i == e:
			l.blank = true
		case d[i] == '\t':
			return false // a tab in indentation, or a line of only whitespace with a tab: yaml.v3 decides
		case d[i] == '#':
			l.comment = true
		}
		if l.indent == 0 && e > s && (d[s] == '%' || bytes.HasPrefix(d[s:e], []byte("..."))) {
			return false
		}
		r.lines = append(r.lines, l)
		s = e + 1
	}
	return true
}

func (r *fastReader) lineText(i int) []byte {
	return r.data[r.lines[i].start+r.lines[i].indent : r.lines[i].end]
}

// isMarker reports a `---` line (a document start, nothing after it but a comment).
func (r *fastReader) isMarker(i int) bool {
	l := r.lines[i]
	t := r.data[l.start:l.end]
	if !bytes.HasPrefix(t, []byte("---")) {
		return false
	}
	rest := t[3:]
	if len(rest) > 0 && rest[0] != ' ' {
		return false
	}
	if rest = bytes.TrimLeft(rest, " "); len(rest) > 0 && rest[0] != '#' {
		giveUp() // content on the marker line
	}
	return true
}

// next returns the first line from i (before end) that is neither blank nor only a comment, or end.
func (r *fastReader) next(i, end int) int {
	for i < end && (r.lines[i].blank || r.lines[i].comment) {
		i++
	}
	return i
}

func (r *fastReader) count() {
	r.nodes++
	if r.nodes > MaxNodes {
		giveUp()
	}
}

// document reads the lines [from, end): one block mapping or sequence.
func (r *fastReader) document(from, end int) any {
	i := r.next(from, end)
	ind := r.lines[i].indent
	var v any
	if isEntry(r.lineText(i)) {
		v, i = r.sequence(i, end, ind)
	} else {
		v, i = r.mapping(i, end, ind, r.lines[i].start+ind)
	}
	if r.next(i, end) != end {
		giveUp() // less indented than the top level, or a scalar document
	}
	return v
}

// isEntry reports a sequence entry: `-` then a space or the end of the line.
func isEntry(t []byte) bool { return len(t) > 0 && t[0] == '-' && (len(t) == 1 || t[1] == ' ') }

// mapping reads a block mapping whose keys are at column ind; its first key starts at byte at of
// line i (mid-line after `- `). It returns the mapping and the line after it.
func (r *fastReader) mapping(i, end, ind, at int) (map[string]any, int) {
	r.count()
	base := len(r.pairs)
	first := true
	for {
		if !first {
			i = r.next(i, end)
			if i == end || r.lines[i].indent < ind {
				return r.mapOf(base), i
			}
			if r.lines[i].indent > ind || isEntry(r.lineText(i)) {
				if r.lines[i].indent == ind {
					return r.mapOf(base), i // a sequence at a parent mapping's indent ends this item's mapping
				}
				giveUp()
			}
			at = r.lines[i].start + ind
		}
		first = false
		t := r.data[at:r.lines[i].end]
		key, rest := r.blockKey(t)
		if key == "<<" {
			giveUp()
		}
		var v any
		v, i = r.value(rest, i, end, ind)
		r.pairs = append(r.pairs, pair{key, v})
	}
}

// mapOf pops the pairs above base into a mapping; a duplicate key gives up.
func (r *fastReader) mapOf(base int) map[string]any {
	m := make(map[string]any, len(r.pairs)-base)
	for _, p := range r.pairs[base:] {
		m[p.key] = p.val
	}
	if len(m) != len(r.pairs)-base {
		giveUp() // a duplicate key
	}
	clear(r.pairs[base:]) // no values kept alive by the stack
	r.pairs = r.pairs[:base]
	return m
}

// listOf pops the items above base into a sequence.
func (r *fastReader) listOf(base int) []any {
	l := make([]any, len(r.items)-base)
	copy(l, r.items[base:])
	clear(r.items[base:])
	r.items = r.items[:base]
	return l
}

// str returns p, a part of data, as the same part of text (no allocation).
func (r *fastReader) str(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	off := cap(r.data) - cap(p)
	if off < 0 || off+len(p) > len(r.data) || &r.data[off] != &p[0] {
		return string(p) // not a part of data (never, but a copy is right anyway)
	}
	return r.text[off : off+len(p)]
}

// blockKey splits `key: rest` (the key plain or quoted); rest starts after the colon's spaces.
func (r *fastReader) blockKey(t []byte) (string, []byte) {
	var key string
	var n int
	switch {
	case len(t) == 0:
		giveUp()
	case t[0] == '"' || t[0] == '\'':
		key, n = r.quoted(t)
		if n >= len(t) || t[n] != ':' {
			giveUp()
		}
	default:
		if !plainStart(t[0]) {
			giveUp()
		}
		n = colon(t)
		if n < 0 {
			giveUp()
		}
		k := bytes.TrimRight(t[:n], " ")
		if bytes.Contains(k, []byte(" #")) || bytes.IndexByte(k, '\t') >= 0 {
			giveUp()
		}
		key = r.str(k)
	}
	rest := t[n+1:]
	if len(rest) > 0 && rest[0] != ' ' {
		giveUp()
	}
	return key, bytes.TrimLeft(rest, " ")
}

// colon returns the index of the colon that ends a plain key (followed by a space or the line's
// end), or -1.
func colon(t []byte) int {
	for j := 0; j < len(t); j++ {
		if t[j] == ':' && (j+1 == len(t) || t[j+1] == ' ') {
			return j
		}
	}
	return -1
}

// plainStart reports whether a plain scalar may start with c (no indicator).
func plainStart(c byte) bool {
	switch c {
	case '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ':
		return false
	}
	return true
}

// value reads what follows `key:` or `- ` on line i, for a collection at column ind: a nested block,
// a one-line scalar or flow collection, or a literal block. It returns the line after it.
func (r *fastReader) value(rest []byte, i, end, ind int) (any, int) {
	if len(rest) == 0 || rest[0] == '#' {
		// Nothing on the line: a nested block, or a sequence at the mapping's indent, or null.
		j := r.next(i+1, end)
		switch {
		case j < end && r.lines[j].indent > ind:
			if isEntry(r.lineText(j)) {
				return r.sequence(j, end, r.lines[j].indent)
			}
			return r.mapping(j, end, r.lines[j].indent, r.lines[j].start+r.lines[j].indent)
		case j < end && r.lines[j].indent == ind && isEntry(r.lineText(j)):
			return r.sequence(j, end, ind)
		}
		r.count()
		return nil, i + 1
	}
	if rest[0] == '|' {
		return r.literal(rest, i, end, ind)
	}
	r.count()
	var v any
	var n int
	switch rest[0] {
	case '{', '[':
		v, n = r.flow(rest, 0)
	default:
		v, n = r.scalarValue(rest, inBlock)
	}
	if !comment(rest[n:]) {
		giveUp()
	}
	if j := r.next(i+1, end); j < end && r.lines[j].indent > ind {
		giveUp() // a scalar continued on the next lines, or a syntax error
	}
	return v, i + 1
}

// comment reports whether t is empty, or spaces and then a comment or nothing.
func comment(t []byte) bool {
	if len(t) == 0 {
		return true
	}
	if t[0] != ' ' {
		return false
	}
	t = bytes.TrimLeft(t, " ")
	return len(t) == 0 || t[0] == '#'
}

// sequence reads a block sequence whose `-` are at column ind.
func (r *fastReader) sequence(i, end, ind int) ([]any, int) {
	r.count()
	base := len(r.items)
	for {
		i = r.next(i, end)
		if i == end || r.lines[i].indent < ind {
			return r.listOf(base), i
		}
		t := r.lineText(i)
		if r.lines[i].indent > ind {
			giveUp()
		}
		if !isEntry(t) {
			return r.listOf(base), i // a key of the mapping this sequence is the value of
		}
		rest := t[1:]
		col := ind + 1
		for len(rest) > 0 && rest[0] == ' ' {
			rest, col = rest[1:], col+1
		}
		var v any
		switch {
		case len(rest) == 0 || rest[0] == '#':
			if j := r.next(i+1, end); j < end && r.lines[j].indent > ind {
				v, i = r.value(nil, i, end, ind) // a collection below the entry
			} else {
				r.count() // null: an entry at the same indent is the next one, not a nested sequence
				v, i = nil, i+1
			}
		case isEntry(rest):
			giveUp() // `- - x`
		case r.isKey(rest):
			v, i = r.mapping(i, end, col, r.lines[i].start+col)
		default:
			v, i = r.value(rest, i, end, ind)
		}
		r.items = append(r.items, v)
	}
}

// isKey reports whether a sequence entry's text starts a mapping (`key: ...`).
func (r *fastReader) isKey(t []byte) bool {
	if t[0] == '"' || t[0] == '\'' {
		_, n := r.quoted(t)
		return n < len(t) && t[n] == ':'
	}
	if t[0] == '{' || t[0] == '[' {
		return false
	}
	return colon(t) >= 0
}

// literal reads a literal block scalar (`|` or `|-`) of a collection at column ind.
func (r *fastReader) literal(rest []byte, i, end, ind int) (any, int) {
	r.count()
	strip := false
	h := rest[1:]
	if len(h) > 0 && h[0] == '-' {
		strip, h = true, h[1:]
	}
	if len(h) > 0 && h[0] != ' ' || !comment(h) {
		giveUp() // keep (+), an indentation indicator, or text after the header
	}
	j := i + 1
	if j >= end || r.lines[j].blank || r.lines[j].indent <= ind {
		giveUp() // empty, or leading blank lines
	}
	bi := r.lines[j].indent
	var b []byte
	last := j
	for ; j < end; j++ {
		l := r.lines[j]
		if l.blank {
			if l.end-l.start > bi {
				giveUp() // spaces beyond the block's indentation on an empty line
			}
			continue
		}
		if l.indent < bi {
			break
		}
		for k := last + 1; k < j; k++ {
			b = append(b, '\n') // the empty lines between
		}
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, r.data[l.start+bi:l.end]...)
		last = j
	}
	if !strip {
		b = append(b, '\n')
	}
	return string(b), last + 1
}

// Where a scalar is read.
const (
	inBlock   = iota // a block value: up to a comment
	inFlow           // a flow value: up to `,`, `]` or `}`
	inFlowKey        // a flow key: up to `: `
)

// scalarValue reads a one-line scalar at the start of t: quoted, or plain up to where it ends.
// It returns the value and the bytes it took (a plain scalar's trailing spaces not included).
func (r *fastReader) scalarValue(t []byte, where int) (any, int) {
	if t[0] == '"' || t[0] == '\'' {
		return r.quoted(t)
	}
	inFlow := where != inBlock
	if !plainStart(t[0]) && !(t[0] == '-' && len(t) > 1 && t[1] != ' ' && t[1] != ',' && t[1] != ']' && t[1] != '}') {
		giveUp()
	}
	n := len(t)
	for j := 0; j < len(t); j++ {
		c := t[j]
		if c == '#' && j > 0 && t[j-1] == ' ' {
			n = j
			break
		}
		if inFlow && (c == ',' || c == ']' || c == '}' || c == '[' || c == '{') {
			n = j
			break
		}
		if c == ':' && (j+1 == len(t) || t[j+1] == ' ' || inFlow && (t[j+1] == ',' || t[j+1] == ']' || t[j+1] == '}')) {
			if where == inFlowKey && j+1 < len(t) && t[j+1] == ' ' {
				n = j
				break
			}
			giveUp() // a mapping where a scalar is expected
		}
		if c == '\t' {
			giveUp()
		}
	}
	p := bytes.TrimRight(t[:n], " ")
	if len(p) == 0 {
		giveUp()
	}
	if where == inFlowKey {
		return r.str(p), len(p) // a key is its text (the converter takes the node's value)
	}
	return r.resolve(p), len(p)
}

// resolve types a plain scalar as yaml.v3 and the converter do, or gives up where it is unsure.
func (r *fastReader) resolve(p []byte) any {
	switch string(p) {
	case "", "~", "null", "Null", "NULL":
		return nil
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF":
		giveUp() // booleans to YAML 1.1
	}
	c := p[0]
	if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' {
		if decimal(p) {
			if i, err := strconv.ParseInt(string(p), 10, 64); err == nil {
				if i >= 0 && i < int64(len(smallNumbers)) {
					return smallNumbers[i]
				}
				return float64(i)
			}
			giveUp()
		}
		if c == '+' || c == '.' || c == '-' && len(p) > 1 && (p[1] == '.' || p[1] >= '0' && p[1] <= '9') {
			giveUp() // a float, .inf, .nan, a signed number yaml.v3 may read
		}
		if c != '-' {
			for _, x := range p {
				if !bytes.ContainsRune([]byte("0123456789abcdefABCDEFxXoO_+-.:eE"), rune(x)) {
					return r.str(p) // not a number (16Gi, a version)
				}
			}
			giveUp() // a number in another notation, a date
		}
	}
	return r.str(p)
}

// smallNumbers are the values of 0 to 1023, boxed once: a number in a manifest is most often small.
var smallNumbers = func() (n [1024]any) {
	for i := range n {
		n[i] = float64(i)
	}
	return n
}()

// decimal reports a plain decimal integer: -?(0|[1-9][0-9]*), at most 18 digits.
func decimal(p []byte) bool {
	if p[0] == '-' {
		p = p[1:]
	}
	if len(p) == 0 || len(p) > 18 || len(p) > 1 && p[0] == '0' {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// quoted reads a one-line quoted scalar at the start of t and returns it and the bytes it took.
func (r *fastReader) quoted(t []byte) (string, int) {
	q := t[0]
	// Most quoted scalars hold no escape: they are their text.
	for j := 1; j < len(t); j++ {
		c := t[j]
		if c == q && (q == '"' || j+1 == len(t) || t[j+1] != '\'') {
			return r.str(t[1:j]), j + 1
		}
		if c == '\\' && q == '"' || c == q || c == '\t' {
			break
		}
	}
	var b []byte
	for j := 1; j < len(t); j++ {
		c := t[j]
		switch {
		case c == q && q == '\'' && j+1 < len(t) && t[j+1] == '\'':
			b = append(b, '\'')
			j++
		case c == q:
			return string(b), j + 1
		case c == '\\' && q == '"':
			if j+1 >= len(t) {
				giveUp()
			}
			j++
			switch t[j] {
			case '\\', '"', '/':
				b = append(b, t[j])
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			default:
				giveUp()
			}
		case c == '\t':
			giveUp()
		default:
			b = append(b, c)
		}
	}
	giveUp() // continued on the next line
	return "", 0
}

// flow reads a one-line flow collection at t[i] and returns it and the index after it.
func (r *fastReader) flow(t []byte, i int) (any, int) {
	r.count()
	closer := byte('}')
	if t[i] == '[' {
		closer = ']'
	}
	pairs, items := len(r.pairs), len(r.items)
	n := 0 // entries read
	i++
	for {
		i = skipSpaces(t, i)
		if i >= len(t) {
			giveUp() // continued on the next line
		}
		if t[i] == closer && n == 0 {
			break
		}
		var key string
		if closer == '}' {
			k, n := r.scalarValue(t[i:], inFlowKey)
			ks, ok := k.(string)
			if !ok || i+n >= len(t) || t[i+n] != ':' || i+n+1 < len(t) && t[i+n+1] != ' ' {
				giveUp()
			}
			if ks == "<<" {
				giveUp()
			}
			key = ks
			i = skipSpaces(t, i+n+1)
			if i >= len(t) {
				giveUp()
			}
		}
		var v any
		switch t[i] {
		case '{', '[':
			v, i = r.flow(t, i)
		default:
			r.count()
			var w int
			v, w = r.scalarValue(t[i:], inFlow)
			i += w
		}
		if closer == '}' {
			r.pairs = append(r.pairs, pair{key, v})
		} else {
			r.items = append(r.items, v)
		}
		n++
		i = skipSpaces(t, i)
		if i >= len(t) {
			giveUp()
		}
		if t[i] == closer {
			break
		}
		if t[i] != ',' {
			giveUp()
		}
		i++
		if j := skipSpaces(t, i); j < len(t) && t[j] == closer {
			giveUp() // a trailing comma
		}
	}
	if closer == '}' {
		return r.mapOf(pairs), i + 1
	}
	return r.listOf(items), i + 1
}

func skipSpaces(t []byte, i int) int {
	for i < len(t) && t[i] == ' ' {
		i++
	}
	return i
}
