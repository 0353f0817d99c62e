package main

import (
	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

type globalFlags struct {
	maxFileSize int64
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "vmo-cue",
		Short:         "Git as the single source of truth for fleets of KubeVirt VM clusters",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Int64Var(&g.maxFileSize, "max-file-size", fleetfs.DefaultMaxFileSize, "largest file read from the fleet repository, in bytes")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &exitCode{code: exitError, err: err} })
	root.AddCommand(newVetCmd(g), newBuildCmd(g), newMACCmd(g), newInitCmd(), newClustersCmd(g), newDiffCmd(g), newApplyCmd(g), newStatusCmd(), newSyncCmd(g), newControllerCmd(g))
	return root
}

func (g *globalFlags) load(dir string) (*loaded, error) {
	r, err := desired.Load(dir, desired.Options{MaxFileSize: g.maxFileSize})
	if err != nil {
		return nil, &exitCode{code: exitError, err: err}
	}
	return &loaded{Result: r}, nil
}

func dirArg(args []string) string {
	if len(args) == 0 {
		return "."
	}
	return args[0]
}

func usageArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return &exitCode{code: exitError, err: err}
		}
		return nil
	}
}
