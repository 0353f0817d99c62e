package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/preview"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

type loaded struct{ *validate.Result }

func newVetCmd(g *globalFlags) *cobra.Command {
	var noFastPath bool
	cmd := &cobra.Command{
		Use:   "vet [DIR]",
		Short: "Validate every cluster of a fleet repository and print every error at once",
		Long: `vet validates every cluster of the fleet repository in DIR (default: the current directory) and
prints every error and warning in the format of cue vet, each with the file and line it comes from.
Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Lean: vet keeps findings and counts, not the VMs' objects (a 100,000-VM fleet's
			// objects held to the end took more heap than the collector's soft limit).
			l, err := g.load(dirArg(args), func(o *desired.Options) { o.NoFastPath, o.Lean = noFastPath, true })
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
			vms := 0
			for _, c := range l.Clusters {
				vms += len(c.VMs)
			}
			sum := preview.Vet{Valid: errs == 0, Errors: errs, Warnings: warns, Clusters: len(l.Clusters), InvalidClusters: invalid, VMs: vms}
			fmt.Fprintln(cmd.ErrOrStderr(), sum.Summary())
			if errs > 0 {
				return &exitCode{code: exitInvalid}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noFastPath, "no-fast-path", false,
		"evaluate every cluster's VMs in CUE, even those written as plain data (slower; for diagnosis: the result must be the same)")
	return cmd
}
