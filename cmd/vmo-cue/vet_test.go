package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badCase is one file of testdata/vet/cases: a header (exit code, expected fragments, set-up
// directives) and files written over the base fleet in testdata/vet/base.
type badCase struct {
	name     string
	exit     int
	want     []string
	args     []string
	symlinks [][2]string
	bigFiles map[string]int
	files    map[string][]byte
}

func parseCase(t *testing.T, path string) badCase {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	c := badCase{name: strings.TrimSuffix(filepath.Base(path), ".txt"), files: map[string][]byte{}, bigFiles: map[string]int{}}
	var current string
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		text := strings.TrimRight(string(line), "\n")
		if strings.HasPrefix(text, "-- ") && strings.HasSuffix(text, " --") {
			current = strings.TrimSuffix(strings.TrimPrefix(text, "-- "), " --")
			c.files[current] = nil
			continue
		}
		if current != "" {
			c.files[current] = append(c.files[current], line...)
			continue
		}
		key, val, _ := strings.Cut(text, ": ")
		switch key {
		case "exit":
			c.exit, err = strconv.Atoi(val)
			require.NoError(t, err)
		case "want":
			c.want = append(c.want, val)
		case "args":
			c.args = strings.Fields(val)
		case "symlink":
			from, to, _ := strings.Cut(val, " -> ")
			c.symlinks = append(c.symlinks, [2]string{from, to})
		case "bigfile":
			f, n, _ := strings.Cut(val, " ")
			c.bigFiles[f], err = strconv.Atoi(n)
			require.NoError(t, err)
		}
	}
	return c
}

// copyDir copies the base fleet.
func copyDir(t *testing.T, from, to string) {
	require.NoError(t, filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	}))
}

// setUp writes the case's fleet into a temporary directory inside this module (so that the fleet
// imports the module's own schemas, like fleet/ does).
func (c badCase) setUp(t *testing.T) string {
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	dir, err := filepath.Abs(tmp)
	require.NoError(t, err)
	copyDir(t, filepath.Join("..", "..", "testdata", "vet", "base"), dir)
	for name, data := range c.files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	for _, s := range c.symlinks {
		require.NoError(t, os.Symlink(s[1], filepath.Join(dir, filepath.FromSlash(s[0]))))
	}
	for name, size := range c.bigFiles {
		var b strings.Builder
		b.WriteString("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: big\n  annotations:\n")
		for i := 0; b.Len() < size; i++ {
			b.WriteString("    note-" + strconv.Itoa(i) + ": \"" + strings.Repeat("x", 64) + "\"\n")
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(b.String()), 0o644))
	}
	return dir
}

func TestVetBadInputs(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "vet", "cases", "*.txt"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 25, "the bad-input table must keep at least 25 cases")
	for _, path := range paths {
		c := parseCase(t, path)
		t.Run(c.name, func(t *testing.T) {
			dir := c.setUp(t)
			args := []string{"vet", dir}
			if c.args != nil {
				args = nil
				for _, a := range c.args {
					args = append(args, strings.ReplaceAll(a, "DIR", dir))
				}
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			out := stderr.String()
			t.Logf("exit %d\n%s", code, out)
			require.NotEmpty(t, c.want, "a case must expect message fragments")
			assert.Equal(t, c.exit, code, "exit code; output:\n%s", out)
			for _, w := range c.want {
				assert.Contains(t, out, w, "output:\n%s", out)
			}
		})
	}
}
