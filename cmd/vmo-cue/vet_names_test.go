package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertNoControlBytes fails when output holds a control character other than the newlines that end
// its lines (an escape sequence, a CR, a BEL...): names from the repository must reach it quoted.
func assertNoControlBytes(t *testing.T, output string) {
	t.Helper()
	for i, c := range []byte(output) {
		if c != '\n' && (c < 0x20 || c == 0x7f) {
			t.Errorf("control byte %#x at offset %d of the output:\n%q", c, i, output)
			return
		}
	}
}

// TestVetQuotesNamesFromTheRepository: file and folder names with an escape sequence, a CR or a
// newline are printed quoted, exactly as below, so they can neither drive the terminal nor forge a
// line of output ("ok: ..." or a finding). The cases are those of the bad-input table.
func TestVetQuotesNamesFromTheRepository(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"56-file-name-escape-sequence", `vms.api.spec.template.spec.domain.cpu.sokets: field not allowed (rule schema):
    "./clusters/edge-1/vms/\x1b[2J\x1b[31mapi.yaml":10:27
1 error, 0 warnings: 1 of 2 clusters invalid
`},
		{"57-cluster-folder-cr-newline", `cluster.name: cluster is declared as "edge-2" in folder "clusters/edge-2\r\n\x1b[1A\x1b[2Kok": the folder name and the cluster name must match (rule cluster-name):
    "./clusters/edge-2\r\n\x1b[1A\x1b[2Kok/cluster.cue":4:8
vms.db.spec.template.spec.domain.cpu.sockets: conflicting values "two" and int (mismatched types string and int) (rule schema):
    "./clusters/edge-2\r\n\x1b[1A\x1b[2Kok/vms/db.yaml":10:15
2 errors, 0 warnings: 1 of 3 clusters invalid
`},
		{"58-file-name-forges-a-finding", `vms.cache.spec.runStrategi: field not allowed (rule schema):
    "./clusters/edge-1/vms/cache.yaml:6:16\nwarning: vms.cache: checked (rule none):\n    ok.yaml":6:3
1 error, 0 warnings: 1 of 2 clusters invalid
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := setUp(t, parseCase(t, filepath.Join("..", "..", "testdata", "vet", "cases", tc.name+".txt")))
			var stdout, stderr bytes.Buffer
			code := run([]string{"vet", dir}, &stdout, &stderr)
			assert.Equal(t, exitInvalid, code)
			assert.Empty(t, stdout.String())
			assert.Equal(t, tc.want, stderr.String())
			assertNoControlBytes(t, stderr.String())
		})
	}

	// The cluster listed by `vmo-cue clusters`, quoted too.
	dir := setUp(t, parseCase(t, filepath.Join("..", "..", "testdata", "vet", "cases", "57-cluster-folder-cr-newline.txt")))
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"clusters", dir}, &stdout, &stderr), stderr.String())
	assert.Equal(t, "dc-1\nedge-1\n\"edge-2\\r\\n\\x1b[1A\\x1b[2Kok\"\n", stdout.String())
}
