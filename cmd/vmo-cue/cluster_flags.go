package main

import (
	"fmt"
	"os"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

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

// connect loads the fleet, checks the cluster validates, and connects to it. Kubeconfig contents and
// tokens never appear in errors: only the file and the context are named.
func (f *clusterFlags) connect(g *globalFlags, dir string) (*validate.Cluster, *reconciler.Cluster, error) {
	if f.cluster == "" {
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("--cluster is required")}
	}
	l, err := g.load(dir)
	if err != nil {
		return nil, nil, err
	}
	vc := l.Cluster(f.cluster)
	if vc == nil {
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %q: not in the fleet (no folder clusters/%s)", f.cluster, f.cluster)}
	}
	if !vc.Valid() {
		vc.Diags.Print(os.Stderr)
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %s: %w", f.cluster, reconciler.ErrInvalid)}
	}
	ctxName := f.context
	if ctxName == "" {
		ctxName = vc.Context
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.kubeconfig != "" {
		rules.ExplicitPath = f.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: ctxName}).ClientConfig()
	if err != nil {
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %s: kubeconfig context %q: %w", f.cluster, ctxName, err)}
	}
	rc, err := reconciler.Connect(cfg)
	if err != nil {
		return nil, nil, &exitCode{code: exitError, err: fmt.Errorf("cluster %s (context %q): %w", f.cluster, ctxName, err)}
	}
	return vc, rc, nil
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
