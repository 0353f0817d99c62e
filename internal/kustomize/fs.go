// Package kustomize builds a cluster's kustomize folders in-process with kustomize's krusty, and
// nothing else: no exec (no git, no helm), no remote base (a URL is refused at its line), no plugin
// (kustomize's plugins are disabled), and no file outside the repository. krusty reads from an
// in-memory file system holding the repository's regular files only, read through an os.Root
// (symlinks are never followed: one is absent from the tree and reported), so a `../../..` path
// names nothing that exists. Each object built carries the file and line it came from.
package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/yamldoc"
)

// MaxTreeSize bounds the bytes the tree holds (64 MiB): a fleet repository's manifests are far less.
const MaxTreeSize = 64 << 20

// Tree is the repository as kustomize sees it.
type Tree struct {
	mu  sync.Mutex // krusty writes nothing, but Build rewrites the root kustomization for a run
	mem filesys.FileSystem
	// Problems are files left out of the tree (symlinks, irregular or too large files).
	Problems diag.List
	// refused records the remote references found in kustomization files during a build.
	refused diag.List
}

// Load reads the regular files of the repository at root (hidden ones and .git left out) into the
// tree, each at most maxFile bytes.
func Load(root string, maxFile int64) (*Tree, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("kustomize: repository %s: %w", root, err)
	}
	defer r.Close()
	t := &Tree{mem: filesys.MakeFsInMemory()}
	total := int64(0)
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			t.Problems.Warnf("symlink", "", []diag.Position{{File: p}}, "symlink not followed by kustomize: put the file itself in the repository")
			return nil
		case !d.Type().IsRegular():
			return nil
		}
		f, err := r.OpenFile(p, os.O_RDONLY|noFollow, 0)
		if err != nil {
			return fmt.Errorf("kustomize: reading %s: %w", p, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
		if err != nil {
			return fmt.Errorf("kustomize: reading %s: %w", p, err)
		}
		if int64(len(data)) > maxFile {
			t.Problems.Warnf("file-size", "", []diag.Position{{File: p}}, "file over %d bytes: left out of what kustomize reads", maxFile)
			return nil
		}
		if total += int64(len(data)); total > MaxTreeSize {
			return fmt.Errorf("kustomize: repository %s holds over %d bytes of files", root, MaxTreeSize)
		}
		return t.mem.WriteFile("/"+p, data)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// guarded is the tree as krusty gets it: every kustomization file read is checked for remote
// references first.
type guarded struct {
	filesys.FileSystem
	t *Tree
	// root is the run's root kustomization, checked by Build before it is rewritten.
	root string
}

func (g guarded) ReadFile(p string) ([]byte, error) {
	data, err := g.FileSystem.ReadFile(p)
	if err != nil || !isKustomization(path.Base(p)) || path.Clean(p) == g.root {
		return data, err
	}
	if d := remoteRefs(strings.TrimPrefix(p, "/"), data); len(d) > 0 {
		g.t.refused = append(g.t.refused, d...)
		return nil, ErrRemote
	}
	return data, nil
}

// ErrRemote is what krusty gets for a kustomization naming a remote base.
var ErrRemote = errors.New("remote kustomize bases are refused: vmo-cue builds only from the fleet repository")

func isKustomization(name string) bool {
	return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization"
}

// remoteRefs finds the URLs among a kustomization's resources, bases and components.
func remoteRefs(file string, data []byte) diag.List {
	var out diag.List
	docs, problems := yamldoc.Decode(file, data)
	if len(problems) > 0 || len(docs) == 0 {
		return problems
	}
	k, _ := docs[0].Value.(map[string]any)
	for _, field := range []string{"resources", "bases", "components"} {
		list, _ := k[field].([]any)
		for i, x := range list {
			s, _ := x.(string)
			if isRemote(s) {
				out.Errorf("kustomize-remote", field, []diag.Position{docs[0].Pos([]string{field, fmt.Sprint(i)})},
					"remote kustomize base %q refused: vmo-cue builds only from the fleet repository (vendor it into the repository)", s)
			}
		}
	}
	return out
}

func isRemote(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/") ||
		strings.HasPrefix(s, "gitlab.com/") || strings.HasPrefix(s, "bitbucket.org/") || strings.Contains(s, "?ref=") ||
		strings.Contains(s, "//") && !strings.HasPrefix(s, "/")
}

// file returns a file of the tree.
func (t *Tree) file(rel string) []byte {
	data, err := t.mem.ReadFile("/" + rel)
	if err != nil {
		return nil
	}
	return bytes.Clone(data)
}
