package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

func newClustersCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "clusters [DIR]",
		Short: "List the clusters of a fleet repository, one name per line",
		Args:  usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.load(dirArg(args))
			if err != nil {
				return err
			}
			for _, c := range l.Clusters {
				if c.Declared {
					fmt.Fprintln(cmd.OutOrStdout(), diag.Name(c.Name))
				}
			}
			return nil
		},
	}
}
