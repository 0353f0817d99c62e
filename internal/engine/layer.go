package engine

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// Layer is a settings tree decoded from CUE, with the position of every field, so that a finding
// about a merged setting points at the file that set it.
type Layer struct {
	Value map[string]any
	pos   map[string]diag.Position
}

// Pos returns where the field at path was set, and whether this layer set it.
func (l *Layer) Pos(path ...string) (diag.Position, bool) {
	if l == nil || l.pos == nil {
		return diag.Position{}, false
	}
	p, ok := l.pos[strings.Join(path, "\x1f")]
	return p, ok
}

func lookup(v any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return v, true
}

// layer decodes a CUE value field by field, recording positions. A field in error is left out, so
// one mistake does not hide the rest of a declaration from the checks that follow (its error is
// reported by CUE validation).
func (e *Engine) layer(v cue.Value) *Layer {
	l := &Layer{pos: map[string]diag.Position{}}
	m, _ := e.decodeLoose(v, nil, l.pos).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	l.Value = m
	return l
}

// skip marks a value left out of a loose decoding.
type skip struct{}

func (e *Engine) decodeLoose(v cue.Value, path []string, pos map[string]diag.Position) any {
	if len(path) > 0 {
		if p, _ := e.position(v.Pos()); p.File != "" {
			pos[strings.Join(path, "\x1f")] = p
		}
	}
	// A struct or list with an error inside has kind bottom but still holds its good fields:
	// descend, and leave out only the leaves in error.
	kind := v.IncompleteKind()
	if kind == cue.StructKind || kind == cue.BottomKind {
		if it, err := v.Fields(); err == nil {
			m := map[string]any{}
			for it.Next() {
				k := it.Selector().Unquoted()
				if x := e.decodeLoose(it.Value(), append(path[:len(path):len(path)], k), pos); x != (skip{}) {
					m[k] = x
				}
			}
			if kind == cue.BottomKind && len(m) == 0 {
				// A leaf in error (a broken reference) also lists as a struct without fields: it must
				// not stand as {} over the value of a lower layer.
				return skip{}
			}
			return m
		}
	}
	if kind == cue.ListKind || kind == cue.BottomKind {
		if it, err := v.List(); err == nil {
			l := []any{}
			for i := 0; it.Next(); i++ {
				if x := e.decodeLoose(it.Value(), append(path[:len(path):len(path)], strconv.Itoa(i)), pos); x != (skip{}) {
					l = append(l, x)
				}
			}
			return l
		}
	}
	if v.Err() != nil || !v.IsConcrete() {
		return skip{}
	}
	var x any
	if err := v.Decode(&x); err != nil {
		return skip{}
	}
	return x
}

// Merge layers settings, later layers winning leaf by leaf; maps merge by key, lists are replaced.
// It returns the merged tree and, for each path, the layer that set it (for positions).
func Merge(layers ...*Layer) (map[string]any, func(path ...string) (diag.Position, bool)) {
	out := map[string]any{}
	for _, l := range layers {
		if l == nil {
			continue
		}
		mergeInto(out, l.Value)
	}
	pos := func(path ...string) (diag.Position, bool) {
		for i := len(layers) - 1; i >= 0; i-- {
			if p, ok := layers[i].Pos(path...); ok {
				return p, true
			}
		}
		return diag.Position{}, false
	}
	return out, pos
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
				dst[k] = dm
			}
			mergeInto(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// NewLayer wraps values that have no positions (built-in defaults).
func NewLayer(v map[string]any) *Layer { return &Layer{Value: v} }
