// Package schema checks Kubernetes objects against the structural OpenAPI v3 schemas generated from
// the API Go types (schemas/crds, the same generator that writes the CUE definitions). It is the
// compiled form of the closed CUE definitions: an unknown field, a wrong type or a missing required
// field is an error, reported with the object path and in CUE's words, so that `vmo-cue vet` and
// upstream `cue vet` say the same thing about the same mistake — at a fraction of the cost.
package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Schema is the part of an OpenAPI v3 schema (apiextensions JSONSchemaProps) that structural
// schemas use.
type Schema struct {
	Type                 string             `json:"type,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	AdditionalProperties *SchemaOrBool      `json:"additionalProperties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Enum                 []any              `json:"enum,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	IntOrString          bool               `json:"x-kubernetes-int-or-string,omitempty"`
	PreserveUnknown      *bool              `json:"x-kubernetes-preserve-unknown-fields,omitempty"`
	EmbeddedResource     bool               `json:"x-kubernetes-embedded-resource,omitempty"`
	Format               string             `json:"format,omitempty"`
	Nullable             bool               `json:"nullable,omitempty"`
	MaxItems             *int64             `json:"maxItems,omitempty"`
	MaxLength            *int64             `json:"maxLength,omitempty"`
	// ListType and ListMapKeys: a "map" list's items are unique by their keys, a "set" list's items
	// are unique.
	ListType    string   `json:"x-kubernetes-list-type,omitempty"`
	ListMapKeys []string `json:"x-kubernetes-list-map-keys,omitempty"`
	// Validations are CEL rules; the forms in cel.go are checked, others are left to the API server.
	Validations []Rule `json:"x-kubernetes-validations,omitempty"`

	pattern *regexp.Regexp
	rules   []compiledRule
}

// Rule is one x-kubernetes-validations entry.
type Rule struct {
	Rule    string `json:"rule"`
	Message string `json:"message,omitempty"`
}

// SchemaOrBool is additionalProperties: a schema for map values, or false.
type SchemaOrBool struct {
	Schema *Schema
	Allows bool
}

// UnmarshalJSON reads either a boolean or a schema.
func (s *SchemaOrBool) UnmarshalJSON(b []byte) error {
	if string(b) == "true" || string(b) == "false" {
		s.Allows = string(b) == "true"
		return nil
	}
	s.Allows = true
	return json.Unmarshal(b, &s.Schema)
}

// MarshalJSON writes it back.
func (s SchemaOrBool) MarshalJSON() ([]byte, error) {
	if s.Schema != nil {
		return json.Marshal(s.Schema)
	}
	return json.Marshal(s.Allows)
}

// Compile prepares a schema tree for validation (its patterns). It returns the first
// invalid pattern as an error.
func (s *Schema) Compile() error {
	if s == nil {
		return nil
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return fmt.Errorf("pattern %q: %w", s.Pattern, err)
		}
		s.pattern = re
	}
	s.rules = compileRules(s.Validations)
	for name, p := range s.Properties {
		if err := p.Compile(); err != nil {
			return fmt.Errorf("%s.%w", name, err)
		}
	}
	if err := s.Items.Compile(); err != nil {
		return err
	}
	if s.AdditionalProperties != nil {
		return s.AdditionalProperties.Schema.Compile()
	}
	return nil
}

// Error is one violation at a path (map keys and list indexes, from the object's root).
type Error struct {
	Path    []string
	Message string
}

// Validate checks a decoded JSON/YAML value (maps, slices, strings, numbers, bools, nil) and returns
// every violation, in document order of the schema's fields.
func (s *Schema) Validate(v any) []Error {
	var errs []Error
	s.validate(v, nil, &errs)
	return errs
}

func (s *Schema) validate(v any, path []string, errs *[]Error) {
	add := func(format string, args ...any) {
		p := make([]string, len(path))
		copy(p, path)
		*errs = append(*errs, Error{Path: p, Message: fmt.Sprintf(format, args...)})
	}
	if v == nil {
		// null is "not set" for optional fields in Kubernetes objects (the API server drops a null
		// where the schema does not allow it).
		return
	}
	for _, r := range s.rules {
		if msg, bad := r.check(v); bad {
			add("%s (rule %s)", msg, r.rule)
		}
	}
	if s.IntOrString {
		switch x := v.(type) {
		case string:
			if s.pattern != nil && !s.pattern.MatchString(x) {
				add("invalid value %s (out of bound =~%q)", formatValue(v), s.Pattern)
			}
		case float64:
			if x != math.Trunc(x) {
				add("conflicting values %s and int | string (mismatched types float and int | string)", formatValue(v))
			}
		case int, int64:
		default:
			add("conflicting values %s and int | string (mismatched types %s and int | string)", formatValue(v), kindOf(v))
		}
		return
	}
	switch s.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			add("conflicting values %s and {...} (mismatched types %s and struct)", formatValue(v), kindOf(v))
			return
		}
		s.validateObject(m, path, errs, add)
	case "array":
		l, ok := v.([]any)
		if !ok {
			add("conflicting values %s and [...] (mismatched types %s and list)", formatValue(v), kindOf(v))
			return
		}
		if s.MaxItems != nil && int64(len(l)) > *s.MaxItems {
			add("invalid value [...] (does not satisfy list.MaxItems(%d)): %d items", *s.MaxItems, len(l))
		}
		if s.Items != nil {
			for i, item := range l {
				if item == nil && !s.Items.Nullable {
					add2 := append(path, strconv.Itoa(i))
					p := make([]string, len(add2))
					copy(p, add2)
					*errs = append(*errs, Error{Path: p, Message: fmt.Sprintf("conflicting values null and %s (mismatched types null and %s)", s.Items.cueType(), s.Items.cueType())})
					continue
				}
				s.Items.validate(item, append(path, strconv.Itoa(i)), errs)
			}
		}
		s.checkUnique(l, path, errs)
	case "string":
		str, ok := v.(string)
		if !ok {
			add("conflicting values %s and string (mismatched types %s and string)", formatValue(v), kindOf(v))
			return
		}
		if s.pattern != nil && !s.pattern.MatchString(str) {
			add("invalid value %s (out of bound =~%q)", formatValue(v), s.Pattern)
		}
		if s.MaxLength != nil && int64(len([]rune(str))) > *s.MaxLength {
			add("invalid value %s (does not satisfy strings.MaxRunes(%d))", formatValue(v), *s.MaxLength)
		}
		s.checkEnum(v, add)
	case "integer":
		f, ok := Number(v)
		if !ok || f != math.Trunc(f) {
			add("conflicting values %s and int (mismatched types %s and int)", formatValue(v), kindOf(v))
			return
		}
		s.checkBounds(f, v, add)
		s.checkEnum(v, add)
	case "number":
		f, ok := Number(v)
		if !ok {
			add("conflicting values %s and number (mismatched types %s and number)", formatValue(v), kindOf(v))
			return
		}
		s.checkBounds(f, v, add)
	case "boolean":
		if _, ok := v.(bool); !ok {
			add("conflicting values %s and bool (mismatched types %s and bool)", formatValue(v), kindOf(v))
		}
	}
}

func (s *Schema) validateObject(m map[string]any, path []string, errs *[]Error, add func(string, ...any)) {
	preserve := s.PreserveUnknown != nil && *s.PreserveUnknown
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := m[k]
		if p, ok := s.Properties[k]; ok {
			p.validate(val, append(path, k), errs)
			continue
		}
		if s.AdditionalProperties != nil {
			if s.AdditionalProperties.Schema != nil {
				s.AdditionalProperties.Schema.validate(val, append(path, k), errs)
				continue
			}
			if s.AdditionalProperties.Allows {
				continue
			}
		}
		if preserve || (s.Properties == nil && s.AdditionalProperties == nil) {
			continue
		}
		p := make([]string, len(path)+1)
		copy(p, path)
		p[len(path)] = k
		*errs = append(*errs, Error{Path: p, Message: "field not allowed"})
	}
	for _, r := range s.Required {
		if v, ok := m[r]; !ok || (v == nil && !s.Properties[r].nullable()) {
			p := make([]string, len(path)+1)
			copy(p, path)
			p[len(path)] = r
			*errs = append(*errs, Error{Path: p, Message: "field is required but not present"})
		}
	}
}

func (s *Schema) nullable() bool { return s != nil && s.Nullable }

// cueType names the schema's type as CUE does in its messages.
func (s *Schema) cueType() string {
	switch s.Type {
	case "object":
		return "struct"
	case "array":
		return "list"
	case "integer":
		return "int"
	case "boolean":
		return "bool"
	case "":
		return "_"
	}
	return s.Type
}

// checkUnique refuses two items of a "map" list with the same keys, or two equal items of a "set".
func (s *Schema) checkUnique(l []any, path []string, errs *[]Error) {
	if len(l) < 2 || (s.ListType != "map" && s.ListType != "set") {
		return
	}
	seen := make(map[string]int, len(l))
	for i, item := range l {
		var key, what string
		if s.ListType == "set" {
			b, _ := json.Marshal(item)
			key, what = string(b), "value "+string(b)
		} else {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			parts := make([]string, len(s.ListMapKeys))
			for j, k := range s.ListMapKeys {
				b, _ := json.Marshal(m[k])
				parts[j] = k + "=" + string(b)
			}
			key = strings.Join(parts, ",")
			what = "key " + key
		}
		if first, dup := seen[key]; dup {
			p := make([]string, len(path)+1)
			copy(p, path)
			p[len(path)] = strconv.Itoa(i)
			*errs = append(*errs, Error{Path: p, Message: fmt.Sprintf("duplicate entry with %s: item %d has it too (x-kubernetes-list-type: %s)", what, first, s.ListType)})
			continue
		}
		seen[key] = i
	}
}

func (s *Schema) checkBounds(f float64, v any, add func(string, ...any)) {
	if s.Minimum != nil && f < *s.Minimum {
		add("invalid value %s (out of bound >=%v)", formatValue(v), *s.Minimum)
	}
	if s.Maximum != nil && f > *s.Maximum {
		add("invalid value %s (out of bound <=%v)", formatValue(v), *s.Maximum)
	}
}

func (s *Schema) checkEnum(v any, add func(string, ...any)) {
	if len(s.Enum) == 0 {
		return
	}
	for _, e := range s.Enum {
		if fmt.Sprint(e) == fmt.Sprint(v) {
			return
		}
	}
	alts := make([]string, len(s.Enum))
	for i, e := range s.Enum {
		alts[i] = formatValue(e)
	}
	add("invalid value %s (must be one of %s)", formatValue(v), strings.Join(alts, ", "))
}

// Number reads a number as CUE and YAML decode it (int64, float64, ...); false if v is none.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

func kindOf(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case map[string]any:
		return "struct"
	case []any:
		return "list"
	case float64:
		if x == math.Trunc(x) {
			return "int"
		}
		return "float"
	case int, int64, uint64:
		return "int"
	}
	return fmt.Sprintf("%T", v)
}

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "{...}"
	case []any:
		return "[...]"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
