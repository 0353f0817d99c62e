package agent

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// target is one revision of the cluster, rendered.
type target struct {
	// revision names it as the controller does ("main@sha1:<commit>"); commit is the commit.
	revision, commit string
	desired          *reconciler.Desired
	vms              int
	health           string
	healthTimeout    time.Duration
}

var hexCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// commitOf returns the commit of a revision as the controller writes it ("main@sha1:<commit>",
// "sha1:<commit>") or a bare commit.
func commitOf(revision string) (string, error) {
	c := revision
	if i := strings.LastIndex(revision, "sha1:"); i >= 0 {
		c = revision[i+len("sha1:"):]
	}
	if !hexCommit.MatchString(c) {
		return "", fmt.Errorf("released revision %q: want <ref>@sha1:<40 hex digits>", revision)
	}
	return c, nil
}

// revisionOf names a fetched revision as Flux and the controller do: "main@sha1:<commit>",
// "v1.0@sha1:<commit>" for a tag, "sha1:<commit>" for a pinned commit.
func revisionOf(rev *source.Revision) string {
	name := strings.TrimPrefix(strings.TrimPrefix(rev.Ref, "refs/heads/"), "refs/tags/")
	if name == rev.Commit {
		return "sha1:" + rev.Commit
	}
	return name + "@sha1:" + rev.Commit
}

// fetch brings the revision to apply: the followed ref's head (standalone, released == ""), or the
// released commit, which is the ref's head almost always (one ref advertisement when nothing is new)
// and else fetched pinned (from the cache when it is there, which needs no network).
func (a *Agent) fetch(ctx context.Context, released string) (*source.Revision, string, error) {
	spec := a.opts.Source
	if released == "" {
		rev, err := source.Fetch(ctx, spec)
		if err != nil {
			return nil, "", err
		}
		return rev, revisionOf(rev), nil
	}
	commit, err := commitOf(released)
	if err != nil {
		return nil, "", err
	}
	if rev, err := source.Fetch(ctx, spec); err == nil && rev.Commit == commit {
		return rev, released, nil
	}
	spec.Ref = commit
	rev, err := source.Fetch(ctx, spec)
	if err != nil {
		return nil, "", err
	}
	return rev, released, nil
}

// invalidError is a revision whose definitions of this cluster do not validate: nothing is applied.
type invalidError struct {
	revision string
	diags    diag.List
}

func (e *invalidError) Error() string {
	var b strings.Builder
	e.diags.Print(&b)
	return fmt.Sprintf("revision %s does not validate for this cluster, nothing applied:\n%s", e.revision, strings.TrimRight(b.String(), "\n"))
}
