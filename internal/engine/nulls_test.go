package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nullVM is what `virtctl create vm` and `kubectl get -o yaml` print: nulls KubeVirt accepts.
const nullVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
  creationTimestamp: null
spec:
  runStrategy: Always
  template:
    metadata:
    spec:
      domain:
        cpu: {sockets: 12}
        devices:
          disks:
            - disk:
              name: root
      volumes:
        - name: root
          containerDisk: {image: quay.io/containerdisks/fedora}
`

// YAML nulls are "not set" on every path: with no constraint on vms (fast path), on the general
// path, and held to a policy, which judges what is set and says `policy` only for its own findings.
func TestYAMLNullsOnEveryPath(t *testing.T) {
	for _, c := range []struct {
		name   string
		policy string
		noFast bool
		want   []string
	}{
		{name: "fast path"},
		{name: "general path", noFast: true},
		{name: "policy satisfied", policy: "package fleet\n\nvms: [string]: spec: template: spec: domain: cpu: sockets?: <=16\n"},
		{name: "policy satisfied, general path", noFast: true, policy: "package fleet\n\nvms: [string]: spec: template: spec: domain: cpu: sockets?: <=16\n"},
		{name: "policy broken", policy: "package fleet\n\nvms: [string]: spec: template: spec: domain: cpu: sockets?: <=8\n", want: []string{
			"vms.web.spec.template.spec.domain.cpu.sockets: invalid value 12 (out of bound <=8) (rule policy):\n    ./clusters/a/web.yaml:12:15\n    ./policy.cue:3:61",
		}},
		{name: "policy on a null field", policy: "package fleet\n\nvms: [string]: metadata: creationTimestamp?: string\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string][]byte{
				"fleet.cue":              []byte(rootCanonical),
				"clusters/a/cluster.cue": []byte(clusterA),
				"clusters/a/web.yaml":    []byte(nullVM),
			}
			if c.policy != "" {
				files["policy.cue"] = []byte(c.policy)
			}
			dir := writeFleet(t, t.TempDir(), "", files)
			f := evaluate(t, dir, c.noFast)
			require.Len(t, f.Clusters, 1)
			cl := f.Clusters[0]
			assert.Equal(t, c.want, append([]string(nil), findings(cl.OwnDiags)...))
			require.Len(t, cl.SourceVMs, 1)
			assert.Nil(t, cl.SourceVMs[0].Object["metadata"].(map[string]any)["creationTimestamp"], "the VM keeps its nulls")
			assert.Contains(t, cl.SourceVMs[0].Object["metadata"].(map[string]any), "creationTimestamp")
		})
	}
}

func TestWithoutNulls(t *testing.T) {
	obj := map[string]any{"a": nil, "b": map[string]any{"c": nil, "d": 1}, "l": []any{nil, map[string]any{"e": nil}}}
	assert.Equal(t, map[string]any{"b": map[string]any{"d": 1}, "l": []any{nil, map[string]any{}}}, withoutNulls(obj))
	assert.Contains(t, obj, "a", "the object itself is not changed")
	same := map[string]any{"a": 1, "l": []any{nil}}
	assert.Equal(t, same, withoutNulls(same))
}
