package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

type globalFlags struct {
	maxFileSize int64
	evalTimeout time.Duration
	evalMemory  byteSize
	// rerun, when set, re-executes the command when evaluation exceeds its budget (budget.go).
	rerun *rerunner
}

func newRootCmd(rerun *rerunner) *cobra.Command {
	g := &globalFlags{evalMemory: defaultEvalMemory, rerun: rerun}
	root := &cobra.Command{
		Use:           "vmo-cue",
		Short:         "Git as the single source of truth for fleets of KubeVirt VM clusters",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Int64Var(&g.maxFileSize, "max-file-size", fleetfs.DefaultMaxFileSize, "largest file read from the fleet repository, in bytes")
	root.PersistentFlags().DurationVar(&g.evalTimeout, "eval-timeout", defaultEvalTimeout, "longest evaluation of one cluster (and of the shared definitions): past it, the cluster fails")
	root.PersistentFlags().Var(&g.evalMemory, "eval-memory", "largest heap while the fleet is evaluated (e.g. 512MiB, 4GiB): past it, the cluster being evaluated fails")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &exitCode{code: exitError, err: err} })
	root.AddCommand(
		newVetCmd(g),
		newBuildCmd(g),
		newMACCmd(g),
		newInitCmd(),
		newClustersCmd(g),
		newDiffCmd(g),
		newApplyCmd(g),
		newStatusCmd(),
		newSyncCmd(g),
		newControllerCmd(g),
		newImportCmd(),
		newVersionCmd(),
		newHubCmd(),
		newDashboardCmd(),
		newEvalWorkerCmd(g),
		newAgentCmd(g),
	)
	root.Version = buildVersion()
	root.SetVersionTemplate("vmo-cue {{.Version}}\n")
	return root
}

func (g *globalFlags) load(dir string, opts ...func(*desired.Options)) (*loaded, error) {
	budget, err := g.budget()
	if err != nil {
		return nil, &exitCode{code: exitError, err: err}
	}
	o := desired.Options{MaxFileSize: g.maxFileSize, Budget: budget}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := desired.Load(dir, o)
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
