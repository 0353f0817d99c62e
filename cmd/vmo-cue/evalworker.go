package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/evalworker"
)

// newEvalWorkerCmd is the evaluation worker (internal/evalworker): hidden, started by `vmo-cue
// controller` and by the agent (--only its cluster) for each revision, writing each cluster's desired state to a file of --out and a header
// on stdout. Its budget re-executes
// it on a breach, as every command's does; the controller kills it past its deadline or memory limit.
func newEvalWorkerCmd(g *globalFlags) *cobra.Command {
	var out string
	var batch int
	var only []string
	cmd := &cobra.Command{
		Use:    evalworker.Command + " DIR",
		Short:  "Evaluate a fleet checkout for the controller and render its clusters into a folder (internal)",
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
			if out == "" {
				return &exitCode{code: exitError, err: fmt.Errorf("--out: required")}
			}
			if err := evalworker.Serve(cmd.OutOrStdout(), args[0], out, batch, desired.Options{MaxFileSize: g.maxFileSize, Budget: budget, Only: only}); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "folder the clusters' desired states are written to")
	cmd.Flags().IntVar(&batch, "batch", 0, "clusters evaluated at a time (0: the fleet at once)")
	// An agent's worker evaluates its own cluster only (the whole fleet if it shares a layer-2 domain).
	cmd.Flags().StringArrayVar(&only, "only", nil, "evaluate and render only this cluster (repeatable; default: every cluster)")
	return cmd
}
