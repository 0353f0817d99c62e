package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/rogpeppe/go-internal/lockedfile"
)

// maxRefsKept bounds how many refs of one remote keep a last good revision (and a checkout).
const maxRefsKept = 16

// entry is the cache of one remote: CacheDir/<hash>/{lock, state.json, repo.git, checkouts/<commit>}.
type entry struct {
	dir   string
	repo  *git.Repository
	lock  *lockedfile.File
	state *state
}

type state struct {
	Version int                  `json:"version"`
	URL     string               `json:"url"` // without credentials, for people looking at the cache
	Shallow bool                 `json:"shallow"`
	Refs    map[string]*refState `json:"refs"`
}

// refState is the last good revision of one followed ref.
type refState struct {
	Ref       string    `json:"ref"`
	Commit    string    `json:"commit"`
	Prev      string    `json:"prev,omitempty"` // the revision before, whose checkout is kept too
	FetchedAt time.Time `json:"fetchedAt"`      // last time the remote was asked
	UsedAt    time.Time `json:"usedAt"`
}

func openEntry(ctx context.Context, cacheDir string, rem *remote, shallow bool) (*entry, error) {
	key := rem.key
	if shallow {
		key += "\x00shallow"
	}
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(cacheDir, hex.EncodeToString(sum[:12]))
	if err := os.MkdirAll(filepath.Join(dir, "checkouts"), 0o700); err != nil {
		return nil, errors.New(pathErr(err))
	}
	lock, err := lockFile(ctx, filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	e := &entry{dir: dir, lock: lock}
	repoDir := filepath.Join(dir, "repo.git")
	e.repo, err = git.PlainOpen(repoDir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		_ = os.RemoveAll(repoDir) // a half-made one
		e.repo, err = git.PlainInit(repoDir, true)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	e.state = &state{Version: 1, URL: rem.display, Shallow: shallow, Refs: map[string]*refState{}}
	if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
		var st state
		if json.Unmarshal(b, &st) == nil && st.Version == 1 && st.Refs != nil {
			e.state = &st
		}
	}
	return e, nil
}

func (e *entry) close() {
	if e.lock != nil {
		_ = e.lock.Close() // releases the lock
		e.lock = nil
	}
}

func (e *entry) saveState() error {
	b, err := json.MarshalIndent(e.state, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(e.dir, ".state-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(e.dir, "state.json"))
}

func (e *entry) has(h plumbing.Hash) bool {
	return e.repo.Storer.HasEncodedObject(h) == nil
}

func (e *entry) hasCommit(h plumbing.Hash) bool {
	_, err := e.repo.CommitObject(h)
	return err == nil
}

// peel follows annotated tags to the commit.
func (e *entry) peel(h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		obj, err := e.repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, fmt.Errorf("object %s: %w", h, err)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return object.DecodeCommit(e.repo.Storer, obj)
		case plumbing.TagObject:
			tag, err := object.DecodeTag(e.repo.Storer, obj)
			if err != nil {
				return nil, err
			}
			h = tag.Target
		default:
			return nil, fmt.Errorf("%s is a %s, not a commit", h, obj.Type())
		}
	}
	return nil, fmt.Errorf("tag chain too long at %s", h)
}

// descends says whether cur has prev among its ancestors (or is prev). known is false when the walk
// met a commit missing from the cache (a shallow boundary) before deciding.
func (e *entry) descends(cur, prev plumbing.Hash) (descends, known bool) {
	seen := map[plumbing.Hash]bool{cur: true}
	queue := []plumbing.Hash{cur}
	complete := true
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == prev {
			return true, true
		}
		c, err := e.repo.CommitObject(h)
		if err != nil {
			complete = false
			continue
		}
		for _, p := range c.ParentHashes {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, complete
}

// checkout returns checkouts/<commit>, writing it first if needed (into a temporary folder renamed
// when complete, so a checkout folder is never half-written).
func (e *entry) checkout(c *object.Commit) (string, error) {
	dst := filepath.Join(e.dir, "checkouts", c.Hash.String())
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return dst, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(e.dir, "checkouts"), ".tmp-")
	if err != nil {
		return "", errors.New(pathErr(err))
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := writeTree(c, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	return dst, nil
}

func writeTree(c *object.Commit, root string) error {
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	return writeTreeOf(tree, root)
}

// writeTreeOf writes the files of tree below root: regular files read-only, symbolic links as links
// (written last, never followed; fleetfs refuses them), submodules left out.
func writeTreeOf(tree *object.Tree, root string) error {
	type link struct{ path, target string }
	var links []link
	err := tree.Files().ForEach(func(f *object.File) error {
		if err := safePath(f.Name); err != nil {
			return err
		}
		p := filepath.Join(root, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return errors.New(pathErr(err))
		}
		perm := os.FileMode(0o444)
		switch f.Mode {
		case filemode.Symlink:
			target, err := f.Contents()
			if err != nil {
				return err
			}
			links = append(links, link{p, target})
			return nil
		case filemode.Executable:
			perm = 0o555
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return errors.New(pathErr(err))
		}
		if _, err := io.Copy(out, r); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		return err
	}
	// Symbolic links last, so that no file is ever written through one.
	for _, l := range links {
		if err := os.Symlink(l.target, l.path); err != nil {
			return errors.New(pathErr(err))
		}
	}
	return nil
}

// safePath refuses tree paths that would leave the checkout or write into a .git folder.
func safePath(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return fmt.Errorf("unsafe path %q in the tree", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") {
			return fmt.Errorf("unsafe path %q in the tree", name)
		}
	}
	return nil
}

// prune keeps the checkouts of the last good revision of each ref and of the one before it (a caller
// may still be reading it), drops the rest and any half-written folder, and bounds the refs kept.
func (e *entry) prune() {
	if len(e.state.Refs) > maxRefsKept {
		keys := make([]string, 0, len(e.state.Refs))
		for k := range e.state.Refs {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return e.state.Refs[keys[i]].UsedAt.After(e.state.Refs[keys[j]].UsedAt) })
		for _, k := range keys[maxRefsKept:] {
			delete(e.state.Refs, k)
		}
		_ = e.saveState()
	}
	keep := map[string]bool{}
	for _, rs := range e.state.Refs {
		keep[rs.Commit] = true
		if rs.Prev != "" {
			keep[rs.Prev] = true
		}
	}
	dir := filepath.Join(e.dir, "checkouts")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range ents {
		if !keep[de.Name()] {
			_ = os.RemoveAll(filepath.Join(dir, de.Name()))
		}
	}
}
