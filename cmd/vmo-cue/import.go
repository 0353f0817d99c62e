package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/palette"
)

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import what Palette's VMO pack configures into a fleet repository",
		Args:  usageArgs(0),
	}
	cmd.AddCommand(newImportPaletteCmd(), newImportTemplateCmd())
	return cmd
}

func newImportPaletteCmd() *cobra.Command {
	var cluster, kind, dir string
	cmd := &cobra.Command{
		Use:   "palette VALUES.yaml --cluster NAME [--kind edge|datacenter] [-o DIR]",
		Short: "Write clusters/NAME/cluster.cue from the values of Palette's VMO pack",
		Long: `palette reads the values file of Palette's "virtual-machine-orchestrator" pack and writes
DIR/clusters/NAME/cluster.cue (DIR: the fleet repository, default the current directory) with the
equivalent stack: every switch, feature gate, version (from the image tags) and setting that has an
equivalent, each with a comment naming its line in the values file. Every value without one is listed
on stderr and in a comment at the end of the file: placeholders (${...}, {{ ... }}), Helm-only settings,
and settings vmo-cue does not model. An existing file is never overwritten.
Exit status: 0 written, 2 error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &exitCode{code: exitError, err: fmt.Errorf("want one values file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			res, err := palette.Import(filepath.Base(args[0]), data, palette.Options{Cluster: cluster, Kind: kind})
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			out := filepath.Join(dir, "clusters", cluster, "cluster.cue")
			if _, err := os.Lstat(out); err == nil || !errors.Is(err, fs.ErrNotExist) {
				return &exitCode{code: exitError, err: fmt.Errorf("%s: exists: not overwritten", diag.Name(out))}
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			if err := os.WriteFile(out, res.CUE, 0o644); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			w := cmd.ErrOrStderr()
			for _, it := range res.NotCarried {
				fmt.Fprintln(w, "not carried over:", it.String(filepath.Base(args[0])))
			}
			fmt.Fprintf(w, "wrote %s (%d values not carried over, listed above and at the end of the file); run vmo-cue vet\n", diag.Name(out), len(res.NotCarried))
			return nil
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "the cluster's name (required)")
	cmd.Flags().StringVar(&kind, "kind", "datacenter", "edge or datacenter")
	cmd.Flags().StringVarP(&dir, "output", "o", ".", "the fleet repository to write into")
	return cmd
}

func newImportTemplateCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "palette-template FILE [-o FILE]",
		Short: "Turn Palette VM templates (spectrocloud.com/v1 VmTemplate) into KubeVirt VirtualMachines",
		Long: `palette-template turns every VmTemplate of FILE into a plain kubevirt.io/v1 VirtualMachine (YAML, to
stdout or -o FILE, never overwriting one): the template's spec less its template-only fields
(description, displayName, icon), and less what the cluster writes (uid, status, ...). Each field left
out is named on stderr and in a comment above its VM.
Exit status: 0 written, 2 error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &exitCode{code: exitError, err: fmt.Errorf("want one template file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			name := filepath.Base(args[0])
			ts, err := palette.ImportTemplates(name, data)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			text, err := palette.WriteVMs(name, ts)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			for _, t := range ts {
				for _, d := range t.Dropped {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: VmTemplate %s: left out %s: %s\n", diag.Name(name), d.Line, diag.Name(t.Name), d.Path, d.Reason)
				}
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(text)
				return err
			}
			f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			if _, err := f.Write(text); err != nil {
				f.Close()
				return &exitCode{code: exitError, err: err}
			}
			return f.Close()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the VMs to this file (default: stdout)")
	return cmd
}
