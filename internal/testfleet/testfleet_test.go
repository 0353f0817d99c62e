package testfleet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadCaseRefusesWhatWouldDropAnExpectation(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"a misspelt header", "exit: 1\nwnat: undefined field\n", `case.txt:2: unknown header "wnat: undefined field"`},
		{"no exit", "want: ok\n", "case.txt: no exit: header"},
		{"an exit that is not a number", "exit: one\n", "case.txt:1: exit:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "case.txt")
			require.NoError(t, os.WriteFile(p, []byte(tc.text), 0o644))
			_, err := ReadCase(p)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestReadCaseQuotedFileNames(t *testing.T) {
	p := filepath.Join(t.TempDir(), "case.txt")
	require.NoError(t, os.WriteFile(p, []byte("exit: 1\nwant: x\n-- \"vms/a\\x1b[2J\\r\\nb.yaml\" --\nkind: VirtualMachine\n-- plain.yaml --\n"), 0o644))
	c, err := ReadCase(p)
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"vms/a\x1b[2J\r\nb.yaml": []byte("kind: VirtualMachine\n"), "plain.yaml": nil}, c.Files)

	require.NoError(t, os.WriteFile(p, []byte("exit: 1\n-- \"vms/a\\q.yaml\" --\n"), 0o644))
	_, err = ReadCase(p)
	assert.ErrorContains(t, err, "case.txt:2: file name: invalid syntax")
}
