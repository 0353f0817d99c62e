package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/macassign"
)

func newMACCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "mac", Short: "Manage VM MAC addresses"}
	assign := &cobra.Command{
		Use:   "assign [DIR]",
		Short: "Write assigned MACs into the files the VMs came from",
		Long: `assign gives every interface that needs a MAC (bridge, macvtap or SR-IOV on a Multus network) and
has none the MAC vmo-cue derives from its identity (cluster, namespace, VM, interface), inside the
allowed prefixes, and writes it into the VM's file next to the interface's name, keeping comments and
layout. An interface from a template shared with other VMs gets its MAC in a line of the VM's own,
after the VM's declaration in its cluster's folder. Every edit is planned before any file is written:
all files are written, or none (the error names the file). Run it once and commit: the MACs then stay
stable in git. Clusters with errors are left alone.`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := dirArg(args)
			l, err := g.load(dir)
			if err != nil {
				return err
			}
			edits, err := macassign.Apply(l.Result)
			for _, e := range edits {
				fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: %s interface %s: macAddress %s\n", diag.Name(e.File), e.Line, diag.Name(e.VM), diag.Name(e.Interface), e.MAC)
			}
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			skipped := 0
			for _, c := range l.Clusters {
				if !c.Valid() {
					skipped++
				}
			}
			if skipped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d clusters with errors were skipped: run vmo-cue vet\n", skipped)
				return &exitCode{code: exitInvalid}
			}
			return nil
		},
	}
	cmd.AddCommand(assign)
	return cmd
}
