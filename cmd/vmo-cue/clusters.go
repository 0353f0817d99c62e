package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

func newClustersCmd(g *globalFlags) *cobra.Command {
	var contexts bool
	cmd := &cobra.Command{
		Use:   "clusters [DIR]",
		Short: "List the clusters of a fleet repository, one name per line (--contexts: name and kubeconfig context)",
		Args:  usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.load(dirArg(args))
			if err != nil {
				return err
			}
			var stopped diag.List
			for _, c := range l.Clusters {
				switch {
				case contexts && c.Declared && c.Unevaluated == "":
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", diag.Name(c.Name), diag.Name(c.Context))
				case c.Declared || c.Unevaluated != "":
					fmt.Fprintln(cmd.OutOrStdout(), diag.Name(c.Name))
				}
				if c.Unevaluated != "" {
					stopped = append(stopped, c.Diags.Errors()...)
				}
			}
			if len(stopped) > 0 { // listed, but whether it declares a cluster is unknown
				stopped.Dedup().Cap(diag.MaxPerFile, diag.MaxPerRun).Print(cmd.ErrOrStderr())
				return &exitCode{code: exitInvalid}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&contexts, "contexts", false, "print each cluster's kubeconfig context after its name (the name unless the declaration sets `context`)")
	return cmd
}
