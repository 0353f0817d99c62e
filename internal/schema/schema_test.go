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
