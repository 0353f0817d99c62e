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
