package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// Options configure an agent.
type Options struct {
	// Cluster is this cluster's name in the fleet repository.
	Cluster string
	// Config reaches this cluster (in-cluster credentials, or a kubeconfig).
	Config *rest.Config
	// Source is the fleet repository; standalone, its Ref is followed.
	Source source.Spec
	// Hub, if set, reaches the management cluster: the agent applies only the revision released to
	// FleetCluster HubNamespace/HubFleet.Cluster and writes its status.
	Hub                    *rest.Config
	HubNamespace, HubFleet string
	Drift                  reconciler.DriftMode
	Prune                  bool
	// Interval is how often the agent polls git (standalone) or its FleetCluster (with a hub) and
	// re-plans the whole cluster.
	Interval time.Duration
	// Heartbeat is how often the status is written to the hub even when nothing changed.
	Heartbeat time.Duration
	// Debounce is how long drift events are collected before a correction.
	Debounce time.Duration
	// FightMax corrections of one object within FightWindow make it Contested (not corrected again).
	FightMax    int
	FightWindow time.Duration
	// PendingTimeout bounds the wait for kinds that do not exist yet.
	PendingTimeout time.Duration
	// Worker evaluates each new revision (a child process: see eval.go).
	Worker Worker
	// Logf receives one line per event (never a credential).
	Logf func(format string, args ...any)
}

// Agent syncs one cluster from inside.
type Agent struct {
	opts  Options
	logf  func(string, ...any)
	rc    *reconciler.Cluster
	hub   *hub
	guard *guard
	watch *watcher
	drift *debounce

	// cur is the revision applied (or being applied); applied is the revision last applied in full.
	cur     *target
	applied string
	// released is the revision released to the cluster as last known (from the hub, or recorded in
	// the cluster).
	released string
	// last is the last status reported; ready its Ready condition (kept while the state stays).
	last     fleetv1.FleetClusterStatus
	lastSync *metav1.Time
	ready    metav1.Condition
}

// Run runs the agent until ctx ends.
func Run(ctx context.Context, opts Options) error {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 30 * time.Second
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 100 * time.Millisecond
	}
	if opts.Drift == "" {
		opts.Drift = reconciler.DriftCorrect
	}
	a := &Agent{opts: opts, logf: opts.Logf, guard: newGuard(opts.FightMax, opts.FightWindow), drift: newDebounce()}
	if a.logf == nil {
		a.logf = func(string, ...any) {}
	}
	if opts.Hub != nil {
		h, err := newHub(opts.Hub, opts.HubNamespace, opts.HubFleet, opts.Cluster, opts.Heartbeat, a.logf)
		if err != nil {
			return err
		}
		a.hub = h
		go h.run(ctx)
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	defer func() {
		if a.watch != nil {
			a.watch.close()
		}
	}()
	// What the cluster recorded: the released revision, applied while the hub and git are away.
	if s, found, err := clusterstatus.Read(ctx, a.rc.Client); err == nil && found && s.Cluster == opts.Cluster {
		a.released = s.Released
		if s.Released != "" {
			a.logf("recorded in the cluster: revision %s released", s.Released)
		}
	}
	a.pass(ctx)
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	// Once idle for a while after a pass, the memory the pass (evaluation, LISTs) freed goes back to
	// the system: an agent waits far more than it works.
	idle := time.NewTimer(idleAfter)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			a.pass(ctx)
		case <-a.drift.ready:
			a.driftPass(ctx, a.drift.take(opts.Debounce))
		case <-idle.C:
			debug.FreeOSMemory()
			continue
		}
		idle.Reset(idleAfter)
	}
}

// idleAfter is how long the agent waits after a pass before returning freed memory to the system.
const idleAfter = 2 * time.Second

// connect reaches this cluster, retrying until it answers.
func (a *Agent) connect(ctx context.Context) error {
	for {
		rc, err := reconciler.Connect(a.opts.Config)
		if err == nil {
			a.rc = rc
			return nil
		}
		a.logf("cluster %s: %v (retrying)", a.opts.Cluster, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

// pass polls the source of the revision (the hub, or git), loads a new revision if there is one,
// and reconciles the whole cluster.
func (a *Agent) pass(ctx context.Context) {
	released := ""
	if a.hub != nil {
		r, held, err := a.hub.released(ctx)
		if err == nil {
			a.released = r
		}
		if a.released == "" {
			msg := "waiting for the controller to release a revision to this cluster"
			if held != "" {
				msg += ": " + held
			}
			a.report(fleetv1.StatePending, msg, nil)
			return
		}
		released = a.released
	}
	if a.cur == nil || released == "" || a.cur.revision != released {
		rev, name, err := a.fetch(ctx, released)
		switch {
		case err != nil && a.cur != nil:
			a.logf("git: %v: keeping revision %s", err, a.cur.revision)
		case err != nil:
			a.report(fleetv1.StateFailed, err.Error(), nil)
			return
		case a.cur == nil || a.cur.revision != name:
			if rev.Stale {
				a.logf("git: remote unreachable, using the last good revision %s: %s", name, rev.StaleReason)
			}
			t, err := a.load(ctx, rev.Dir, name, rev.Commit)
			if err != nil {
				var inv *invalidError
				if a.cur != nil && errors.As(err, &inv) {
					a.logf("%v", err)
				}
				a.report(fleetv1.StateFailed, err.Error(), nil)
				return
			}
			a.logf("revision %s: %d objects rendered", name, len(t.desired.Objects))
			a.cur = t
			a.guard.reset()
		}
	}
	a.reconcile(ctx)
}

// driftPass re-plans after watch events on the named objects, unless none of them differs any more
// from what the inventory recorded (vmo-cue's own apply) or the fight guard gave up on them.
func (a *Agent) driftPass(ctx context.Context, keys []string) {
	if a.cur == nil || a.watch == nil {
		return
	}
	var drifted []string
	for _, k := range keys {
		if a.watch.drifted(k) && !a.guard.isContested(idOfKey(k)) {
			drifted = append(drifted, k)
		}
	}
	if len(drifted) == 0 {
		return
	}
	a.logf("drift: %d objects changed by someone (%s)", len(drifted), strings.Join(first(drifted, 5), ", "))
	a.reconcile(ctx)
}

func idOfKey(k string) inventory.ID {
	p := strings.SplitN(k, "/", 4)
	if len(p) != 4 {
		return inventory.ID{}
	}
	return inventory.ID{Group: p[0], Kind: p[1], Namespace: p[2], Name: p[3]}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// reconcile applies the current revision with the reconciler, then reports and watches.
func (a *Agent) reconcile(ctx context.Context) {
	t := a.cur
	fresh := a.applied != t.revision
	start := time.Now()
	res, err := a.rc.Reconcile(ctx, t.desired, reconciler.Options{
		Revision: t.revision, Drift: a.opts.Drift, Prune: a.opts.Prune, PendingTimeout: a.opts.PendingTimeout,
		LeaveDrift: a.guard.isContested,
		BeforeWrite: func() {
			if fresh {
				a.report(fleetv1.StateSyncing, "applying revision "+t.revision, nil)
			}
		},
	})
	if err != nil && res != nil && len(res.Failed) > 0 {
		err = fmt.Errorf("%w: %s", err, res.Failed[0].Error())
	}
	state, msg := fleetv1.StateInSync, ""
	switch {
	case err != nil && connectionLost(err) && res != nil && res.Written:
		state, msg = fleetv1.StateInterrupted, fmt.Sprintf("interrupted after the writes began, partly applied (resumed at the next pass): %v", err)
	case err != nil:
		state, msg = fleetv1.StateFailed, err.Error()
	case res.PruneRefused != "":
		state, msg = fleetv1.StateFailed, "prune refused, nothing pruned: "+res.PruneRefused
	case fresh && t.health == reconciler.HealthKStatus && len(res.Pending) == 0:
		// Healthy at this revision before it counts as applied, written now or not: a revision that
		// failed its health check fails it again at the next pass instead of releasing later waves.
		hrep, herr := a.rc.WaitHealthy(ctx, res.Objects, t.healthTimeout)
		switch {
		case herr != nil:
			state, msg = fleetv1.StateFailed, herr.Error()
		case hrep.Warning() != "":
			msg = hrep.Warning()
		}
	}
	if state == fleetv1.StateInSync && res != nil {
		switch {
		case len(res.Pending) > 0:
			state = fleetv1.StateSyncing
		case len(res.Drifted)+len(res.OutOfSync) > 0:
			state = fleetv1.StateDrifted
		}
	}
	if res != nil {
		if len(res.Corrected) > 0 {
			ids, managers := make([]inventory.ID, len(res.Corrected)), make([]string, len(res.Corrected))
			for i, it := range res.Corrected {
				ids[i], managers[i] = it.ID, managerOf(it.Reason)
			}
			for _, id := range a.guard.corrected(time.Now(), ids, managers) {
				a.logf("fight guard: %s corrected %d times within %s: contested, no longer corrected", objectName(id), a.opts.FightMax, a.opts.FightWindow)
			}
			a.logf("drift: %d objects corrected in %s", len(res.Corrected), time.Since(start).Round(time.Millisecond))
		}
		if len(res.Applied) > 0 || len(res.Pruned) > 0 {
			a.logf("revision %s: %d applied, %d pruned, %d unchanged in %s", t.revision, len(res.Applied), len(res.Pruned), res.Unchanged, time.Since(start).Round(time.Millisecond))
		}
		msg = summary(res, msg)
	}
	if state == fleetv1.StateInSync || state == fleetv1.StateDrifted {
		if fresh {
			now := metav1.Now()
			a.lastSync = &now
		}
		a.applied = t.revision
	}
	if err == nil || !connectionLost(err) {
		a.follow(ctx, t)
	}
	a.report(state, msg, res)
}

// follow records what the inventory says was applied and watches every applied kind.
func (a *Agent) follow(ctx context.Context, t *target) {
	inv, err := inventory.Read(ctx, a.rc.Client)
	if errors.Is(err, inventory.ErrNotFound) {
		return // nothing applied yet
	}
	if err != nil {
		a.logf("watch: %v", err)
		return
	}
	if a.watch == nil {
		w, err := newWatcher(a.opts.Config, t.desired.Fleet, t.desired.Cluster, a.drift.add)
		if err != nil {
			a.logf("watch: %v", err)
			return
		}
		a.watch = w
	}
	a.watch.record(inv)
	gvrs := map[schema.GroupVersionResource]schema.GroupKind{}
	for _, e := range inv.Entries {
		gvk := schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
		if m, ok := a.rc.Mapping(gvk); ok {
			gvrs[m.Resource] = gvk.GroupKind()
		}
	}
	a.watch.watch(gvrs)
}

// managerOf takes the managers out of a drift reason ("... (by kubectl-edit)").
func managerOf(reason string) string {
	i := strings.LastIndex(reason, "(by ")
	if i < 0 || !strings.HasSuffix(reason, ")") {
		return ""
	}
	return reason[i+len("(by ") : len(reason)-1]
}

func summary(r *reconciler.Result, prefix string) string {
	s := fmt.Sprintf("%d applied, %d corrected, %d drifted, %d unchanged", len(r.Applied), len(r.Corrected), len(r.Drifted), r.Unchanged)
	if len(r.Pending) > 0 {
		s += fmt.Sprintf(", %d pending", len(r.Pending))
	}
	if len(r.Pruned)+len(r.Orphans) > 0 {
		s += fmt.Sprintf(", %d pruned, %d orphans", len(r.Pruned), len(r.Orphans))
	}
	if prefix != "" {
		return prefix + " (" + s + ")"
	}
	return s
}

func connectionLost(err error) bool {
	var ne net.Error
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		(errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
