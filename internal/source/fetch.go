package source

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// shallowAncestryDepth is how deep a shallow cache looks for the previous commit of a ref that moved,
// to tell a force-push from a fast-forward.
const shallowAncestryDepth = 64

// infiniteDepth is git's INFINITE_DEPTH: "deepen" to the full history in a shallow cache.
const infiniteDepth = 0x7fffffff

type refKind int

const (
	refHead   refKind = iota // the branch the remote HEAD points to
	refName                  // a short name: a branch, else a tag
	refFull                  // a fully qualified ref
	refCommit                // a pinned commit
)

type wantRef struct {
	kind refKind
	name string // short name, full ref, or 40-hex commit
	key  string // identity in the cache state
}

var hex40 = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

func parseRef(ref string) (wantRef, error) {
	ref = strings.TrimSpace(ref)
	switch {
	case ref == "" || ref == "HEAD":
		return wantRef{kind: refHead, key: "HEAD"}, nil
	case hex40.MatchString(ref):
		h := strings.ToLower(ref)
		return wantRef{kind: refCommit, name: h, key: "commit:" + h}, nil
	case strings.HasPrefix(ref, "tag:"):
		full := "refs/tags/" + strings.TrimPrefix(ref, "tag:")
		if err := checkRefName(full); err != nil {
			return wantRef{}, err
		}
		return wantRef{kind: refFull, name: full, key: full}, nil
	case strings.HasPrefix(ref, "refs/"):
		if err := checkRefName(ref); err != nil {
			return wantRef{}, err
		}
		return wantRef{kind: refFull, name: ref, key: ref}, nil
	default:
		if err := checkRefName("refs/heads/" + ref); err != nil {
			return wantRef{}, err
		}
		return wantRef{kind: refName, name: ref, key: "name:" + ref}, nil
	}
}

// checkRefName applies git's check-ref-format rules that matter here (a ref becomes part of a refspec).
func checkRefName(full string) error {
	bad := func(why string) error { return fmt.Errorf("invalid ref %q: %s", full, why) }
	if strings.HasSuffix(full, "/") || strings.HasSuffix(full, ".") || strings.HasSuffix(full, ".lock") {
		return bad("bad ending")
	}
	if strings.Contains(full, "..") || strings.Contains(full, "//") || strings.Contains(full, "@{") {
		return bad(`contains "..", "//" or "@{"`)
	}
	for _, c := range full {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return bad(fmt.Sprintf("contains %q", c))
		}
	}
	for _, part := range strings.Split(full, "/") {
		if part == "" || strings.HasPrefix(part, ".") || strings.HasPrefix(part, "-") {
			return bad("empty component or one starting with '.' or '-'")
		}
	}
	if len(strings.Split(full, "/")) < 3 {
		return bad("too short")
	}
	return nil
}

// tracking is where a remote ref is kept in the cache repository.
func tracking(full string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/cache/" + strings.TrimPrefix(full, "refs/"))
}

type fetcher struct {
	spec   Spec
	rem    *remote
	want   wantRef
	keys   openpgp.EntityList
	entry  *entry
	parent context.Context
	proxy  transport.ProxyOptions // SSH: binds connections to the Fetch's context (ssh_dial.go)
}

func (f *fetcher) gitRemote() *git.Remote {
	return git.NewRemote(f.entry.repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{f.rem.gitURL}})
}

func (f *fetcher) depth() int {
	if f.spec.Shallow {
		return 1
	}
	return 0
}

func (f *fetcher) run(ctx context.Context) (*Revision, error) {
	if f.want.kind == refCommit {
		return f.runPinned(ctx)
	}
	refs, err := f.gitRemote().ListContext(ctx, &git.ListOptions{Auth: f.rem.auth, CABundle: f.rem.caBundle, ProxyOptions: f.proxy})
	if err != nil {
		return f.staleOr(f.classify(ctx, err))
	}
	name, hash, err := f.resolve(refs)
	if err != nil {
		return nil, f.errorf(ErrNotFound, "%v", err)
	}
	if !f.entry.has(hash) {
		spec := config.RefSpec("+" + name + ":" + tracking(name).String())
		if err := f.fetch(ctx, []config.RefSpec{spec}, f.depth()); err != nil {
			return f.staleOr(f.classify(ctx, err))
		}
		if !f.entry.has(hash) {
			return nil, f.errorf(nil, "the fetch of %s did not bring %s", name, hash)
		}
	} else if err := f.entry.repo.Storer.SetReference(plumbing.NewHashReference(tracking(name), hash)); err != nil {
		return nil, f.errorf(nil, "cache: %v", err)
	}
	commit, err := f.entry.peel(hash)
	if err != nil {
		return nil, f.errorf(nil, "%s: %v", name, err)
	}
	return f.finish(ctx, name, commit)
}

// resolve finds the wanted ref among the remote's refs: its full name and the hash it points to.
func (f *fetcher) resolve(refs []*plumbing.Reference) (string, plumbing.Hash, error) {
	byName := map[string]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name().String()] = r
	}
	hashOf := func(name string) (plumbing.Hash, bool) {
		r, ok := byName[name]
		if !ok || r.Type() != plumbing.HashReference {
			return plumbing.ZeroHash, false
		}
		return r.Hash(), true
	}
	switch f.want.kind {
	case refHead:
		head, ok := byName["HEAD"]
		if !ok {
			return "", plumbing.ZeroHash, fmt.Errorf("the remote has no HEAD: set the ref to follow")
		}
		if head.Type() == plumbing.SymbolicReference {
			target := head.Target().String()
			if h, ok := hashOf(target); ok {
				return target, h, nil
			}
			return "", plumbing.ZeroHash, fmt.Errorf("the remote HEAD points to %s, which does not exist (empty repository?)", target)
		}
		// No symref advertised: the branch at the same commit, preferring main and master.
		var same []string
		for _, r := range refs {
			if strings.HasPrefix(r.Name().String(), "refs/heads/") && r.Type() == plumbing.HashReference && r.Hash() == head.Hash() {
				same = append(same, r.Name().String())
			}
		}
		sort.Slice(same, func(i, j int) bool {
			return branchRank(same[i]) < branchRank(same[j]) || (branchRank(same[i]) == branchRank(same[j]) && same[i] < same[j])
		})
		if len(same) == 0 {
			return "", plumbing.ZeroHash, fmt.Errorf("the remote HEAD is detached at %s and no branch points there: set the ref to follow", head.Hash())
		}
		return same[0], head.Hash(), nil
	case refName:
		for _, full := range []string{"refs/heads/" + f.want.name, "refs/tags/" + f.want.name} {
			if h, ok := hashOf(full); ok {
				return full, h, nil
			}
		}
		return "", plumbing.ZeroHash, fmt.Errorf("no branch or tag %q on the remote (branches: %s)", f.want.name, branchList(refs))
	default:
		if h, ok := hashOf(f.want.name); ok {
			return f.want.name, h, nil
		}
		if strings.HasPrefix(f.want.name, "refs/tags/") {
			return "", plumbing.ZeroHash, fmt.Errorf("no tag %q on the remote", strings.TrimPrefix(f.want.name, "refs/tags/"))
		}
		return "", plumbing.ZeroHash, fmt.Errorf("no ref %q on the remote (branches: %s)", f.want.name, branchList(refs))
	}
}

func branchRank(name string) int {
	switch name {
	case "refs/heads/main":
		return 0
	case "refs/heads/master":
		return 1
	}
	return 2
}

func branchList(refs []*plumbing.Reference) string {
	var names []string
	for _, r := range refs {
		if n := r.Name().String(); strings.HasPrefix(n, "refs/heads/") {
			names = append(names, strings.TrimPrefix(n, "refs/heads/"))
		}
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], fmt.Sprintf("and %d more", len(names)-10))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// fetch runs one go-git fetch into the cache; "already up to date" is not an error.
func (f *fetcher) fetch(ctx context.Context, specs []config.RefSpec, depth int) error {
	err := f.gitRemote().FetchContext(ctx, &git.FetchOptions{
		RemoteName:   "origin",
		RefSpecs:     specs,
		Depth:        depth,
		Auth:         f.rem.auth,
		CABundle:     f.rem.caBundle,
		ProxyOptions: f.proxy,
		Tags:         git.NoTags,
		Force:        true,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// runPinned serves a 40-hex commit: from the cache when it is there (a commit never changes), else
// from the remote's branches and tags, else by asking for the commit itself.
func (f *fetcher) runPinned(ctx context.Context) (*Revision, error) {
	h := plumbing.NewHash(f.want.name)
	if !f.entry.hasCommit(h) {
		if err := f.fetchPinned(ctx, h); err != nil {
			var e *Error
			if errors.As(err, &e) && errors.Is(e, ErrUnreachable) {
				return nil, f.errorf(ErrUnreachable, "%s; commit %s is not in the cache", e.Reason, h)
			}
			return nil, err
		}
	}
	if err := f.entry.repo.Storer.SetReference(plumbing.NewHashReference("refs/cache/pinned/"+plumbing.ReferenceName(h.String()), h)); err != nil {
		return nil, f.errorf(nil, "cache: %v", err)
	}
	commit, err := f.entry.peel(h)
	if err != nil {
		return nil, f.errorf(nil, "%v", err)
	}
	return f.finish(ctx, h.String(), commit)
}

func (f *fetcher) fetchPinned(ctx context.Context, h plumbing.Hash) error {
	all := []config.RefSpec{"+refs/heads/*:refs/cache/heads/*", "+refs/tags/*:refs/cache/tags/*"}
	exact := []config.RefSpec{config.RefSpec(h.String() + ":refs/cache/pinned/" + h.String())}
	type attempt struct {
		specs []config.RefSpec
		depth int
	}
	attempts := []attempt{{all, 0}, {exact, 0}}
	if f.spec.Shallow {
		attempts = []attempt{{exact, 1}, {all, 1}, {all, infiniteDepth}}
	}
	for _, a := range attempts {
		err := f.fetch(ctx, a.specs, a.depth)
		if errors.Is(err, git.ErrExactSHA1NotSupported) {
			continue
		}
		if err != nil {
			return f.classify(ctx, err)
		}
		if f.entry.hasCommit(h) {
			return nil
		}
	}
	return f.errorf(ErrNotFound, "commit %s is not on any branch or tag of the remote (and the server does not serve other commits)", h)
}

// staleOr returns the last good revision of the ref, marked stale, when e says the remote is
// unreachable and the cache has one; otherwise e.
func (f *fetcher) staleOr(e *Error) (*Revision, error) {
	if !errors.Is(e, ErrUnreachable) {
		return nil, e
	}
	rs := f.entry.state.Refs[f.want.key]
	if rs == nil || !f.entry.hasCommit(plumbing.NewHash(rs.Commit)) {
		return nil, f.errorf(ErrUnreachable, "%s; no cached revision of this ref", e.Reason)
	}
	commit, err := f.entry.peel(plumbing.NewHash(rs.Commit))
	if err != nil {
		return nil, f.errorf(ErrUnreachable, "%s; the cached revision is unreadable: %v", e.Reason, err)
	}
	signedBy, verr := f.verify(commit)
	if verr != nil {
		return nil, verr
	}
	dir, err := f.entry.checkout(commit)
	if err != nil {
		return nil, f.errorf(nil, "checkout of %s: %v", commit.Hash, err)
	}
	rs.UsedAt = time.Now()
	_ = f.entry.saveState()
	rev := revisionOf(commit, rs.Ref, dir, signedBy)
	rev.Stale = true
	rev.StaleReason = e.Reason + "; serving the last good revision, fetched " + rs.FetchedAt.Format(time.RFC3339)
	return rev, nil
}

// finish verifies the commit, checks it out and records it as the ref's last good revision.
func (f *fetcher) finish(ctx context.Context, ref string, commit *object.Commit) (*Revision, error) {
	signedBy, err := f.verify(commit)
	if err != nil {
		return nil, err
	}
	dir, err := f.entry.checkout(commit)
	if err != nil {
		return nil, f.errorf(nil, "checkout of %s: %v", commit.Hash, err)
	}
	rev := revisionOf(commit, ref, dir, signedBy)
	prev := f.entry.state.Refs[f.want.key]
	now := time.Now()
	rs := &refState{Ref: ref, Commit: commit.Hash.String(), FetchedAt: now, UsedAt: now}
	switch {
	case prev == nil:
		rev.Fetched = true
	case prev.Commit != rs.Commit:
		rev.Fetched = true
		rev.Previous = prev.Commit
		rs.Prev = prev.Commit
		descends, known := f.entry.descends(commit.Hash, plumbing.NewHash(prev.Commit))
		if !known && f.spec.Shallow && f.want.kind != refCommit {
			spec := config.RefSpec("+" + ref + ":" + tracking(ref).String())
			if f.fetch(ctx, []config.RefSpec{spec}, shallowAncestryDepth) == nil {
				descends, known = f.entry.descends(commit.Hash, plumbing.NewHash(prev.Commit))
			}
		}
		rev.ForcePushed = known && !descends
	default:
		rs.Prev = prev.Prev
	}
	f.entry.state.Refs[f.want.key] = rs
	if err := f.entry.saveState(); err != nil {
		return nil, f.errorf(nil, "cache: %v", err)
	}
	f.entry.prune()
	return rev, nil
}

func revisionOf(c *object.Commit, ref, dir, signedBy string) *Revision {
	return &Revision{
		Commit:   c.Hash.String(),
		Ref:      ref,
		Dir:      dir,
		Time:     c.Committer.When,
		Message:  strings.TrimRight(c.Message, "\n"),
		SignedBy: signedBy,
	}
}
