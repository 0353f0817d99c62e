// Package testfleet builds fleet repositories for tests: copies of a fleet, and the bad-input cases of
// testdata/vet/cases written over a base fleet. Only tests import it.
package testfleet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/txtar"
)

// CopyDir copies the tree at from into to (created if needed).
func CopyDir(from, to string) error {
	return filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
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
	})
}

// Case is one file of testdata/vet/cases, a txtar archive (github.com/rogpeppe/go-internal/txtar): its
// comment is the header (exit code, expected output fragments, arguments, symlinks and big files to
// make), its files are written over the base fleet, each after a line "-- NAME --" (NAME a Go string
// literal when it holds control characters).
type Case struct {
	Name     string
	Exit     int
	Want     []string
	Args     []string
	Symlinks [][2]string
	BigFiles map[string]int
	Files    map[string][]byte
}

// ReadCase reads a case file.
func ReadCase(path string) (Case, error) {
	a, err := txtar.ParseFile(path)
	if err != nil {
		return Case{}, err
	}
	c := Case{Name: strings.TrimSuffix(filepath.Base(path), ".txt"), Files: map[string][]byte{}, BigFiles: map[string]int{}}
	hasExit := false
	for n, text := range strings.Split(string(a.Comment), "\n") {
		key, val, _ := strings.Cut(text, ": ")
		switch key {
		case "exit":
			if c.Exit, err = strconv.Atoi(val); err != nil {
				return c, fmt.Errorf("%s:%d: exit: %w", path, n+1, err)
			}
			hasExit = true
		case "want":
			c.Want = append(c.Want, val)
		case "args":
			c.Args = strings.Fields(val)
		case "symlink":
			from, to, _ := strings.Cut(val, " -> ")
			c.Symlinks = append(c.Symlinks, [2]string{from, to})
		case "bigfile":
			f, size, _ := strings.Cut(val, " ")
			if c.BigFiles[f], err = strconv.Atoi(size); err != nil {
				return c, fmt.Errorf("%s:%d: bigfile: %w", path, n+1, err)
			}
		case "":
		default:
			// A misspelt header would drop an expectation and let the case pass.
			return c, fmt.Errorf("%s:%d: unknown header %q (exit, want, args, symlink, bigfile)", path, n+1, text)
		}
	}
	if !hasExit {
		return c, fmt.Errorf("%s: no exit: header", path)
	}
	line := 1 + bytes.Count(a.Comment, []byte("\n")) // of the next file's marker
	for _, f := range a.Files {
		name := f.Name
		if strings.HasPrefix(name, `"`) {
			// A name with control characters is written as a Go string: -- "vms/a\x1b[2J.yaml" --
			if name, err = strconv.Unquote(name); err != nil {
				return c, fmt.Errorf("%s:%d: file name: %w", path, line, err)
			}
		}
		c.Files[name] = nil // an empty file
		if len(f.Data) > 0 {
			c.Files[name] = f.Data
		}
		line += 1 + bytes.Count(f.Data, []byte("\n"))
	}
	return c, nil
}

// WriteOver writes the case's files, symlinks and big files into dir (usually a copy of the base).
func (c Case) WriteOver(dir string) error {
	for name, data := range c.Files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	for _, s := range c.Symlinks {
		if err := os.Symlink(s[1], filepath.Join(dir, filepath.FromSlash(s[0]))); err != nil {
			return err
		}
	}
	for name, size := range c.BigFiles {
		var b strings.Builder
		b.WriteString("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: big\n  annotations:\n")
		for i := 0; b.Len() < size; i++ {
			b.WriteString("    note-" + strconv.Itoa(i) + ": \"" + strings.Repeat("x", 64) + "\"\n")
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
