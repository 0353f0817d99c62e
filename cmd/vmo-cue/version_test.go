package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
)

func TestMinorsOf(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"none", nil, ""},
		{"numeric, not text, order", []string{"v1.10", "v1.9", "v1.4"}, "v1.4, v1.9, v1.10"},
		{"majors first", []string{"v2.0", "v1.66"}, "v1.66, v2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]map[string]engine.GateState{}
			for _, k := range tt.in {
				m[k] = nil
			}
			assert.Equal(t, tt.want, minorsOf(m))
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	root := newRootCmd(nil)
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	require.NoError(t, root.Execute())
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	require.Len(t, lines, 3, out.String())
	assert.Regexp(t, `^vmo-cue \S+ \(go1\.\d+`, string(lines[0]))
	assert.Contains(t, string(lines[1]), "KubeVirt versions (feature-gate tables): v1.4, v1.5, v1.6, v1.7, v1.8")
	assert.Regexp(t, `^CDI versions \(feature-gate tables\): v1\.\d+`, string(lines[2]))

	out.Reset()
	version = "v9.9.9"
	defer func() { version = "" }()
	root = newRootCmd(nil)
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	require.NoError(t, root.Execute())
	assert.Equal(t, "vmo-cue v9.9.9\n", out.String())
}
