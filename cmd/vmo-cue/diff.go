package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/reconciler/livediff"
)

func newDiffCmd(g *globalFlags) *cobra.Command {
	f := &clusterFlags{}
	rf := &revDiffFlags{}
	cmd := &cobra.Command{
		Use:   "diff [DIR] --cluster NAME | diff --from REV [--to REV] [--repo DIR] [-o text|markdown|json]",
		Short: "Show what differs between a cluster and git, object by object",
		Long: `diff prints a unified diff, object by object, between each live object and what git wants of it
(Secret values masked): objects new or changed in git, drifted (fields vmo-cue set that someone changed
or removed), or deleted. Fields other controllers own and server defaults are not drift, nor, in a
VM, a MAC on an interface git leaves without one or a power state its operators own; a VM field that
changed hands but holds git's value again (virtctl stop, then start) is not drift either.
Exit status: 0 nothing differs, 1 something differs, 2 error.

With --from, no cluster is needed: diff renders the whole fleet at two git revisions and prints, per
cluster, the objects a merge would create, change or remove, the clusters it does not touch, and the
vet result of the new revision (see diff_revs.go).`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rf.from != "" || cmd.Flags().Changed("to") {
				return runRevDiff(cmd, g, rf, f, args)
			}
			d, rc, err := f.connect(cmd, g, dirArg(args))
			if err != nil {
				return err
			}
			ctx := context.Background()
			p, err := rc.Observe(ctx, d)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			changes := p.Changes()
			if err := livediff.Write(ctx, rc, changes, cmd.OutOrStdout()); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			for _, o := range p.Orphans {
				fmt.Fprintf(cmd.OutOrStdout(), "# %s (left git)\n", o.ID)
			}
			if len(changes)+len(p.Orphans) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d objects differ, %d left git\n", d.Cluster, len(changes), len(p.Orphans))
				return &exitCode{code: exitInvalid}
			}
			return nil
		},
	}
	f.register(cmd)
	rf.register(cmd)
	return cmd
}
