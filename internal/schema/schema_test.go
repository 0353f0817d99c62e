package schema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSchema = `{
  "type": "object",
  "required": ["spec"],
  "properties": {
    "spec": {"type": "object", "properties": {
      "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
      "strategy": {"type": "string", "enum": ["Stage", "LiveUpdate"]},
      "memory": {"x-kubernetes-int-or-string": true},
      "labels": {"type": "object", "additionalProperties": {"type": "string"}},
      "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
      "ports": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}}}
    }}
  }
}`

func TestValidate(t *testing.T) {
	var s Schema
	require.NoError(t, json.Unmarshal([]byte(testSchema), &s))
	require.NoError(t, s.Compile())
	tests := []struct {
		name string
		obj  string
		want []string // "path: message" fragments, in order
	}{
		{"valid", `{"spec": {"replicas": 3, "strategy": "Stage", "memory": "1Gi", "labels": {"a": "b"}, "raw": {"anything": [1]}, "ports": [{"name": "web"}]}}`, nil},
		{"int or string takes an int", `{"spec": {"memory": 1024}}`, nil},
		{"null is unset", `{"spec": {"replicas": null}}`, nil},
		{"unknown field", `{"spec": {"replica": 3}}`, []string{"spec.replica: field not allowed"}},
		{"wrong type", `{"spec": {"replicas": "two"}}`, []string{`spec.replicas: conflicting values "two" and int (mismatched types string and int)`}},
		{"float for int", `{"spec": {"replicas": 1.5}}`, []string{"spec.replicas: conflicting values 1.5 and int"}},
		{"bounds", `{"spec": {"replicas": 11}}`, []string{"spec.replicas: invalid value 11 (out of bound <=10)"}},
		{"enum", `{"spec": {"strategy": "Fast"}}`, []string{`spec.strategy: invalid value "Fast" (must be one of "Stage", "LiveUpdate")`}},
		{"map value type", `{"spec": {"labels": {"a": 1}}}`, []string{"spec.labels.a: conflicting values 1 and string"}},
		{"list item required and pattern", `{"spec": {"ports": [{"name": "Web"}, {}]}}`, []string{
			`spec.ports.0.name: invalid value "Web"`, "spec.ports.1.name: field is required but not present"}},
		{"required at the root", `{}`, []string{"spec: field is required but not present"}},
		{"every error at once", `{"spec": {"replica": 1, "strategy": 2}}`, []string{"spec.replica: field not allowed", "spec.strategy: conflicting values 2 and string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obj any
			require.NoError(t, json.Unmarshal([]byte(tt.obj), &obj))
			errs := s.Validate(obj)
			require.Len(t, errs, len(tt.want), "%v", errs)
			for i, w := range tt.want {
				got := strings.Join(errs[i].Path, ".") + ": " + errs[i].Message
				assert.Contains(t, got, w)
			}
		})
	}
}

// The rules of real CRDs beyond types: list sizes, list-map keys and sets, string length, nulls in
// lists and required fields, quantities' syntax and the CEL forms KubeVirt uses.
const crdRulesSchema = `{
  "type": "object",
  "properties": {
    "volumes": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
    "spread": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key", "when"],
      "items": {"type": "object", "required": ["key", "when"], "properties": {"key": {"type": "string"}, "when": {"type": "string"}}}},
    "users": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
    "maybe": {"type": "array", "items": {"type": "object", "nullable": true}},
    "path": {"type": "string", "maxLength": 5, "x-kubernetes-validations": [
      {"rule": "self.startsWith('/')", "message": "path must be absolute"},
      {"rule": "!self.contains('..')", "message": "no .."},
      {"rule": "self.size() > 1", "message": "not understood: left to the API server"}]},
    "readOnly": {"type": "boolean", "x-kubernetes-validations": [{"rule": "self == true", "message": "must be true"}]},
    "guest": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": "^[0-9]+(Mi|Gi)?$"},
    "need": {"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}, "b": {"type": "string", "nullable": true}}}
  }
}`

func TestValidateCRDRules(t *testing.T) {
	var s Schema
	require.NoError(t, json.Unmarshal([]byte(crdRulesSchema), &s))
	require.NoError(t, s.Compile())
	tests := []struct {
		name, obj string
		want      []string
	}{
		{"valid", `{"volumes": [{}, {}], "spread": [{"key": "a", "when": "x"}, {"key": "a", "when": "y"}], "users": ["a", "b"],
			"maybe": [null], "path": "/a", "readOnly": true, "guest": "2Gi", "need": {"a": "x", "b": null}}`, nil},
		{"too many items", `{"volumes": [{}, {}, {}]}`, []string{"volumes: invalid value [...] (does not satisfy list.MaxItems(2)): 3 items"}},
		{"list-map keys twice", `{"spread": [{"key": "a", "when": "x"}, {"key": "b", "when": "x"}, {"key": "a", "when": "x"}]}`,
			[]string{`spread.2: duplicate entry with key key="a",when="x": item 0 has it too (x-kubernetes-list-type: map)`}},
		{"a set's value twice", `{"users": ["a", "a"]}`, []string{`users.1: duplicate entry with value "a": item 0 has it too (x-kubernetes-list-type: set)`}},
		{"null in a list whose items are not nullable", `{"volumes": [null]}`, []string{"volumes.0: conflicting values null and struct (mismatched types null and struct)"}},
		{"too long", `{"path": "/abcdef"}`, []string{`path: invalid value "/abcdef" (does not satisfy strings.MaxRunes(5))`}},
		{"CEL rules", `{"path": "a/.."}`, []string{`path: path must be absolute (rule "self.startsWith('/')")`, `path: no .. (rule "!self.contains('..')")`}},
		{"CEL equality", `{"readOnly": false}`, []string{`readOnly: must be true (rule "self == true")`}},
		{"int-or-string string checked against the pattern", `{"guest": "2GB"}`, []string{`guest: invalid value "2GB" (out of bound =~"^[0-9]+(Mi|Gi)?$")`}},
		{"int-or-string number", `{"guest": 1024}`, nil},
		{"null for a required field that is not nullable", `{"need": {"a": null, "b": null}}`, []string{"need.a: field is required but not present"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obj any
			require.NoError(t, json.Unmarshal([]byte(tt.obj), &obj))
			var got []string
			for _, e := range s.Validate(obj) {
				got = append(got, strings.Join(e.Path, ".")+": "+e.Message)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
