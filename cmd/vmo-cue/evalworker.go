package main

import (
	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/evalworker"
)

// newEvalWorkerCmd is the controller's evaluation worker (internal/evalworker): hidden, started by
// `vmo-cue controller` for each revision, speaking JSON on stdin and stdout. Its budget re-executes
// it on a breach, as every command's does; the controller kills it past its deadline or memory limit.
func newEvalWorkerCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:    evalworker.Command + " DIR",
		Short:  "Evaluate a fleet checkout for the controller and render its clusters on request (internal)",
		Hidden: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			budget, err := g.budget()
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			if err := evalworker.Serve(cmd.InOrStdin(), cmd.OutOrStdout(), args[0], desired.Options{MaxFileSize: g.maxFileSize, Budget: budget}); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			return nil
		},
	}
}
