package source

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	filesA = map[string]string{"fleet.cue": "package fleet\nfleet: name: \"demo\"\n", "clusters/edge-1/cluster.cue": "package fleet\ncluster: name: \"edge-1\"\n"}
	filesB = map[string]string{"clusters/edge-1/vm.yaml": "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: web}\n"}
)

func TestLocalBranchTagAndPinnedCommit(t *testing.T) {
	r := newTestRepo(t, "")
	a := r.commit("first", filesA)
	r.tag("v1", a, false)
	r.tag("v1-annotated", a, true)
	b := r.commit("add a VM", filesB)
	bTime := r.tick
	cache := t.TempDir()
	spec := Spec{URL: r.dir, CacheDir: cache}

	// Default: the branch the remote HEAD points to.
	rev := fetch(t, spec)
	assert.Equal(t, b.String(), rev.Commit)
	assert.Equal(t, "refs/heads/main", rev.Ref)
	assert.True(t, rev.Fetched)
	assert.False(t, rev.Stale)
	assert.False(t, rev.ForcePushed)
	assert.Equal(t, "add a VM", rev.Message)
	assert.True(t, bTime.Equal(rev.Time), "commit time %s, want %s", rev.Time, bTime)
	got := readTree(t, rev.Dir)
	assert.Equal(t, filesA["fleet.cue"], got["fleet.cue"])
	assert.Equal(t, filesB["clusters/edge-1/vm.yaml"], got["clusters/edge-1/vm.yaml"])
	assert.Len(t, got, 3, "the checkout holds the tree and nothing else (no .git)")
	fi, err := os.Stat(filepath.Join(rev.Dir, "fleet.cue"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm(), "checkout files are read-only")

	// Same again: nothing new.
	again := fetch(t, spec)
	assert.Equal(t, b.String(), again.Commit)
	assert.Equal(t, rev.Dir, again.Dir)
	assert.False(t, again.Fetched)
	assert.Empty(t, again.Previous)

	for _, ref := range []string{"main", "refs/heads/main"} {
		s := spec
		s.Ref = ref
		rev := fetch(t, s)
		assert.Equal(t, b.String(), rev.Commit, ref)
		assert.Equal(t, "refs/heads/main", rev.Ref, ref)
	}
	for ref, full := range map[string]string{"tag:v1": "refs/tags/v1", "refs/tags/v1": "refs/tags/v1", "v1": "refs/tags/v1", "tag:v1-annotated": "refs/tags/v1-annotated"} {
		s := spec
		s.Ref = ref
		rev := fetch(t, s)
		assert.Equal(t, a.String(), rev.Commit, ref)
		assert.Equal(t, full, rev.Ref, ref)
		assert.NotContains(t, readTree(t, rev.Dir), "clusters/edge-1/vm.yaml", ref)
	}

	// A pinned commit (not a branch tip) and a pinned commit nowhere on the remote.
	s := spec
	s.Ref = a.String()
	pinned := fetch(t, s)
	assert.Equal(t, a.String(), pinned.Commit)
	assert.Equal(t, a.String(), pinned.Ref)
	assert.True(t, pinned.Fetched)
	s.Ref = "0123456789abcdef0123456789abcdef01234567"
	err = fetchErr(t, s)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "0123456789abcdef0123456789abcdef01234567")

	// A ref that does not exist, and refs that are not refs.
	s.Ref = "nope"
	err = fetchErr(t, s)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), `no branch or tag "nope" on the remote (branches: main)`)
	for _, bad := range []string{"main:refs/heads/x", "ma*n", "../main", "tag:", "refs/heads/a..b"} {
		s.Ref = bad
		err = fetchErr(t, s)
		assert.Contains(t, err.Error(), "invalid ref", bad)
	}
}

func TestLocalNewCommitRevertAndForcePush(t *testing.T) {
	r := newTestRepo(t, "")
	r.commit("first", filesA)
	b := r.commit("add a VM", filesB)
	spec := Spec{URL: r.dir, CacheDir: t.TempDir()}
	revB := fetch(t, spec)
	require.Equal(t, b.String(), revB.Commit)
	treeB := readTree(t, revB.Dir)

	// A new commit.
	c := r.commit("resize the VM", map[string]string{"clusters/edge-1/vm.yaml": "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: web}\nspec: {}\n"})
	revC := fetch(t, spec)
	assert.Equal(t, c.String(), revC.Commit)
	assert.True(t, revC.Fetched)
	assert.False(t, revC.ForcePushed)
	assert.Equal(t, b.String(), revC.Previous)
	assert.Contains(t, readTree(t, revC.Dir)["clusters/edge-1/vm.yaml"], "spec: {}")
	assert.DirExists(t, revB.Dir, "the previous checkout stays for a caller still reading it")

	// A revert: a new commit restoring the old content.
	d := r.commit("Revert \"resize the VM\"", filesB)
	revD := fetch(t, spec)
	assert.Equal(t, d.String(), revD.Commit)
	assert.False(t, revD.ForcePushed)
	assert.Equal(t, c.String(), revD.Previous)
	assert.Equal(t, treeB, readTree(t, revD.Dir), "the revert restores B's tree")
	assert.NoDirExists(t, revB.Dir, "checkouts older than the previous one are pruned")

	// Force-push: the last commit rewritten (same parent, other content).
	e := r.commit("resize the VM, again", map[string]string{"clusters/edge-1/vm.yaml": "kind: VirtualMachine\n"}, withParents(c))
	r.setBranch("main", e)
	revE := fetch(t, spec)
	assert.Equal(t, e.String(), revE.Commit)
	assert.True(t, revE.ForcePushed, "D was rewritten into E")
	assert.Equal(t, d.String(), revE.Previous)
	assert.Equal(t, "kind: VirtualMachine\n", readTree(t, revE.Dir)["clusters/edge-1/vm.yaml"])

	// Force-push: reset to an ancestor (the objects are all in the cache already).
	r.setBranch("main", b)
	revReset := fetch(t, spec)
	assert.Equal(t, b.String(), revReset.Commit)
	assert.True(t, revReset.ForcePushed)
	assert.True(t, revReset.Fetched, "the ref moved, even though no object had to be transferred")
	assert.Equal(t, e.String(), revReset.Previous)

	// Force-push: unrelated history.
	o := r.orphan("squashed history", e)
	r.setBranch("main", o)
	revO := fetch(t, spec)
	assert.Equal(t, o.String(), revO.Commit)
	assert.True(t, revO.ForcePushed)
	assert.Equal(t, b.String(), revO.Previous)

	// And a fast-forward after it is not one.
	f := r.commit("after the squash", map[string]string{"README": "hello\n"})
	revF := fetch(t, spec)
	assert.Equal(t, f.String(), revF.Commit)
	assert.False(t, revF.ForcePushed)
	assert.Equal(t, o.String(), revF.Previous)
}

func TestFileURLAndShallow(t *testing.T) {
	r := newTestRepo(t, "")
	a := r.commit("first", filesA)
	b := r.commit("add a VM", filesB)
	cache := t.TempDir()

	viaPath := fetch(t, Spec{URL: r.dir, CacheDir: cache})
	viaURL := fetch(t, Spec{URL: "file://" + r.dir, CacheDir: cache})
	assert.Equal(t, b.String(), viaURL.Commit)
	assert.Equal(t, viaPath.Dir, viaURL.Dir, "a local path and its file:// URL share one cache")
	assert.False(t, viaURL.Fetched)

	// Shallow: depth 1, kept apart from the full cache.
	spec := Spec{URL: "file://" + r.dir, CacheDir: cache, Shallow: true}
	rev := fetch(t, spec)
	assert.Equal(t, b.String(), rev.Commit)
	assert.NotEqual(t, viaPath.Dir, rev.Dir)
	shallow := cachedRepoShallow(t, rev)
	assert.Equal(t, []plumbing.Hash{b}, shallow, "only the tip was fetched")
	_, err := openCachedRepo(t, rev).CommitObject(a)
	assert.Error(t, err, "the parent was not fetched")

	c := r.commit("third", map[string]string{"README": "x\n"})
	rev = fetch(t, spec)
	assert.Equal(t, c.String(), rev.Commit)
	assert.False(t, rev.ForcePushed)
	assert.Equal(t, b.String(), rev.Previous)

	// Two more commits at once, then a rewrite: ancestry is searched a bit deeper.
	r.commit("fourth", map[string]string{"README": "y\n"})
	e := r.commit("fifth", map[string]string{"README": "z\n"})
	rev = fetch(t, spec)
	assert.Equal(t, e.String(), rev.Commit)
	assert.False(t, rev.ForcePushed, "a fast-forward of two commits")
	g := r.commit("fifth, rewritten", map[string]string{"README": "w\n"}, withParents(c))
	r.setBranch("main", g)
	rev = fetch(t, spec)
	assert.Equal(t, g.String(), rev.Commit)
	assert.True(t, rev.ForcePushed)
	assert.Equal(t, e.String(), rev.Previous)

	// A pinned older commit in a new shallow cache: not a tip, so the history is deepened to find it.
	pinned := fetch(t, Spec{URL: r.dir, CacheDir: t.TempDir(), Shallow: true, Ref: a.String()})
	assert.Equal(t, a.String(), pinned.Commit)
	assert.Equal(t, filesA["fleet.cue"], readTree(t, pinned.Dir)["fleet.cue"])
}

func TestPinnedCommitNeedsNoRemote(t *testing.T) {
	parent := t.TempDir()
	r := newTestRepo(t, parent)
	a := r.commit("first", filesA)
	r.commit("add a VM", filesB)
	spec := Spec{URL: r.dir, CacheDir: t.TempDir(), Ref: a.String()}
	first := fetch(t, spec)
	assert.True(t, first.Fetched)
	require.NoError(t, os.RemoveAll(r.dir))
	again := fetch(t, spec)
	assert.Equal(t, a.String(), again.Commit)
	assert.False(t, again.Fetched)
	assert.False(t, again.Stale, "a pinned commit in the cache is current whatever the remote does")
	assert.Equal(t, first.Dir, again.Dir)

	// A branch of the vanished local repository is an error (a missing path is not a network outage).
	spec.Ref = "main"
	err := fetchErr(t, spec)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestConcurrentFetchesShareTheCache(t *testing.T) {
	r := newTestRepo(t, "")
	b := r.commit("first", filesA)
	spec := Spec{URL: r.dir, CacheDir: t.TempDir()}
	var wg sync.WaitGroup
	revs := make([]*Revision, 6)
	errs := make([]error, len(revs))
	for i := range revs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revs[i], errs[i] = Fetch(context.Background(), spec)
		}()
	}
	wg.Wait()
	fetched := 0
	for i := range revs {
		require.NoError(t, errs[i])
		assert.Equal(t, b.String(), revs[i].Commit)
		assert.Equal(t, revs[0].Dir, revs[i].Dir)
		if revs[i].Fetched {
			fetched++
		}
	}
	assert.Equal(t, 1, fetched, "one of them cloned, the others found it in the cache")
}

func TestErrorsNameTheURLWithoutCredentials(t *testing.T) {
	for _, u := range []string{
		"https://alice:s3cr3t-t0ken@127.0.0.1:1/fleet.git",
		"http://s3cr3t-t0ken@127.0.0.1:1/fleet.git",
	} {
		err := fetchErr(t, Spec{URL: u, CacheDir: t.TempDir(), Auth: Auth{SSHKeyPassphrase: "pass-phrase"}, AllowInsecureHTTP: true})
		assert.ErrorIs(t, err, ErrUnreachable)
		assert.Contains(t, err.Error(), "git source http")
		assert.Contains(t, err.Error(), "://127.0.0.1:1/fleet.git")
		assert.Contains(t, err.Error(), "no cached revision")
		requireNoSecret(t, err.Error(), "s3cr3t", "alice", "pass-phrase")
	}
	err := fetchErr(t, Spec{URL: "https://127.0.0.1:1/fleet.git", CacheDir: t.TempDir(), Auth: Auth{Password: "tok-123456"}, CAFile: "/nonexistent/ca.pem"})
	assert.Contains(t, err.Error(), "/nonexistent/ca.pem")
	requireNoSecret(t, err.Error(), "tok-123456")

	// The cache keeps no credential either.
	cache := t.TempDir()
	r := newTestRepo(t, "")
	r.commit("first", filesA)
	fetch(t, Spec{URL: r.dir, CacheDir: cache})
	_ = filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			requireNoSecret(t, string(b), "s3cr3t", "tok-123456")
		}
		return nil
	})
}

// cachedRepoShallow reads the shallow list of the cache repository behind a revision.
func cachedRepoShallow(t *testing.T, rev *Revision) []plumbing.Hash {
	t.Helper()
	s, err := openCachedRepo(t, rev).Storer.Shallow()
	require.NoError(t, err)
	return s
}

func openCachedRepo(t *testing.T, rev *Revision) *git.Repository {
	t.Helper()
	repo, err := git.PlainOpen(filepath.Join(rev.Dir, "..", "..", "repo.git"))
	require.NoError(t, err)
	return repo
}

func cachedState(t *testing.T, rev *Revision) *state {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rev.Dir, "..", "..", "state.json"))
	require.NoError(t, err)
	var st state
	require.NoError(t, json.Unmarshal(b, &st))
	return &st
}
