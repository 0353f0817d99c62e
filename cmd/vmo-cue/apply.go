package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/reconciler"
)

func newApplyCmd(g *globalFlags) *cobra.Command {
	f := &clusterFlags{}
	var prune, forcePrune, dryRun, adopt bool
	var drift string
	var pendingTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "apply [DIR] --cluster NAME",
		Short: "Apply a cluster's desired state: staged server-side apply, drift correction, safe prune",
		Long: `apply validates the cluster (as vet does), dry-runs every change on the server, and only then
applies, in stages: CRDs, namespaces and cluster-wide RBAC (waited for), then the stack, then VMs (whose
kinds may appear only once virt-operator runs: those wait up to --pending-timeout and are reported as
pending). What it applied is recorded in the cluster (namespace vmo-cue-system), so --prune works from
any machine. VMs, DataVolumes, PVCs and namespaces holding them are never pruned without an opt-in.
--prune deletes only objects that prove to be vmo-cue's: they carry the labels vmo-cue.dev/fleet and
vmo-cue.dev/cluster of this fleet and cluster, an entry of vmo-cue's field manager and the UID recorded
when vmo-cue applied them; system objects (kube-* namespaces, cluster-admin, system:* RBAC) never.
The first apply records which fleet and cluster the API server belongs to; an apply of another one
(a wrong --context) is refused, unless --adopt takes the API server over.
Exit status: 0 applied (and pruned); 1 applied, but drift reported, objects pending, or the prune refused
(over the cluster's prune.maxShare of the inventory without --force-prune: nothing pruned); 2 usage
error, or the cluster unreachable or refusing objects (a refusal in the dry-run writes nothing).`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := reconciler.DriftMode(drift)
			if mode != reconciler.DriftCorrect && mode != reconciler.DriftReport {
				return &exitCode{code: exitError, err: fmt.Errorf("--drift %s: want correct or report", drift)}
			}
			dir := dirArg(args)
			d, rc, err := f.connect(cmd, g, dir)
			if err != nil {
				return err
			}
			res, err := rc.Reconcile(context.Background(), d, reconciler.Options{
				Revision: revisionOf(dir), Drift: mode, Prune: prune, ForcePrune: forcePrune, DryRun: dryRun, Adopt: adopt,
				PendingTimeout: pendingTimeout,
				Logf:           func(format string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", a...) },
			})
			printResult(cmd.OutOrStdout(), res, dryRun)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			if res.PruneRefused != "" {
				return &exitCode{code: exitInvalid, err: fmt.Errorf("cluster %s: prune refused, nothing pruned: %s (--force-prune allows it)", d.Cluster, res.PruneRefused)}
			}
			if len(res.Drifted)+len(res.OutOfSync)+len(res.Pending) > 0 {
				return &exitCode{code: exitInvalid}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&prune, "prune", false, "delete objects that left git (within the cluster's prune policy)")
	cmd.Flags().BoolVar(&forcePrune, "force-prune", false, "allow a prune over the policy's maximum share of the inventory")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "server-side dry-run: write nothing")
	cmd.Flags().BoolVar(&adopt, "adopt", false, "take over an API server recorded for another fleet or cluster")
	cmd.Flags().StringVar(&drift, "drift", "correct", "what to do with drift: correct, or report (change nothing that exists)")
	cmd.Flags().DurationVar(&pendingTimeout, "pending-timeout", reconciler.DefaultPendingTimeout, "how long objects wait for their kind to exist")
	return cmd
}

func printResult(w io.Writer, r *reconciler.Result, dryRun bool) {
	if r == nil {
		return
	}
	verb := ""
	if dryRun {
		verb = " (dry-run)"
	}
	for _, it := range r.Applied {
		fmt.Fprintf(w, "%s %s%s\n", it.ID, it.Action, verb)
	}
	for _, it := range r.Corrected {
		fmt.Fprintf(w, "%s drift corrected (%s)%s\n", it.ID, it.Reason, verb)
	}
	for _, it := range r.Drifted {
		fmt.Fprintf(w, "%s drifted: %s (not corrected: --drift report)\n", it.ID, it.Reason)
	}
	for _, it := range r.OutOfSync {
		fmt.Fprintf(w, "%s out of sync: %s in git (not applied: --drift report)\n", it.ID, it.Action)
	}
	for _, it := range r.Pending {
		fmt.Fprintf(w, "%s pending: kind %s not served by the cluster yet\n", it.ID, it.ID.Kind)
	}
	for _, e := range r.Failed {
		fmt.Fprintf(w, "%s failed: %v\n", e.Item.ID, e.Err)
	}
	for _, id := range r.Pruned {
		fmt.Fprintf(w, "%s pruned\n", id)
	}
	for _, o := range r.Orphans {
		fmt.Fprintf(w, "%s %s\n", o.ID, o.Kept)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "%s: %d applied, %d corrected, %d drifted, %d unchanged, %d pending, %d failed, %d pruned, %d orphans (%d API requests)\n",
		r.Cluster, len(r.Applied), len(r.Corrected), len(r.Drifted), r.Unchanged, len(r.Pending), len(r.Failed), len(r.Pruned), len(r.Orphans), r.Requests)
}
