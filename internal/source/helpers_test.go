package source

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
)

// testRepo is a fleet repository made with go-git in a temporary folder; it is the remote of the
// tests (as a local path, file://, through git http-backend, or through the test SSH server).
type testRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	tick time.Time
}

func newTestRepo(t *testing.T, parent string) *testRepo {
	t.Helper()
	if parent == "" {
		parent = t.TempDir()
	}
	dir := filepath.Join(parent, "fleet")
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	return &testRepo{t: t, dir: dir, repo: repo, wt: wt, tick: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (r *testRepo) sig() *object.Signature {
	r.tick = r.tick.Add(time.Minute)
	return &object.Signature{Name: "Fleet Admin", Email: "admin@example.com", When: r.tick}
}

type commitOpt func(*git.CommitOptions)

func signedWith(e *openpgp.Entity) commitOpt {
	return func(o *git.CommitOptions) { o.SignKey = e }
}

func withParents(p ...plumbing.Hash) commitOpt {
	return func(o *git.CommitOptions) { o.Parents = p }
}

// commit writes files (an empty value deletes the file) into the worktree and commits them on the
// current branch.
func (r *testRepo) commit(msg string, files map[string]string, opts ...commitOpt) plumbing.Hash {
	r.t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if files[name] == "" {
			require.NoError(r.t, os.Remove(p))
			continue
		}
		require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(r.t, os.WriteFile(p, []byte(files[name]), 0o644))
	}
	require.NoError(r.t, r.wt.AddWithOptions(&git.AddOptions{All: true}))
	o := &git.CommitOptions{Author: r.sig(), AllowEmptyCommits: true}
	for _, opt := range opts {
		opt(o)
	}
	h, err := r.wt.Commit(msg, o)
	require.NoError(r.t, err)
	return h
}

// setBranch moves a branch as a force-push would (the worktree follows when it is the current one).
func (r *testRepo) setBranch(branch string, h plumbing.Hash) {
	r.t.Helper()
	require.NoError(r.t, r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)))
	require.NoError(r.t, r.wt.Reset(&git.ResetOptions{Commit: h, Mode: git.HardReset}))
}

// orphan makes a root commit (no parent) with the tree of an existing commit: unrelated history.
func (r *testRepo) orphan(msg string, treeOf plumbing.Hash) plumbing.Hash {
	r.t.Helper()
	src, err := r.repo.CommitObject(treeOf)
	require.NoError(r.t, err)
	c := &object.Commit{Author: *r.sig(), Message: msg, TreeHash: src.TreeHash}
	c.Committer = c.Author
	obj := r.repo.Storer.NewEncodedObject()
	require.NoError(r.t, c.Encode(obj))
	h, err := r.repo.Storer.SetEncodedObject(obj)
	require.NoError(r.t, err)
	return h
}

func (r *testRepo) tag(name string, h plumbing.Hash, annotated bool) {
	r.t.Helper()
	var opts *git.CreateTagOptions
	if annotated {
		opts = &git.CreateTagOptions{Tagger: r.sig(), Message: "release " + name}
	}
	_, err := r.repo.CreateTag(name, h, opts)
	require.NoError(r.t, err)
}

// readTree reads every regular file of a checkout, by slash path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	}))
	return out
}

func fetch(t *testing.T, s Spec) *Revision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rev, err := Fetch(ctx, s)
	require.NoError(t, err)
	require.NotNil(t, rev)
	return rev
}

func fetchErr(t *testing.T, s Spec) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rev, err := Fetch(ctx, s)
	require.Error(t, err, "Fetch should fail, got revision %+v", rev)
	require.Nil(t, rev)
	return err
}

// newPGPKey makes an OpenPGP signing key (EdDSA, fast under -race) and its armored public key.
func newPGPKey(t *testing.T, name, email string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.Serialize(w))
	require.NoError(t, w.Close())
	return e, b.String()
}

// requireNoSecret checks that none of the secrets shows in msg.
func requireNoSecret(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.False(t, strings.Contains(msg, s), "message leaks a secret %q: %s", s, msg)
	}
}
