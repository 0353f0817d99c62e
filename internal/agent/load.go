package agent

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/internal/validate"
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

// load renders this cluster at a checkout: evaluated and validated alone, or with the whole fleet
// when it shares a layer-2 domain (MACs are assigned and checked across the domain). A cluster that
// does not validate yields its findings in the error, at file:line.
func (a *Agent) load(dir, revision, commit string) (*target, error) {
	opts := desired.Options{MaxFileSize: a.opts.MaxFileSize, Budget: a.opts.Budget, Only: []string{a.opts.Cluster}}
	res, err := desired.Load(dir, opts)
	if err != nil {
		return nil, err
	}
	vc := res.Cluster(a.opts.Cluster)
	if vc != nil && vc.L2Domain != "" {
		opts.Only = nil
		if res, err = desired.Load(dir, opts); err != nil {
			return nil, err
		}
		vc = res.Cluster(a.opts.Cluster)
	}
	if vc == nil {
		return nil, fmt.Errorf("cluster %s: not in the fleet at %s (no folder %s)", diag.Name(a.opts.Cluster), revision, diag.Name("clusters/"+a.opts.Cluster))
	}
	if !vc.Valid() {
		return nil, &invalidError{revision: revision, diags: vc.Diags.Errors().Cap(diag.MaxPerFile, diag.MaxPerRun)}
	}
	d, err := desired.Render(vc)
	if err != nil {
		return nil, err
	}
	t := &target{revision: revision, commit: commit, desired: d, vms: len(vc.VMs), health: "kstatus", healthTimeout: 5 * time.Minute}
	readHealth(res, t)
	return t, nil
}

// readHealth takes the rollout's health check and its timeout from the fleet.
func readHealth(res *validate.Result, t *target) {
	if res.Fleet == nil {
		return
	}
	if h, ok := res.Fleet.Rollout["health"].(string); ok {
		t.health = h
	}
	if s, ok := res.Fleet.Rollout["healthTimeout"].(string); ok {
		if d, err := time.ParseDuration(s); err == nil {
			t.healthTimeout = d
		}
	}
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
