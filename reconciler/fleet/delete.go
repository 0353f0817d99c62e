package fleet

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// Delete removes what the fleet applied from every targeted cluster it can reach (a Fleet deleted
// with deletionPolicy Delete): each cluster is reconciled to nothing with prune forced, so exactly the
// prune's proofs decide what goes (vmo-cue's marks of this fleet and cluster, its managed fields, the
// UID recorded at its apply; never a system object, never a CRD), and each cluster's prune policy
// keeps VMs, DataVolumes, PVCs and the namespaces holding them unless it allows them. A cluster
// recorded for another fleet or cluster is left alone (Failed). Clusters stood in for by Options.Pull
// are not touched (their agents applied what they hold). The revision is loaded as Sync loads it
// (Options.Load: the controller's evaluation worker). Outcomes: Synced (done; Pruned and Orphans,
// the objects kept, say what), Offline, Interrupted or Failed (to retry).
func Delete(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	opts.State, _ = OpenState("")
	opts.RetryOffline = true
	rep := &Report{Revision: opts.Revision, Invalid: map[string]diag.List{}}
	load := opts.Load
	if load == nil {
		load = InProcess(budgetOf(&opts))
	}
	res, err := load(ctx, opts.Dir)
	if err != nil {
		return rep, err
	}
	if res.Close != nil {
		defer res.Close()
	}
	if len(res.Shared) > 0 {
		rep.FleetErrors = res.Shared
		return rep, nil
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(4)
	for i := range res.Clusters {
		c := &res.Clusters[i]
		if !c.Declared || !matches(c.Labels, opts.Selector) || (opts.Select != nil && !opts.Select(c.Labels)) {
			continue
		}
		if opts.Pull != nil && c.Mode == "pull" {
			continue
		}
		if !c.Valid() {
			mu.Lock() // the deletions started before it append too
			rep.Invalid[c.Name] = c.Errors
			rep.Outcomes = append(rep.Outcomes, Outcome{Cluster: c.Name, State: clusterstatus.Invalid,
				Message: diag.Plural(len(c.Errors), "error") + " in its definitions: its prune policy is unknown, nothing deleted"})
			mu.Unlock()
			continue
		}
		t := &clusterTarget{vc: c, opts: &opts, render: res.Render}
		g.Go(func() error {
			o := t.deleteAll(ctx)
			mu.Lock()
			rep.Outcomes = append(rep.Outcomes, o)
			mu.Unlock()
			return nil // a cluster's failure is its outcome
		})
	}
	_ = g.Wait()
	sort.SliceStable(rep.Outcomes, func(i, j int) bool { return rep.Outcomes[i].Cluster < rep.Outcomes[j].Cluster })
	rep.Took = time.Since(start)
	return rep, nil
}

// deleteAll reconciles the cluster to no object with prune forced.
func (t *clusterTarget) deleteAll(ctx context.Context) Outcome {
	o := Outcome{Cluster: t.vc.Name}
	if err := t.Connect(ctx); err != nil {
		o.State, o.Message = clusterstatus.Failed, err.Error()
		if IsOffline(err) {
			o.State = clusterstatus.Offline
		}
		return o
	}
	d, err := t.render(ctx, t.vc.Name)
	if err != nil {
		o.State, o.Message = clusterstatus.Failed, err.Error()
		return o
	}
	d.Objects = nil
	res, err := t.rc.Reconcile(ctx, d, reconciler.Options{Revision: t.opts.Revision, Prune: true, ForcePrune: true, PendingTimeout: t.opts.PendingTimeout})
	if res != nil {
		o.Pruned, o.Orphans = len(res.Pruned), len(res.Orphans)
		o.Changed = len(res.Pruned) > 0
	}
	switch {
	case err != nil && isConnectionError(err) && o.Changed:
		o.State, o.Message = clusterstatus.Interrupted, fmt.Sprintf("interrupted: lost after the deletions began: %v", err)
	case err != nil && isConnectionError(err):
		o.State, o.Message = clusterstatus.Offline, (&OfflineError{Err: err}).Error()
	case err != nil:
		o.State, o.Message = clusterstatus.Failed, err.Error()
	default:
		o.State = clusterstatus.Synced
		o.Message = fmt.Sprintf("%d objects deleted, %d kept", len(res.Pruned), len(res.Orphans))
		if len(res.Orphans) > 0 {
			o.Message += " (" + res.Orphans[0].ID.String() + ": " + res.Orphans[0].Kept
			if len(res.Orphans) > 1 {
				o.Message += fmt.Sprintf(", and %d more", len(res.Orphans)-1)
			}
			o.Message += ")"
		}
	}
	return o
}
