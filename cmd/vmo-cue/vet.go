package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

type loaded struct{ *validate.Result }

// loadLean loads as load does, keeping the findings and counts vet prints, not the VMs' objects
// (desired.Options.Lean): a 100,000-VM fleet's objects held to the end took more heap than the
// collector's soft limit.
func (g *globalFlags) loadLean(dir string) (*loaded, error) {
	budget, err := g.budget()
	if err != nil {
		return nil, &exitCode{code: exitError, err: err}
	}
	r, err := desired.Load(dir, desired.Options{MaxFileSize: g.maxFileSize, Budget: budget, Lean: true})
	if err != nil {
		return nil, &exitCode{code: exitError, err: err}
	}
	return &loaded{Result: r}, nil
}

func newVetCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "vet [DIR]",
		Short: "Validate every cluster of a fleet repository and print every error at once",
		Long: `vet validates every cluster of the fleet repository in DIR (default: the current directory) and
prints every error and warning in the format of cue vet, each with the file and line it comes from.
Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.loadLean(dirArg(args))
			if err != nil {
				return err
			}
			all := l.All()
			if err := all.Print(cmd.ErrOrStderr()); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			n := all.Count() // the findings dropped by the caps included
			errs, warns := n.Errors, n.Warnings
			invalid := 0
			for _, c := range l.Clusters {
				if !c.Valid() {
					invalid++
				}
			}
			if errs > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d errors, %d warnings: %d of %d clusters invalid\n", errs, warns, invalid, len(l.Clusters))
				return &exitCode{code: exitInvalid}
			}
			vms := 0
			for _, c := range l.Clusters {
				vms += len(c.VMs)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "ok: %d clusters, %d VMs, %d warnings\n", len(l.Clusters), vms, warns)
			return nil
		},
	}
}
