package main

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// clusterFlags are the flags of commands that talk to one cluster.
type clusterFlags struct {
	cluster    string
	kubeconfig string
	context    string
}

func (f *clusterFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cluster, "cluster", "", "the cluster, as named in the fleet (required)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context (default: the cluster's declared context, else its name)")
}

// errClusterInvalid: the cluster's findings were printed; callers choose the exit code.
var errClusterInvalid = errors.New("cluster does not validate")

// loadCluster loads the fleet and returns the named cluster; if it does not validate, its findings go
// to the command's stderr and the error is errClusterInvalid.
func loadCluster(cmd *cobra.Command, g *globalFlags, dir, name string) (*validate.Cluster, error) {
	if name == "" {
		return nil, &exitCode{code: exitError, err: fmt.Errorf("--cluster is required")}
	}
	l, err := g.load(dir)
	if err != nil {
		return nil, err
	}
	vc := l.Cluster(name)
	if vc == nil {
		return nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %q: not in the fleet (no folder %s)", name, diag.Name("clusters/"+name))}
	}
	if !vc.Valid() {
		vc.Diags.Cap(diag.MaxPerFile, diag.MaxPerRun).Print(cmd.ErrOrStderr())
		return vc, errClusterInvalid
	}
	return vc, nil
}

// connect loads the fleet, checks the cluster validates, renders it and connects to it. Kubeconfig
// contents and tokens never appear in errors: only the file and the context are named.
func (f *clusterFlags) connect(cmd *cobra.Command, g *globalFlags, dir string) (*reconciler.Desired, *reconciler.Cluster, error) {
	vc, err := loadCluster(cmd, g, dir, f.cluster)
	if errors.Is(err, errClusterInvalid) {
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %s: %w", f.cluster, desired.ErrInvalid)}
	}
	if err != nil {
		return nil, nil, err
	}
	ctxName := f.context
	if ctxName == "" {
		ctxName = vc.Context
	}
	cfg, err := reconciler.RESTConfig(f.kubeconfig, ctxName)
	if err != nil {
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %s: %w", f.cluster, err)}
	}
	rc, err := reconciler.Connect(cfg)
	if err != nil {
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %s (context %q): %w", f.cluster, ctxName, err)}
	}
	d, err := desired.Render(vc)
	if err != nil {
		return nil, nil, &exitCode{code: exitError, err: err}
	}
	return d, rc, nil
}

// revisionOf names the git commit a directory is at, or "unversioned".
func revisionOf(dir string) string {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return "unversioned"
	}
	head, err := repo.Head()
	if err != nil {
		return "unversioned"
	}
	return head.Name().Short() + "@" + head.Hash().String()
}
