// Package source is the git source of a fleet: it clones and fetches the fleet repository (go-git) into a
// persistent cache and hands out a read-only checkout of the revision to sync.
//
// Remotes: https:// and http:// (token or basic auth, optional extra CA), ssh:// and user@host:path (a key
// file; host keys are always checked against a known_hosts file), file:// and local paths. A Spec follows
// a branch (default: the remote HEAD's branch), a tag, or a pinned commit.
//
// The cache holds, per remote URL (and shallow or not), a bare repository, one checkout folder per
// revision handed out, and a small state file recording the last good revision of every ref followed.
// A fetch with no new commit asks the remote for its refs and nothing else. When the remote cannot be
// reached, the last good revision is returned with Stale set. With VerifyKeys set, a revision whose
// commit is not signed by one of the keys is refused and the cached state is left as it was.
//
// Credentials are never written to the cache, never logged, and never appear in errors: errors name the
// URL without its userinfo. They are never sent over plain http:// unless the Spec allows it.
package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Auth holds the credentials of a remote. They come from flags, the environment or files outside the
// fleet repository; none of them is ever logged, cached or put in an error.
type Auth struct {
	// HTTPS basic auth; a token goes in Password (Username defaults to "git"). Userinfo in an https URL
	// is used when these are empty.
	Username, Password string
	// SSH: the private key file (OpenSSH or PEM) and its passphrase, if any.
	SSHKeyFile       string
	SSHKeyPassphrase string
	// KnownHostsFile is required for SSH: the server's host key must be listed there. Host keys are
	// checked, never trusted blindly (no ~/.ssh fallback, no trust on first use).
	KnownHostsFile string
}

// Spec says which repository and revision to fetch, and how.
type Spec struct {
	// URL: https://, http://, ssh://, user@host:path, file://, or a local path.
	URL string
	// Ref: a branch name ("main" or "refs/heads/main"; default: the branch the remote HEAD points to),
	// a tag ("refs/tags/v1" or "tag:v1"; a bare name that is not a branch but a tag is taken as the
	// tag), another fully qualified ref, or a 40-hex commit (pinned; no network once it is cached).
	Ref  string
	Auth Auth
	// CAFile is an optional PEM bundle of extra CA certificates trusted for https (e.g. a private
	// CA), in addition to the system roots.
	CAFile string
	// AllowInsecureHTTP allows credentials (Auth.Username or Password, or userinfo in the URL) over a
	// plain http:// URL, where they cross the network in clear text; without it such a Spec is
	// refused before anything is sent. For a local test server.
	AllowInsecureHTTP bool
	// CacheDir keeps the clone between runs, one folder per remote. Default: the user cache directory
	// (os.UserCacheDir()/vmo-cue/git).
	CacheDir string
	// Shallow fetches with depth 1 whenever possible. A shallow cache is kept apart from a full one.
	Shallow bool
	// VerifyKeys are armored OpenPGP public keys. When non-empty the commit handed out must carry a
	// valid OpenPGP signature by one of them.
	VerifyKeys []string
	// Timeout bounds the whole Fetch; when it expires while talking to the remote, the remote counts
	// as unreachable (the last good revision is returned, Stale). Zero: no timeout of our own.
	Timeout time.Duration
}

// Revision is what a Fetch hands out.
type Revision struct {
	// Commit is the 40-hex commit checked out in Dir.
	Commit string
	// Ref is the ref followed, fully qualified ("refs/heads/main", "refs/tags/v1"), or the commit itself
	// when the Spec pinned one.
	Ref string
	// Dir is a checkout of the tree at Commit (no .git). It is shared and must be treated as read-only;
	// it stays in place at least until the Fetch after next of the same ref.
	Dir string
	// Time is the commit's committer time, Message its message.
	Time    time.Time
	Message string
	// SignedBy names the key that signed Commit ("Name <email> (fingerprint)") when VerifyKeys is set.
	SignedBy string
	// Previous is the commit the ref had at the last successful Fetch when it has changed since.
	// ForcePushed says the ref moved to a commit that is not a descendant of Previous (a force-push,
	// a reset, a rewritten history). In a shallow cache the ancestry is searched 64 commits deep;
	// beyond that a force-push is not reported.
	ForcePushed bool
	Previous    string
	// Stale: the remote could not be reached; the revision is the last good one from the cache and
	// StaleReason says why (the error, without credentials).
	Stale       bool
	StaleReason string
	// Fetched is true when the revision is new for this ref: the first fetch, or the ref moved. It is
	// false when nothing new was transferred (the remote was asked for its refs only).
	Fetched bool
}

// Sentinel errors, for errors.Is on the errors Fetch returns.
var (
	// ErrUnreachable: the remote could not be reached and there is no cached revision.
	ErrUnreachable = errors.New("remote unreachable")
	// ErrAuthentication: the remote refused the credentials (or needs some).
	ErrAuthentication = errors.New("authentication failed")
	// ErrHostKey: the SSH host key is not the one in known_hosts, is not listed, or no known_hosts
	// file was given.
	ErrHostKey = errors.New("SSH host key not trusted")
	// ErrSignature: VerifyKeys is set and the commit is unsigned, signed by an unknown key, or its
	// signature does not verify.
	ErrSignature = errors.New("commit signature refused")
	// ErrNotFound: the repository, ref or commit does not exist on the remote.
	ErrNotFound = errors.New("not found")
)

// Error is the error type of Fetch. Its message names the URL without credentials and never contains
// a password, token, passphrase, key or file contents.
type Error struct {
	URL    string // without userinfo
	Ref    string // as given in the Spec
	Reason string
	kind   error
	ctxErr error
}

func (e *Error) Error() string {
	ref := ""
	if e.Ref != "" {
		ref = " (ref " + e.Ref + ")"
	}
	return "git source " + e.URL + ref + ": " + e.Reason
}

// Unwrap exposes the sentinel kind and, for a cancelled call, the context's error. The underlying
// transport error is not exposed: its text is only shown, scrubbed, in Reason.
func (e *Error) Unwrap() []error {
	var out []error
	if e.kind != nil {
		out = append(out, e.kind)
	}
	if e.ctxErr != nil {
		out = append(out, e.ctxErr)
	}
	return out
}

// Fetch brings the cache up to date with the remote and returns a checkout of the revision s asks
// for. See the package documentation.
func Fetch(ctx context.Context, s Spec) (*Revision, error) {
	parent := ctx
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	rem, err := parseRemote(s)
	if err != nil {
		return nil, err
	}
	f := &fetcher{spec: s, rem: rem, parent: parent}
	if rem.kind == "ssh" {
		var done func()
		f.proxy, done = sshDialProxy(ctx)
		defer done()
	}
	if f.want, err = parseRef(s.Ref); err != nil {
		return nil, f.errorf(nil, "%v", err)
	}
	if len(s.VerifyKeys) > 0 {
		if f.keys, err = parseKeys(s.VerifyKeys); err != nil {
			return nil, f.errorf(ErrSignature, "%v", err)
		}
	}
	cacheDir := s.CacheDir
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, f.errorf(nil, "no CacheDir given and no user cache directory: %v", err)
		}
		cacheDir = filepath.Join(base, "vmo-cue", "git")
	}
	if f.entry, err = openEntry(ctx, cacheDir, rem, s.Shallow); err != nil {
		if ctx.Err() != nil {
			return nil, f.contextError(ctx)
		}
		return nil, f.errorf(nil, "cache: %v", f.rem.scrub(err.Error()))
	}
	defer f.entry.close()
	rev, err := f.run(ctx)
	if err != nil {
		return nil, err
	}
	return rev, nil
}

func (f *fetcher) errorf(kind error, format string, args ...any) *Error {
	return &Error{URL: f.rem.display, Ref: f.spec.Ref, Reason: f.rem.scrub(fmt.Sprintf(format, args...)), kind: kind}
}

func (f *fetcher) contextError(ctx context.Context) *Error {
	e := f.errorf(nil, "%v", context.Cause(ctx))
	e.ctxErr = ctx.Err()
	return e
}
