package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Local is a git repository on this machine, read at any revision from its object store: its work tree
// and index are never read or changed. It serves `vmo-cue diff --from`, which compares the fleet at two
// revisions.
type Local struct {
	repo *git.Repository
	// prefix is the folder opened, relative to the work tree's root, slash-separated ("" for the
	// root): a fleet may live in a folder of a larger repository (this project's fleet/).
	prefix string
}

// LocalRevision is a resolved revision.
type LocalRevision struct {
	// Rev is the revision as asked ("HEAD~1", "origin/main", a short hash).
	Rev string
	// Commit is the full hash, Message the first line of the commit's message.
	Commit  string
	Message string
}

// OpenLocal opens the git repository holding dir (dir itself or a folder above it). Only the subtree
// at dir is ever written out by Checkout.
func OpenLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("%s: not in a git repository: %w", dir, err)
	}
	l := &Local{repo: repo}
	wt, err := repo.Worktree()
	if err != nil {
		return l, nil // bare: dir is the repository, its whole tree is the fleet
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s: not inside the work tree %s", dir, root)
	}
	if rel != "." {
		l.prefix = filepath.ToSlash(rel)
	}
	return l, nil
}

// Prefix is the folder opened, relative to the repository's root ("" for the root).
func (l *Local) Prefix() string { return l.prefix }

// Resolve resolves a revision as git rev-parse does (a branch, a tag, origin/main, HEAD~2, a hash or
// a prefix of one) to a commit.
func (l *Local) Resolve(rev string) (*LocalRevision, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("revision %q: not a revision", rev)
	}
	h, err := l.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	c, err := l.repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return &LocalRevision{Rev: rev, Commit: c.Hash.String(), Message: msg}, nil
}

// ErrNoFolder: the folder opened does not exist at the revision.
var ErrNoFolder = errors.New("folder not in the revision")

// Checkout writes the tree of commit (a full hash from Resolve), below the folder opened, into dst,
// which must exist and be empty: regular files read-only, symbolic links as links (never followed,
// and refused by fleetfs like any other), submodules left out, no path leaving dst or naming .git.
func (l *Local) Checkout(commit, dst string) error {
	c, err := l.repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return fmt.Errorf("commit %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("commit %s: %w", commit, err)
	}
	if l.prefix != "" {
		sub, err := tree.Tree(l.prefix)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return fmt.Errorf("commit %s: %s: %w", commit[:12], l.prefix, ErrNoFolder)
		}
		if err != nil {
			return fmt.Errorf("commit %s: %s: %w", commit[:12], l.prefix, err)
		}
		tree = sub
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("checkout into %s: not empty", dst)
	}
	if err := writeTreeOf(tree, dst); err != nil {
		return fmt.Errorf("commit %s: %w", commit[:12], err)
	}
	return nil
}
