package engine

import (
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

// Get returns the value at path in this layer.
func (l *Layer) Get(path ...string) (any, bool) {
	if l == nil {
		return nil, false
	}
	return lookup(l.Value, path)
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

// layer decodes a CUE value and records the positions of its fields.
func (e *Engine) layer(v cue.Value) *Layer {
	l := &Layer{pos: map[string]diag.Position{}}
	var m map[string]any
	if err := v.Decode(&m); err != nil {
		return l
	}
	l.Value = m
	e.recordPositions(v, nil, l.pos)
	return l
}

func (e *Engine) recordPositions(v cue.Value, path []string, out map[string]diag.Position) {
	if len(path) > 0 {
		if p, _ := e.position(v.Pos()); p.File != "" {
			out[strings.Join(path, "\x1f")] = p
		}
	}
	if v.IncompleteKind() != cue.StructKind {
		return
	}
	it, err := v.Fields()
	if err != nil {
		return
	}
	for it.Next() {
		e.recordPositions(it.Value(), append(path[:len(path):len(path)], it.Selector().Unquoted()), out)
	}
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
