package controller

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/dashboard"
	"github.com/vmo-cue/vmo-cue/internal/source"
)

// recordCheckout tells the dashboard (if it runs) which revision of a Fleet was fetched last: its
// git view is loaded from that read-only checkout.
func (r *FleetReconciler) recordCheckout(f *fleetv1.Fleet, rev *source.Revision) {
	if r.Checkouts == nil {
		return
	}
	subject, _, _ := strings.Cut(rev.Message, "\n")
	branch := strings.TrimPrefix(strings.TrimPrefix(rev.Ref, "refs/heads/"), "refs/tags/")
	r.Checkouts.Record(f.Name, dashboard.Checkout{Dir: rev.Dir, Commit: rev.Commit, Branch: branch, Subject: subject})
}

// dashboardFleet is the Fleet whose repository declares a cluster.
func (r *FleetReconciler) dashboardFleet(ctx context.Context, cluster string) (*fleetv1.Fleet, error) {
	name := r.Checkouts.FleetOf(cluster)
	if name == "" {
		return nil, fmt.Errorf("cluster %s: no Fleet of %s declares it in its last fetched revision", cluster, r.dashboardNamespace)
	}
	f := &fleetv1.Fleet{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.dashboardNamespace, Name: name}, f); err != nil {
		return nil, fmt.Errorf("Fleet %s/%s: %w", r.dashboardNamespace, name, err)
	}
	return f, nil
}

// Workspace clones the repository of the cluster's Fleet, on the branch it follows, into a private
// temporary folder of the cache (0700) with the Fleet's git credentials, for one dashboard commit;
// the same credentials push it. cleanup removes the clone and the credential files.
func (r *FleetReconciler) Workspace(ctx context.Context, cluster string) (string, transport.AuthMethod, func(), error) {
	nothing := func() {}
	f, err := r.dashboardFleet(ctx, cluster)
	if err != nil {
		return "", nil, nothing, err
	}
	src := f.Spec.Source
	if src.Ref != nil && src.Ref.Branch == "" {
		return "", nil, nothing, fmt.Errorf("Fleet %s/%s follows a tag or a commit: the dashboard commits onto the branch a Fleet follows", f.Namespace, f.Name)
	}
	spec, credCleanup, err := r.sourceSpec(ctx, f)
	if err != nil {
		return "", nil, nothing, err
	}
	auth, err := pushAuth(spec)
	if err != nil {
		credCleanup()
		return "", nil, nothing, fmt.Errorf("Fleet %s/%s: %w", f.Namespace, f.Name, err)
	}
	if err := os.MkdirAll(r.CacheDir, 0o700); err != nil {
		credCleanup()
		return "", nil, nothing, fmt.Errorf("cache folder: %w", err)
	}
	dir, err := os.MkdirTemp(r.CacheDir, ".dashboard-")
	if err != nil {
		credCleanup()
		return "", nil, nothing, fmt.Errorf("a private working copy: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir); credCleanup() }
	opts := &git.CloneOptions{URL: src.URL, Auth: auth, SingleBranch: true, Tags: git.NoTags}
	if src.Ref != nil {
		opts.ReferenceName = plumbing.NewBranchReferenceName(src.Ref.Branch)
	}
	if spec.CAFile != "" {
		if opts.CABundle, err = os.ReadFile(spec.CAFile); err != nil {
			cleanup()
			return "", nil, nothing, fmt.Errorf("Fleet %s/%s: CA bundle: %w", f.Namespace, f.Name, err)
		}
	}
	repoDir := filepath.Join(dir, "fleet")
	if _, err := git.PlainCloneContext(ctx, repoDir, false, opts); err != nil {
		cleanup()
		// go-git's errors name the URL as given; the URL of a Fleet carries no password (the Secret does).
		return "", nil, nothing, fmt.Errorf("cloning the repository of Fleet %s/%s: %w", f.Namespace, f.Name, err)
	}
	return repoDir, auth, cleanup, nil
}

// pushAuth is go-git's form of a source.Spec's credentials (nil: none, e.g. file://).
func pushAuth(spec source.Spec) (transport.AuthMethod, error) {
	switch {
	case spec.Auth.SSHKeyFile != "":
		if spec.Auth.KnownHostsFile == "" {
			return nil, errors.New("an ssh key without known_hosts: the server's host key is checked, never trusted blindly")
		}
		user := "git"
		if ep, err := transport.NewEndpoint(spec.URL); err == nil && ep.User != "" {
			user = ep.User
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, spec.Auth.SSHKeyFile, spec.Auth.SSHKeyPassphrase)
		if err != nil {
			return nil, errors.New("the ssh key of the Secret cannot be read")
		}
		cb, err := gitssh.NewKnownHostsCallback(spec.Auth.KnownHostsFile)
		if err != nil {
			return nil, errors.New("the known_hosts of the Secret cannot be read")
		}
		keys.HostKeyCallback = cb
		return keys, nil
	case spec.Auth.Username != "" || spec.Auth.Password != "":
		if u, err := url.Parse(spec.URL); err == nil && u.Scheme == "http" {
			return nil, errors.New("credentials over plain http are refused")
		}
		user := spec.Auth.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: spec.Auth.Password}, nil
	}
	return nil, nil
}

// afterCommit reconciles the cluster's Fleet now, so the commit is applied without waiting for the
// interval.
func (r *FleetReconciler) afterCommit(ctx context.Context, cluster string) {
	f, err := r.dashboardFleet(ctx, cluster)
	if err != nil {
		return
	}
	_ = r.trigger(ctx, f)
}
