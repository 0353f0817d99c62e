// Package fleetfs reads a fleet repository from disk, safely: it never follows a symlink out of the
// repository, refuses files over a size limit or not in UTF-8, and sorts what it finds into the shared
// CUE files at the root and, per cluster folder, the cluster's CUE and YAML files.
//
// The layout it reads:
//
//	fleet.cue, *.cue           package fleet: `fleet: {...}` shared by every cluster (root files)
//	clusters/<name>/*.cue      package fleet: the cluster's `cluster: {...}` and CUE `vms`
//	clusters/<name>/**.yaml    KubeVirt VirtualMachine YAML, multi-document allowed
package fleetfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// DefaultMaxFileSize is the largest file read (1 MiB): a VM definition is a few kilobytes.
const DefaultMaxFileSize = 1 << 20

// ClustersDir is the folder holding one folder per cluster.
const ClustersDir = "clusters"

// File is one file read from the repository.
type File struct {
	// Path is relative to the repository root, with forward slashes.
	Path string
	// Abs is the absolute path on disk.
	Abs  string
	Data []byte
}

// Cluster is one cluster folder.
type Cluster struct {
	Name string
	// Dir is the folder relative to the root ("clusters/<name>").
	Dir  string
	CUE  []File
	YAML []File
}

// Repo is what was read.
type Repo struct {
	// Root is the absolute path of the repository.
	Root string
	// CUE are the shared CUE files at the root.
	CUE      []File
	Clusters []*Cluster
	// Problems are files refused, and layout mistakes.
	Problems diag.List
}

// Cluster returns the cluster folder of that name, or nil.
func (r *Repo) Cluster(name string) *Cluster {
	for _, c := range r.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Options tune reading.
type Options struct {
	// MaxFileSize is the largest file accepted, in bytes (DefaultMaxFileSize if 0).
	MaxFileSize int64
}

// Read reads the repository at dir.
func Read(dir string, opts Options) (*Repo, error) {
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fleet directory %s: %w", dir, err)
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("fleet directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("fleet directory %s: not a directory", dir)
	}
	r := &Repo{Root: root}
	rd := reader{repo: r, opts: opts}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), ".cue") {
			if f, ok := rd.read(e.Name()); ok {
				r.CUE = append(r.CUE, f)
			}
		}
	}
	if err := rd.readClusters(); err != nil {
		return nil, err
	}
	return r, nil
}

type reader struct {
	repo *Repo
	opts Options
}

func (rd *reader) readClusters() error {
	r := rd.repo
	top := filepath.Join(r.Root, ClustersDir)
	entries, err := os.ReadDir(top)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", ClustersDir, err)
	}
	for _, e := range entries {
		rel := ClustersDir + "/" + e.Name()
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			rd.symlink(rel)
			continue
		}
		if !e.IsDir() {
			continue
		}
		c := &Cluster{Name: e.Name(), Dir: rel}
		if err := rd.walkCluster(c); err != nil {
			return err
		}
		r.Clusters = append(r.Clusters, c)
	}
	sort.Slice(r.Clusters, func(i, j int) bool { return r.Clusters[i].Name < r.Clusters[j].Name })
	return nil
}

func (rd *reader) walkCluster(c *Cluster) error {
	base := filepath.Join(rd.repo.Root, filepath.FromSlash(c.Dir))
	return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		relOS, _ := filepath.Rel(rd.repo.Root, p)
		rel := filepath.ToSlash(relOS)
		if err != nil {
			return fmt.Errorf("reading %s: %w", diag.Name(rel), diag.FileError(err))
		}
		if p != base && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			rd.symlink(rel)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		switch {
		case strings.HasSuffix(name, ".cue"):
			if filepath.Dir(p) != base {
				rd.repo.Problems.Errorf("layout", "", []diag.Position{{File: rel}},
					"CUE files of a cluster belong directly in %s, not in a subfolder (YAML files may be anywhere below it)", diag.Name(c.Dir+"/"))
				return nil
			}
			if f, ok := rd.read(rel); ok {
				c.CUE = append(c.CUE, f)
			}
		case strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".yml"):
			if f, ok := rd.read(rel); ok {
				c.YAML = append(c.YAML, f)
			}
		}
		return nil
	})
}

// symlink records a symlink: never followed; one that leads out of the repository is an error.
func (rd *reader) symlink(rel string) {
	abs := filepath.Join(rd.repo.Root, filepath.FromSlash(rel))
	target, err := filepath.EvalSymlinks(abs)
	inside := err == nil && (target == rd.repo.Root || strings.HasPrefix(target, rd.repo.Root+string(filepath.Separator)))
	if !inside {
		rd.repo.Problems.Errorf("symlink", "", []diag.Position{{File: rel}},
			"symlink points outside the repository: refused, not followed")
		return
	}
	rd.repo.Problems.Warnf("symlink", "", []diag.Position{{File: rel}},
		"symlink not followed: put the file itself in the repository")
}

// read reads one regular file, checking size and encoding.
func (rd *reader) read(rel string) (File, bool) {
	abs := filepath.Join(rd.repo.Root, filepath.FromSlash(rel))
	pos := []diag.Position{{File: rel}}
	st, err := os.Lstat(abs)
	if err != nil {
		rd.repo.Problems.Errorf("read", "", pos, "cannot read file: %v", diag.FileError(err))
		return File{}, false
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		rd.symlink(rel)
		return File{}, false
	}
	if st.Size() > rd.opts.MaxFileSize {
		rd.repo.Problems.Errorf("file-size", "", pos, "file is %d bytes, over the limit of %d bytes", st.Size(), rd.opts.MaxFileSize)
		return File{}, false
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		rd.repo.Problems.Errorf("read", "", pos, "cannot read file: %v", diag.FileError(err))
		return File{}, false
	}
	if line, col, bad := invalidUTF8(data); bad {
		rd.repo.Problems.Errorf("encoding", "", []diag.Position{{File: rel, Line: line, Col: col}}, "file is not valid UTF-8")
		return File{}, false
	}
	return File{Path: rel, Abs: abs, Data: data}, true
}

// invalidUTF8 finds the line and column of the first byte that is not UTF-8.
func invalidUTF8(data []byte) (line, col int, bad bool) {
	if utf8.Valid(data) {
		return 0, 0, false
	}
	line = 1
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		l := data
		if i >= 0 {
			l = data[:i]
		}
		if !utf8.Valid(l) {
			for j := 0; j < len(l); {
				r, n := utf8.DecodeRune(l[j:])
				if r == utf8.RuneError && n <= 1 {
					return line, utf8.RuneCount(l[:j]) + 1, true
				}
				j += n
			}
		}
		if i < 0 {
			break
		}
		data = data[i+1:]
		line++
	}
	return line, 1, true
}
