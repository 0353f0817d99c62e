// Package fleetfs reads a fleet repository from disk, safely, and is the only way the engine gets a
// file: it never follows a symlink (one leading out of the repository, or any under cue.mod, is an
// error), never opens anything but a regular file (a FIFO, device or socket is refused after an
// Lstat, unopened), refuses files over a size limit or not in UTF-8, and never reads above the
// repository's root (every access goes through an os.Root). It sorts what it finds into the shared
// CUE files at the root, the CUE module's files (cue.mod) and, per cluster folder, the cluster's CUE
// and YAML files.
//
// The layout it reads:
//
//	fleet.cue, *.cue           package fleet: `fleet: {...}` shared by every cluster (root files)
//	cue.mod/module.cue         the fleet's CUE module (optional)
//	cue.mod/{pkg,usr,gen}/**.cue  packages the fleet imports (vmo-cue.dev/vmo comes from the binary)
//	clusters/<name>/*.cue      package fleet: the cluster's `cluster: {...}` and CUE `vms`
//	clusters/<name>/**.yaml    KubeVirt VirtualMachine YAML, multi-document allowed
//	clusters/<name>/**/kustomization.yaml  a kustomize folder: it and every file below it are
//	                           kustomize input (internal/kustomize builds it), not VM YAML
package fleetfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	vmocue "github.com/vmo-cue/vmo-cue"
	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// DefaultMaxFileSize is the largest file read (1 MiB): a VM definition is a few kilobytes.
const DefaultMaxFileSize = 1 << 20

// ClustersDir is the folder holding one folder per cluster.
const ClustersDir = "clusters"

// ModDir is the CUE module's folder; ModuleFile is its module file.
const (
	ModDir     = "cue.mod"
	ModuleFile = ModDir + "/module.cue"
)

// VendoredModule is where `vmo-cue init` vendors the embedded module for upstream cue. It is never
// read: the binary provides those packages itself.
const VendoredModule = ModDir + "/pkg/" + vmocue.ModulePath

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
	// Kustomize are the cluster's kustomize folders (relative to the root): the topmost folders
	// below Dir holding a kustomization file. Their files are not in YAML.
	Kustomize []string
}

// KustomizationFiles are the names kustomize reads as a folder's kustomization.
var KustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func isKustomization(name string) bool {
	for _, k := range KustomizationFiles {
		if name == k {
			return true
		}
	}
	return false
}

// Repo is what was read.
type Repo struct {
	// Root is the absolute path of the repository.
	Root string
	// CUE are the shared CUE files at the root.
	CUE []File
	// Module are the CUE module's files: cue.mod/module.cue and the .cue files below cue.mod (its
	// other files are never opened), VendoredModule left out.
	Module   []File
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

// ModuleFile returns cue.mod/module.cue, or nil when the repository has none (or it was refused).
func (r *Repo) ModuleFile() *File {
	for i := range r.Module {
		if r.Module[i].Path == ModuleFile {
			return &r.Module[i]
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
	// Every access below goes through the os.Root: nothing above the repository is reachable, even
	// through a folder swapped for a symlink while it is read.
	fsys, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("fleet directory %s: %w", dir, err)
	}
	defer fsys.Close()
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		resolved = root
	}
	r := &Repo{Root: root}
	rd := reader{repo: r, problems: &r.Problems, opts: opts, root: fsys, resolved: resolved}
	entries, err := rd.readDir(".", nil)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", diag.Name(dir), diag.FileError(err))
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), ".cue") {
			if f, ok := rd.read(rd.root, e.Name()); ok {
				r.CUE = append(r.CUE, f)
			}
		}
	}
	if err := rd.readModule(); err != nil {
		return nil, err
	}
	if err := rd.readClusters(); err != nil {
		return nil, err
	}
	return r, nil
}

type reader struct {
	repo *Repo
	// problems is where findings go: the Repo's, or a cluster's own while clusters are read
	// concurrently (readClusters).
	problems *diag.List
	opts     Options
	root     *os.Root
	// resolved is the repository's path with symlinks resolved, to tell where a symlink leads.
	resolved string
}

// folder returns what a folder of the repository is: ok when it is a folder to walk; a symlink or
// anything else there is reported (a FIFO named like a folder is never opened).
func (rd *reader) folder(rel string) (fs.FileInfo, bool, error) {
	st, err := rd.root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", diag.Name(rel), diag.FileError(err))
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		rd.symlink(rel)
		return nil, false, nil
	case !st.IsDir():
		rd.problems.Errorf("layout", "", []diag.Position{{File: rel}}, "%s is not a folder: nothing read from it", diag.Name(rel))
		return nil, false, nil
	}
	return st, true, nil
}

// readModule reads cue.mod: its module file and every .cue file below it.
func (rd *reader) readModule() error {
	st, ok, err := rd.folder(ModDir)
	if !ok {
		return err
	}
	return rd.walk(ModDir, st, func(d *os.Root, rel string) {
		if strings.HasSuffix(rel, ".cue") {
			if f, ok := rd.read(d, rel); ok {
				rd.repo.Module = append(rd.repo.Module, f)
			}
		}
	})
}

func (rd *reader) readClusters() error {
	r := rd.repo
	st, ok, err := rd.folder(ClustersDir)
	if !ok {
		return err
	}
	entries, err := rd.readDir(ClustersDir, st)
	if err != nil {
		return fmt.Errorf("reading %s: %w", ClustersDir, err)
	}
	var clusters []*Cluster
	var folders []fs.FileInfo
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
		cst, err := rd.root.Lstat(rel)
		if err != nil {
			return fmt.Errorf("reading %s: %w", diag.Name(rel), diag.FileError(err))
		}
		clusters = append(clusters, &Cluster{Name: e.Name(), Dir: rel})
		folders = append(folders, cst)
	}
	// The cluster folders are read concurrently (a fleet of thousands of files spends its reading in
	// system calls), each with its own findings, joined in the folders' order.
	problems := make([]diag.List, len(clusters))
	errs := make([]error, len(clusters))
	var g errgroup.Group
	g.SetLimit(max(4, runtime.GOMAXPROCS(0)))
	for i, c := range clusters {
		g.Go(func() error {
			crd := *rd
			crd.problems = &problems[i]
			errs[i] = crd.walkCluster(c, folders[i])
			return nil
		})
	}
	_ = g.Wait()
	for i, c := range clusters {
		if errs[i] != nil {
			return errs[i]
		}
		*rd.problems = append(*rd.problems, problems[i]...)
		r.Clusters = append(r.Clusters, c)
	}
	sort.Slice(r.Clusters, func(i, j int) bool { return r.Clusters[i].Name < r.Clusters[j].Name })
	return nil
}

func (rd *reader) walkCluster(c *Cluster, st fs.FileInfo) error {
	err := rd.walk(c.Dir, st, func(d *os.Root, rel string) {
		name := rel[strings.LastIndexByte(rel, '/')+1:]
		switch {
		case isKustomization(name):
			c.Kustomize = append(c.Kustomize, rel[:strings.LastIndexByte(rel, '/')])
		case strings.HasSuffix(name, ".cue"):
			if rel != c.Dir+"/"+name {
				rd.problems.Errorf("layout", "", []diag.Position{{File: rel}},
					"CUE files of a cluster belong directly in %s, not in a subfolder (YAML files may be anywhere below it)", diag.Name(c.Dir+"/"))
				return
			}
			if f, ok := rd.read(d, rel); ok {
				c.CUE = append(c.CUE, f)
			}
		case strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".yml"):
			if f, ok := rd.read(d, rel); ok {
				c.YAML = append(c.YAML, f)
			}
		}
	})
	if err != nil || len(c.Kustomize) == 0 {
		return err
	}
	// Only the topmost kustomize folders are built: one below another is a base of the outer one.
	sort.Strings(c.Kustomize)
	top := c.Kustomize[:0]
	for _, k := range c.Kustomize {
		if !slices.ContainsFunc(top, func(t string) bool { return inFolder(k, t) }) {
			top = append(top, k)
		}
	}
	c.Kustomize = top
	// A kustomize folder's files are kustomize's input (resources, patches, bases), not VMs.
	yaml := c.YAML[:0]
	for _, f := range c.YAML {
		if !slices.ContainsFunc(c.Kustomize, func(k string) bool { return inFolder(f.Path, k) }) {
			yaml = append(yaml, f)
		}
	}
	c.YAML = yaml
	return nil
}

// inFolder reports whether rel is the folder dir or below it.
func inFolder(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// walk calls file for everything below the folder dir (described by st) that is not a folder,
// in name order, with the folder holding it opened as a Root (its files are reached by their name
// alone, not by resolving the whole path again); hidden entries are skipped, symlinks reported and
// never followed, and VendoredModule is not entered.
func (rd *reader) walk(dir string, st fs.FileInfo, file func(d *os.Root, rel string)) error {
	entries, err := rd.readDir(dir, st)
	if err != nil {
		return fmt.Errorf("reading %s: %w", diag.Name(dir), diag.FileError(err))
	}
	d, err := rd.root.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", diag.Name(dir), diag.FileError(err))
	}
	defer d.Close()
	if dst, err := d.Stat("."); err != nil || !os.SameFile(st, dst) {
		return fmt.Errorf("reading %s: changed while being read", diag.Name(dir))
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rel := dir + "/" + e.Name()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			rd.symlink(rel)
		case e.IsDir():
			if rel == VendoredModule {
				continue
			}
			sub, err := d.Lstat(e.Name())
			if err != nil {
				return fmt.Errorf("reading %s: %w", diag.Name(rel), diag.FileError(err))
			}
			if !sub.IsDir() {
				return fmt.Errorf("reading %s: changed while being read", diag.Name(rel))
			}
			if err := rd.walk(rel, sub, file); err != nil {
				return err
			}
		default:
			file(d, rel)
		}
	}
	return nil
}

// readDir lists a folder, sorted by name. It is opened without following a symlink and as a
// directory (anything else fails at once, a FIFO included), and must be the folder the caller
// examined (st, when given).
func (rd *reader) readDir(rel string, st fs.FileInfo) ([]fs.DirEntry, error) {
	f, err := rd.root.OpenFile(rel, os.O_RDONLY|dirFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st != nil {
		if fst, err := f.Stat(); err != nil || !os.SameFile(st, fst) {
			return nil, fmt.Errorf("changed while being read")
		}
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, nil
}

// symlink records a symlink: never followed; one under cue.mod, or leading out of the repository,
// is an error.
func (rd *reader) symlink(rel string) {
	pos := []diag.Position{{File: rel}}
	if rel == ModDir || strings.HasPrefix(rel, ModDir+"/") {
		rd.problems.Errorf("symlink", "", pos, "symlink in cue.mod: refused, not followed (commit the files themselves)")
		return
	}
	target, err := filepath.EvalSymlinks(filepath.Join(rd.resolved, filepath.FromSlash(rel)))
	inside := err == nil && (target == rd.resolved || strings.HasPrefix(target, rd.resolved+string(filepath.Separator)))
	if !inside {
		rd.problems.Errorf("symlink", "", pos, "symlink points outside the repository: refused, not followed")
		return
	}
	rd.problems.Warnf("symlink", "", pos, "symlink not followed: put the file itself in the repository")
}

// read reads one regular file, rel, of the folder d, checking size and encoding. Anything else is
// refused before it is opened; the file opened (without following a symlink, and without blocking)
// must be the regular file examined.
func (rd *reader) read(d *os.Root, rel string) (File, bool) {
	pos := []diag.Position{{File: rel}}
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	st, err := d.Lstat(name)
	if err != nil {
		rd.problems.Errorf("read", "", pos, "cannot read file: %v", diag.FileError(err))
		return File{}, false
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		rd.symlink(rel)
		return File{}, false
	}
	if !st.Mode().IsRegular() {
		rd.problems.Errorf("file-type", "", pos, "not a regular file (%s): refused, never opened", kind(st.Mode()))
		return File{}, false
	}
	if !rd.sizeOK(rel, st.Size()) {
		return File{}, false
	}
	f, err := d.OpenFile(name, os.O_RDONLY|fileFlags, 0)
	if err != nil {
		rd.problems.Errorf("read", "", pos, "cannot read file: %v", diag.FileError(err))
		return File{}, false
	}
	defer f.Close()
	if fst, err := f.Stat(); err != nil || !os.SameFile(st, fst) || !fst.Mode().IsRegular() {
		rd.problems.Errorf("read", "", pos, "file changed while being read: refused")
		return File{}, false
	}
	// Room for the size examined (and bytes.MinRead more, so that a file of that size needs no
	// second buffer); a file that grew since is read up to the limit only.
	buf := bytes.NewBuffer(make([]byte, 0, st.Size()+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(f, rd.opts.MaxFileSize+1))
	data := buf.Bytes()
	if err != nil {
		rd.problems.Errorf("read", "", pos, "cannot read file: %v", err)
		return File{}, false
	}
	if !rd.sizeOK(rel, int64(len(data))) {
		return File{}, false
	}
	if line, col, bad := invalidUTF8(data); bad {
		rd.problems.Errorf("encoding", "", []diag.Position{{File: rel, Line: line, Col: col}}, "file is not valid UTF-8")
		return File{}, false
	}
	return File{Path: rel, Abs: filepath.Join(rd.repo.Root, filepath.FromSlash(rel)), Data: data}, true
}

func (rd *reader) sizeOK(rel string, size int64) bool {
	if size <= rd.opts.MaxFileSize {
		return true
	}
	rd.problems.Errorf("file-size", "", []diag.Position{{File: rel}}, "file is %d bytes, over the limit of %d bytes", size, rd.opts.MaxFileSize)
	return false
}

// kind names what a file that is not regular is.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	}
	return "an irregular file"
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
