package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/render"
)

func newBuildCmd(g *globalFlags) *cobra.Command {
	var cluster, output string
	cmd := &cobra.Command{
		Use:   "build [DIR] --cluster NAME",
		Short: "Print the manifests of one cluster's desired state",
		Long: `build prints every object of the cluster's desired state as one stream: the enabled stack
components (CRDs, namespaces, operators, RBAC, custom resources, networks, snapshot classes) and the
cluster's VMs with their MACs. It prints nothing for a cluster that does not validate.`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "yaml" && output != "json" {
				return &exitCode{code: exitError, err: fmt.Errorf("-o %s: want yaml or json", output)}
			}
			c, err := loadCluster(cmd, g, dirArg(args), cluster)
			if errors.Is(err, errClusterInvalid) {
				return &exitCode{code: exitInvalid, err: render.ErrInvalid{Cluster: cluster}}
			}
			if err != nil {
				return err
			}
			c.Diags.Warnings().Cap(diag.MaxPerFile, diag.MaxPerRun).Print(cmd.ErrOrStderr())
			objs, err := desired.Objects(c)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), objs)
			}
			return writeYAML(cmd.OutOrStdout(), objs)
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "the cluster to build")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}

func writeYAML(w io.Writer, objs []render.Object) error {
	for i, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			return &exitCode{code: exitError, err: err}
		}
		if i > 0 {
			io.WriteString(w, "---\n")
		}
		if _, err := w.Write(data); err != nil {
			return &exitCode{code: exitError, err: err}
		}
	}
	return nil
}

func writeJSON(w io.Writer, objs []render.Object) error {
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(list); err != nil {
		return &exitCode{code: exitError, err: err}
	}
	return nil
}
