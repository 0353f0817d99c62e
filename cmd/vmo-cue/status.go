package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

func newStatusCmd() *cobra.Command {
	var kubeconfig, output, stateDir, fleetRef, ctxName string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each cluster's sync state, read from the clusters themselves",
		Long: `status reads, through every context of the kubeconfig, the sync status vmo-cue recorded in each
cluster: its state (InSync, Drifted, Syncing, Failed), the revision applied and when, drift, orphans and
VM count. A cluster that does not answer within --timeout is Offline, with when this machine last saw it
(by a sync or a status) and the revision and VM count it last had, or Interrupted if this machine's last sync of it was cut off after the
writes began (partly applied).
With --fleet NAMESPACE/NAME, status reads instead the controller's FleetClusters of that Fleet from the
management cluster (the kubeconfig's current context, or --context): the same columns, as the
controller last recorded them.`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return &exitCode{code: exitError, err: fmt.Errorf("-o %s: want table or json", output)}
			}
			if fleetRef != "" {
				list, err := fleetStatuses(kubeconfig, ctxName, fleetRef, timeout)
				if err != nil {
					return &exitCode{code: exitError, err: err}
				}
				return printStatuses(cmd, output, list)
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			if kubeconfig != "" {
				rules.ExplicitPath = kubeconfig
			}
			raw, err := rules.Load()
			if err != nil {
				return &exitCode{code: exitError, err: fmt.Errorf("kubeconfig: %w", err)}
			}
			state, err := fleet.OpenState(stateDir)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			var contexts []string
			for name := range raw.Contexts {
				contexts = append(contexts, name)
			}
			sort.Strings(contexts)
			statuses := make([]*clusterstatus.ClusterStatus, len(contexts))
			reached := make([]bool, len(contexts))
			var g errgroup.Group
			g.SetLimit(fleet.DefaultConnectConcurrency)
			for i, ctxName := range contexts {
				g.Go(func() error {
					statuses[i], reached[i] = readOne(raw, ctxName, timeout, state)
					return nil // a cluster that does not answer is listed Offline
				})
			}
			_ = g.Wait()
			if err := remember(stateDir, statuses, reached); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "vmo-cue: the clusters seen are not remembered: %v\n", err)
			}
			// Several contexts may reach one cluster: each cluster is listed once, a reachable
			// answer winning over an offline one.
			var list []clusterstatus.ClusterStatus
			index := map[string]int{}
			answered := map[string]bool{}
			for j, s := range statuses {
				if s == nil {
					continue
				}
				if i, seen := index[s.Cluster]; seen {
					if !answered[s.Cluster] && reached[j] {
						list[i], answered[s.Cluster] = *s, true
					}
					continue
				}
				answered[s.Cluster] = reached[j]
				index[s.Cluster] = len(list)
				list = append(list, *s)
			}
			return printStatuses(cmd, output, list)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultStateDir(), "where this machine remembers clusters (last seen, backoff)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long a cluster has to answer")
	cmd.Flags().StringVar(&fleetRef, "fleet", "", "NAMESPACE/NAME: read the controller's FleetClusters of this Fleet from the management cluster")
	cmd.Flags().StringVar(&ctxName, "context", "", "with --fleet: the management cluster's context (default: the current context)")
	return cmd
}

// printStatuses prints the clusters' statuses, sorted by cluster, as a table or JSON.
func printStatuses(cmd *cobra.Command, output string, list []clusterstatus.ClusterStatus) error {
	sort.Slice(list, func(i, j int) bool { return list[i].Cluster < list[j].Cluster })
	if output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSTATE\tREVISION\tSYNCED\tDRIFTED\tORPHANS\tVMS\tLAST SEEN")
	for _, s := range list {
		// Cluster, state and revision are read from a cluster: printed as names are.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", diag.Name(s.Cluster), diag.Name(string(s.State)), diag.Name(shortRev(s.Revision)),
			ago(s.Synced), s.Drifted, s.Orphans, s.VMs, ago(s.LastSeen))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printAgents(cmd.OutOrStdout(), list)
	return nil
}

// printAgents prints, under the table, what the agents of clusters in pull mode recorded: the
// revision released to them, the objects drifted and those contested (another manager keeps changing
// them; the agent stopped correcting them). Names come from the clusters: printed as names are.
func printAgents(w io.Writer, list []clusterstatus.ClusterStatus) {
	for _, s := range list {
		if s.Agent == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s: agent: %s, released %s\n", diag.Name(s.Cluster), diag.Name(s.Agent), diag.Name(shortRev(s.Released)))
		for _, d := range s.DriftedObjects {
			fmt.Fprintf(w, "  drifted: %s\n", diag.Name(d))
		}
		for _, c := range s.Contested {
			fmt.Fprintf(w, "  contested: %s\n", diag.Name(c))
		}
	}
}

// remember records, in the local state, when each cluster that answered was seen and its revision and
// VM count, so that a later status shows them while it is offline, whichever machine synced it. The
// state is read again just before (a sync may have saved it meanwhile); sync's own records (state,
// backoff) are left as they are.
func remember(stateDir string, statuses []*clusterstatus.ClusterStatus, reached []bool) error {
	state, err := fleet.OpenState(stateDir)
	if err != nil {
		return err
	}
	for i, s := range statuses {
		if s == nil || !reached[i] {
			continue
		}
		state.Update(s.Cluster, func(r *fleet.Remembered) {
			r.LastSeen, r.Revision, r.VMs = s.LastSeen, s.Revision, s.VMs
		})
	}
	return state.Save()
}

// readOne reads one context's status; nil for a reachable cluster vmo-cue never synced. reached is
// false when the status comes from the local state (the cluster did not answer).
func readOne(raw *clientcmdapi.Config, ctxName string, timeout time.Duration, state *fleet.LocalState) (*clusterstatus.ClusterStatus, bool) {
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, ctxName, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	offline := func(msg string) *clusterstatus.ClusterStatus {
		// The context is named like the cluster unless the declaration says otherwise; then the
		// kubeconfig's cluster entry usually carries the cluster's name.
		name := ctxName
		if c, ok := raw.Contexts[ctxName]; ok && state.Get(ctxName).LastSeen.IsZero() && !state.Get(c.Cluster).LastSeen.IsZero() {
			name = c.Cluster
		}
		r := state.Get(name)
		st := clusterstatus.Offline
		if r.State == clusterstatus.Interrupted {
			// Its last sync was cut off after the writes began: partly applied, not just away.
			st = clusterstatus.Interrupted
		}
		return &clusterstatus.ClusterStatus{Cluster: name, Context: ctxName, State: st, Revision: r.Revision, VMs: r.VMs, LastSeen: r.LastSeen, Message: msg}
	}
	if err != nil {
		return offline(err.Error()), false
	}
	cfg.Timeout = timeout
	// The cause is kept: a refused read (RBAC) or a bad certificate is not a site down. client-go's
	// errors name the server and the request, never the credentials.
	rc, err := reconciler.Connect(cfg)
	if err != nil {
		return offline("unreachable: " + err.Error()), false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, found, err := clusterstatus.Read(ctx, rc.Client)
	if err != nil {
		return offline("status unreadable: " + err.Error()), false
	}
	if !found {
		return nil, true
	}
	s.Context = ctxName
	s.LastSeen = time.Now()
	return &s, true
}

func shortRev(r string) string {
	if i := len(r) - 40; i >= 0 && i < len(r) {
		return r[:i] + r[i:i+12]
	}
	return r
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// defaultStateDir is where this machine remembers clusters: $XDG_CACHE_HOME/vmo-cue or ~/.cache/vmo-cue.
func defaultStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "vmo-cue")
}
