package engine

// withoutNulls returns obj without its null values, at any depth: what a YAML VM is to the fleet's
// own constraints on `vms`. The API server drops a null it is given for a field that is not nullable
// (creationTimestamp: null, an empty `- disk:`, an empty `template.metadata:`), KubeVirt's fields
// among them, and the Go schema check reads null as "not set"; so do the constraints. Left in, a
// null filled into CUE from Go becomes `_` (anything), which fails a concrete validation as
// "incomplete value _". A null element of a list stays (the caller encodes it as CUE's null): the
// list keeps its length, and positions by index stay those of the file. obj itself is returned
// when it holds no null field.
func withoutNulls(obj map[string]any) map[string]any {
	if !hasNull(obj) {
		return obj
	}
	out, _ := dropNulls(obj).(map[string]any)
	return out
}

func hasNull(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if e == nil || hasNull(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNull(e) {
				return true
			}
		}
	}
	return false
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if e != nil {
				out[k] = dropNulls(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = dropNulls(e)
		}
		return out
	}
	return v
}
