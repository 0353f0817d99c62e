package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

type syncFlags struct {
	sourceFlags
	kubeconfig, selector, drift, health, stateDir string
	prune, retryOffline                           bool
	concurrency                                   int
	connectTimeout, pendingTimeout                time.Duration
}

func newSyncCmd(g *globalFlags) *cobra.Command {
	f := &syncFlags{}
	cmd := &cobra.Command{
		Use:   "sync --repo URL|PATH",
		Short: "Sync every targeted cluster of a fleet from one git revision, in a rollout",
		Long: `sync fetches the fleet repository (https, ssh with host keys checked against --known-hosts, or a
local path), renders and validates every targeted cluster from that one revision, and rolls it out:
canary clusters first, then the waves the fleet declares, with a bound on clusters changed at once; a
wave that fails stops the rollout. An error in the shared definitions applies nothing anywhere; a
cluster whose own definitions fail is skipped with its errors while the others proceed. A cluster
that cannot be reached within --connect-timeout is Offline, retried with backoff, and never holds the
rest back. When the remote is unreachable, the last good revision is used and the report says so.

Credentials: --token-file (or $VMO_GIT_TOKEN) and --username for https; --ssh-key and --known-hosts
for ssh. They never come from the fleet repository and never appear in output, and they are refused
over plain http:// unless --allow-insecure-http is given (a local test server).
Exit status: 0 every targeted cluster in sync (offline ones excepted: not reached, nothing written);
1 a cluster Failed (an object or the health check refused, or its prune refused by the share guard:
more than its prune.maxShare of the inventory), Interrupted (it stopped answering after the writes
began: partly applied, resumed by the next sync), Invalid, Held or still Syncing; 2 error.`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return runSync(cmd, g, f) },
	}
	fl := cmd.Flags()
	f.sourceFlags.register(fl)
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig with a context per cluster (default: $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&f.selector, "selector", "", "only clusters with these labels (k=v,k2=v2)")
	fl.StringVar(&f.drift, "drift", "correct", "what to do with drift: correct, or report")
	fl.BoolVar(&f.prune, "prune", false, "delete objects that left git (within each cluster's prune policy)")
	fl.IntVar(&f.concurrency, "concurrency", 0, fmt.Sprintf("clusters changed at once (default: the fleet's rollout.maxConcurrent, else %d)", fleet.DefaultMaxConcurrent))
	fl.StringVar(&f.health, "health", "", "override the rollout's health check: kstatus or accepted")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 5*time.Second, "how long a cluster has to answer before it is Offline")
	fl.DurationVar(&f.pendingTimeout, "pending-timeout", reconciler.DefaultPendingTimeout, "how long objects wait for their kind to exist")
	fl.BoolVar(&f.retryOffline, "retry-offline", false, "try offline clusters now, ignoring their backoff")
	fl.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "where this machine remembers clusters (last seen, backoff)")
	return cmd
}

func runSync(cmd *cobra.Command, g *globalFlags, f *syncFlags) error {
	spec, err := f.spec()
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	mode := reconciler.DriftMode(f.drift)
	if mode != reconciler.DriftCorrect && mode != reconciler.DriftReport {
		return &exitCode{code: exitError, err: fmt.Errorf("--drift %s: want correct or report", f.drift)}
	}
	sel, err := parseSelector(f.selector)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	ctx := context.Background()
	// A re-run (evaluation budget) syncs the commit the first run fetched, fetched again pinned (from
	// the cache, signature checked), and prints the first run's revision line: its notes (new since,
	// force-pushed) describe the fetch that run made.
	carried, rerun := g.rerun.recall("sync-revision")
	pinned, header, _ := strings.Cut(carried, "\n")
	if rerun {
		spec.Ref = pinned
	}
	rev, err := source.Fetch(ctx, spec)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	if rerun && rev.Commit != pinned {
		return &exitCode{code: exitError, err: fmt.Errorf("re-run for the evaluation budget: got commit %s, want %s", rev.Commit, pinned)}
	}
	if !rerun {
		header = fmt.Sprintf("revision %s (%s)%s\n", rev.Commit, rev.Ref, revisionNotes(rev))
		g.rerun.carry("sync-revision", rev.Commit+"\n"+header)
	}
	budget, err := g.budget()
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	state, err := fleet.OpenState(f.stateDir)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	// Nothing is printed before the fleet is evaluated: a run re-executed for the evaluation budget
	// would print it twice. The revision comes first all the same.
	prog := newProgress(errOut)
	prog.header = header
	rep, err := fleet.Sync(ctx, fleet.Options{Dir: rev.Dir, MaxFileSize: g.maxFileSize, Budget: budget, Revision: rev.Commit, Kubeconfig: f.kubeconfig, Selector: sel,
		Drift: mode, Prune: f.prune, Concurrency: f.concurrency, ConnectTimeout: f.connectTimeout, Health: f.health,
		PendingTimeout: f.pendingTimeout, State: state, RetryOffline: f.retryOffline, Progress: prog.update})
	prog.printHeader()
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	if len(rep.FleetErrors) > 0 {
		rep.FleetErrors.Cap(diag.MaxPerFile, diag.MaxPerRun).Print(errOut)
		return &exitCode{code: exitInvalid, err: fmt.Errorf("the fleet's shared definitions do not validate at %s: nothing applied anywhere", short(rev.Commit))}
	}
	for name, diags := range rep.Invalid {
		fmt.Fprintf(errOut, "cluster %s skipped:\n", diag.Name(name))
		diags.Cap(diag.MaxPerFile, diag.MaxPerRun).Print(errOut)
	}
	fmt.Fprintln(out)
	printOutcomes(out, rep.Outcomes)
	fmt.Fprintf(out, "revision %s, %s in %s\n", short(rev.Commit), diag.Plural(len(rep.Outcomes), "cluster"), rep.Took.Round(time.Millisecond))
	if hint := healthHint(rep.Outcomes); hint != "" {
		fmt.Fprint(errOut, hint)
	}
	if !rep.OK() {
		return &exitCode{code: exitInvalid, err: notInSync(rep.Outcomes)}
	}
	return nil
}

// healthHint explains a health check that waited its whole timeout: on API servers that run no
// operators and no nodes (`make clusters`), nothing ever becomes healthy.
func healthHint(outs []fleet.Outcome) string {
	var names []string
	for _, o := range outs {
		if o.HealthTimedOut {
			names = append(names, diag.Name(o.Cluster))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("note: the health check of %s waited its whole timeout (the fleet's rollout.healthTimeout). "+
		"If nothing runs the operators on these API servers (as after `make clusters`: no nodes, no operators), "+
		"nothing there ever becomes healthy: sync with --health accepted to take the API server's acceptance as health.\n",
		strings.Join(names, ", "))
}

// notInSync names the clusters that keep a sync from succeeding, with their states.
func notInSync(outs []fleet.Outcome) error {
	var names []string
	for _, o := range outs {
		if !o.State.OK() {
			names = append(names, diag.Name(o.Cluster)+" "+string(o.State))
		}
	}
	return fmt.Errorf("%s not in sync: %s", diag.OfPlural(len(names), len(outs), "cluster"), strings.Join(names, ", "))
}

func revisionNotes(r *source.Revision) string {
	var notes []string
	if r.Stale {
		notes = append(notes, "remote unreachable, using the last good revision: "+r.StaleReason)
	}
	if r.ForcePushed {
		notes = append(notes, "the branch was force-pushed (it was at "+short(r.Previous)+")")
	} else if r.Previous != "" {
		notes = append(notes, "new since "+short(r.Previous))
	}
	if r.SignedBy != "" {
		notes = append(notes, "signed by "+r.SignedBy)
	}
	if len(notes) == 0 {
		return ""
	}
	return ": " + strings.Join(notes, "; ")
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

func parseSelector(s string) (map[string]string, error) {
	set, err := labels.ConvertSelectorToLabelsMap(s)
	if err != nil {
		return nil, fmt.Errorf("--selector %q: want key=value[,key=value]: %w", s, err)
	}
	return set, nil
}
