package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// badCase is one file of testdata/vet/cases (see internal/testfleet).
type badCase = testfleet.Case

func parseCase(t *testing.T, path string) badCase {
	c, err := testfleet.ReadCase(path)
	require.NoError(t, err)
	return c
}

func copyDir(t *testing.T, from, to string) { require.NoError(t, testfleet.CopyDir(from, to)) }

// setUp writes the case's fleet into a temporary directory inside this module (so that the fleet
// imports the module's own schemas, like fleet/ does): the base fleet, then the case over it.
func setUp(t *testing.T, c badCase) string {
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	dir, err := filepath.Abs(tmp)
	require.NoError(t, err)
	copyDir(t, filepath.Join("..", "..", "testdata", "vet", "base"), dir)
	require.NoError(t, c.WriteOver(dir))
	return dir
}

func TestVetBadInputs(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "vet", "cases", "*.txt"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 25, "the bad-input table must keep at least 25 cases")
	for _, path := range paths {
		c := parseCase(t, path)
		t.Run(c.Name, func(t *testing.T) {
			dir := setUp(t, c)
			args := []string{"vet", dir}
			if c.Args != nil {
				args = nil
				for _, a := range c.Args {
					args = append(args, strings.ReplaceAll(a, "DIR", dir))
				}
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			out := stderr.String()
			t.Logf("exit %d\n%s", code, out)
			require.NotEmpty(t, c.Want, "a case must expect message fragments")
			assert.Equal(t, c.Exit, code, "exit code; output:\n%s", out)
			for _, w := range c.Want {
				assert.Contains(t, out, w, "output:\n%s", out)
			}
			assertNoControlBytes(t, stdout.String()+out)
		})
	}
}
