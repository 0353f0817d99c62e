package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/macassign"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler"
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
				fmt.Fprintf(cmd.ErrOrStderr(), "%s with errors %s skipped: run vmo-cue vet\n", diag.Plural(skipped, "cluster"), map[bool]string{true: "was", false: "were"}[skipped == 1])
				return &exitCode{code: exitInvalid}
			}
			return nil
		},
	}
	cmd.AddCommand(assign, newMACAdoptCmd(g))
	return cmd
}

func newMACAdoptCmd(g *globalFlags) *cobra.Command {
	f := &clusterFlags{}
	adopt := &cobra.Command{
		Use:   "adopt [DIR] --cluster NAME",
		Short: "Write the MACs the cluster's live VMs have into git",
		Long: `adopt reads the cluster's VirtualMachines and writes, for every interface git leaves without a MAC,
the MAC the live VM has there (KubeVirt's, kubemacpool's, a person's, or one vmo-cue derived) into the
VM's file, as mac assign writes derived MACs: from then on git owns it. Only that cluster's files are
edited. A live MAC outside the cluster's MAC policy, or used by another interface in git, stops the
run: nothing is written, and each is named. apply and sync keep live MACs on interfaces git leaves
without one anyway; adopt makes them git's, checked by vet.`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := dirArg(args)
			l, err := g.load(dir)
			if err != nil {
				return err
			}
			vc := l.Cluster(f.cluster)
			if f.cluster == "" || vc == nil {
				return &exitCode{code: exitError, err: fmt.Errorf("--cluster names no cluster of the fleet (%q)", f.cluster)}
			}
			if !vc.Valid() {
				vc.Diags.Cap(diag.MaxPerFile, diag.MaxPerRun).Print(cmd.ErrOrStderr())
				return &exitCode{code: exitInvalid, err: fmt.Errorf("cluster %s: %w", diag.Name(f.cluster), desired.ErrInvalid)}
			}
			live, err := f.liveMACs(cmd.Context(), vc)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			edits, err := macassign.Adopt(l.Result, f.cluster, live)
			if err != nil {
				return &exitCode{code: exitInvalid, err: err}
			}
			for _, e := range edits {
				fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: %s interface %s: macAddress %s\n", diag.Name(e.File), e.Line, diag.Name(e.VM), diag.Name(e.Interface), e.MAC)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d live MACs written into git\n", diag.Name(f.cluster), len(edits))
			return nil
		},
	}
	f.register(adopt)
	return adopt
}

// liveMACs reads the MACs of the cluster's live VirtualMachines. Errors name the kubeconfig context,
// never its contents.
func (f *clusterFlags) liveMACs(ctx context.Context, vc *validate.Cluster) (macassign.LiveMACs, error) {
	ctxName := f.context
	if ctxName == "" {
		ctxName = vc.Context
	}
	cfg, err := reconciler.RESTConfig(f.kubeconfig, ctxName)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", diag.Name(f.cluster), err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("cluster %s (context %q): %w", diag.Name(f.cluster), ctxName, err)
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachineList"})
	if err := c.List(ctx, list); err != nil {
		return nil, fmt.Errorf("cluster %s (context %q): listing VirtualMachines: %w", diag.Name(f.cluster), ctxName, err)
	}
	out := macassign.LiveMACs{}
	for _, u := range list.Items {
		ifaces, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "domain", "devices", "interfaces")
		for _, x := range ifaces {
			m, _ := x.(map[string]any)
			name, _ := m["name"].(string)
			if mac, _ := m["macAddress"].(string); mac != "" {
				key := u.GetNamespace() + "/" + u.GetName()
				if out[key] == nil {
					out[key] = map[string]string{}
				}
				out[key][name] = mac
			}
		}
	}
	return out, nil
}
