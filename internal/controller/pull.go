package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// Pull clusters (declared `mode: "pull"`): an agent inside the cluster (`vmo-cue agent`) applies the
// revision released to it in its FleetCluster's spec and writes that FleetCluster's status (state,
// revision, heartbeat...). The controller never connects to such a cluster and never writes its
// status, but for one thing: Offline, when the heartbeat is older than --agent-offline-after (the
// agent's next heartbeat clears it).

// DefaultAgentOfflineAfter is how old an agent's heartbeat may get before its cluster is Offline.
const DefaultAgentOfflineAfter = 90 * time.Second

// pullTarget is a pull cluster in the rollout: what its agent reported, read from its FleetCluster
// as the pass began.
type pullTarget struct {
	name, revision string
	fc             *fleetv1.FleetCluster // nil: created by this pass, the agent has not reported
	offlineAfter   time.Duration
	// reader, when set, reads the FleetCluster again when the rollout reaches the cluster: the
	// pass's snapshot is as old as the revision's evaluation, and an agent's heartbeat in it may
	// have aged past the threshold meanwhile.
	reader client.Reader
}

func (t *pullTarget) Name() string { return t.name }

// Connect connects nowhere: what the agent reported is read in Sync.
func (t *pullTarget) Connect(context.Context) error { return nil }

// Sync reports what the agent says: at the revision (InSync or Drifted), failed (Failed or
// Interrupted: the wave fails and holds later ones), or not there yet (Awaiting: later waves wait).
// A silent agent (heartbeat older than the threshold) is Offline, and, unless it last reported the
// revision applied, Awaiting too: a pull cluster was released the revision, and a wave proceeds only
// when its clusters prove it.
func (t *pullTarget) Sync(ctx context.Context) fleet.Outcome {
	if t.reader != nil && t.fc.Name != "" {
		fresh := &fleetv1.FleetCluster{}
		if err := t.reader.Get(ctx, client.ObjectKeyFromObject(t.fc), fresh); err == nil {
			t.fc = fresh
		}
	}
	st := t.fc.Status
	o := fleet.Outcome{Cluster: t.name, VMs: int(st.VMs), Drifted: int(st.DriftedObjects), Orphans: int(st.Orphans)}
	at := st.Revision == t.revision && (st.State == fleetv1.StateInSync || st.State == fleetv1.StateDrifted)
	if stale, why := heartbeatStale(t.fc, t.offlineAfter, time.Now()); stale || st.State == fleetv1.StateOffline {
		if !stale {
			why = st.Message
		}
		o.State, o.Message, o.Awaiting = clusterstatus.Offline, (&fleet.OfflineError{Err: fmt.Errorf("%s", why)}).Error(), st.Revision != t.revision
		return o
	}
	switch {
	case st.State == fleetv1.StateFailed:
		o.State, o.Message = clusterstatus.Failed, "its agent reports: "+st.Message
	case st.State == fleetv1.StateInterrupted:
		o.State, o.Message = clusterstatus.Interrupted, "its agent reports: "+st.Message
	case at && st.State == fleetv1.StateInSync:
		o.State, o.Message = clusterstatus.InSync, "its agent reports the revision applied"
	case at:
		o.State, o.Message = clusterstatus.Drifted, "its agent reports the revision applied, with drift"
	default:
		rev := st.Revision
		if rev == "" {
			rev = "no revision"
		}
		o.State, o.Awaiting = clusterstatus.Syncing, true
		o.Message = fmt.Sprintf("revision released to its agent, which reports %s (%s)", rev, orNone(string(st.State)))
	}
	return o
}

func orNone(s string) string {
	if s == "" {
		return "no state yet"
	}
	return s
}

// heartbeatStale reports whether a pull cluster's agent has been silent for longer than after (since
// its last heartbeat, or since the FleetCluster was made if it never reported), and says so.
func heartbeatStale(fc *fleetv1.FleetCluster, after time.Duration, now time.Time) (bool, string) {
	if fc == nil {
		return false, ""
	}
	if hb := fc.Status.LastHeartbeatTime; hb != nil {
		if now.Sub(hb.Time) < after {
			return false, ""
		}
		return true, fmt.Sprintf("no heartbeat from its agent since %s (offline after %s)", hb.UTC().Format(time.RFC3339), after)
	}
	if now.Sub(fc.CreationTimestamp.Time) < after {
		return false, ""
	}
	return true, fmt.Sprintf("its agent has not reported since the FleetCluster was made at %s (offline after %s)",
		fc.CreationTimestamp.UTC().Format(time.RFC3339), after)
}

// pullTargets makes the rollout's Target of each pull cluster (fleet.Options.Pull) and notes the
// cluster in pulls (fleet.Sync calls it from one goroutine, before the rollout).
func (r *FleetReconciler) pullTargets(existing map[string]*fleetv1.FleetCluster, revision string, pulls map[string]struct{}) func(string) fleet.Target {
	return func(cluster string) fleet.Target {
		pulls[cluster] = struct{}{}
		fc := existing[cluster]
		if fc == nil || fc.Spec.Mode != fleetv1.ModePull {
			// New, or pushed to until now: the agent has not reported for this FleetCluster yet.
			fc = &fleetv1.FleetCluster{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()}}
		}
		return &pullTarget{name: cluster, revision: revision, fc: fc, offlineAfter: r.agentOfflineAfter(), reader: r.APIReader}
	}
}

func (r *FleetReconciler) agentOfflineAfter() time.Duration {
	if r.AgentOfflineAfter > 0 {
		return r.AgentOfflineAfter
	}
	return DefaultAgentOfflineAfter
}

// recordPull writes what the controller owns of a pull cluster's FleetCluster: its mode, wave and
// released revision (spec), and why a held revision is held (HeldAnnotation), with one merge patch
// when one of them changed. The status is the agent's.
func (r *FleetReconciler) recordPull(ctx context.Context, fc *fleetv1.FleetCluster, o fleet.Outcome, revision string) error {
	base := fc.DeepCopy()
	fc.Spec.Mode = fleetv1.ModePull
	releaseTo(&fc.Spec, o, revision)
	// Why the revision is held back, for the agent to report (it cannot read the Fleet).
	held := ""
	if o.State == clusterstatus.Held {
		held = o.Message
	}
	if held != "" {
		if fc.Annotations == nil {
			fc.Annotations = map[string]string{}
		}
		fc.Annotations[fleetv1.HeldAnnotation] = held
	} else {
		delete(fc.Annotations, fleetv1.HeldAnnotation)
	}
	if fc.Spec == base.Spec && fc.Annotations[fleetv1.HeldAnnotation] == base.Annotations[fleetv1.HeldAnnotation] {
		return nil
	}
	if err := r.Patch(ctx, fc, client.MergeFrom(base), client.FieldOwner(Name)); err != nil {
		return fmt.Errorf("releasing revision %s to FleetCluster %s/%s: %w", revision, fc.Namespace, fc.Name, err)
	}
	return nil
}

// pullState is the state a pull cluster counts in for its Fleet: the rollout's view of what its agent
// reported (Held: Pending; Awaiting: Syncing; a silent agent: Offline).
func pullState(o fleet.Outcome) fleetv1.ClusterState {
	switch o.State {
	case clusterstatus.Held:
		return fleetv1.StatePending
	case clusterstatus.Offline:
		return fleetv1.StateOffline
	case clusterstatus.Invalid, clusterstatus.Failed:
		return fleetv1.StateFailed
	case clusterstatus.Interrupted:
		return fleetv1.StateInterrupted
	case clusterstatus.InSync:
		return fleetv1.StateInSync
	case clusterstatus.Drifted:
		return fleetv1.StateDrifted
	}
	return fleetv1.StateSyncing
}

// agentReported is the watch's predicate: a pull cluster's agent reported a new state or revision
// (not a mere heartbeat), so its Fleet's rollout may move on.
func agentReported(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*fleetv1.FleetCluster)
	n, ok2 := e.ObjectNew.(*fleetv1.FleetCluster)
	return ok1 && ok2 && n.Spec.Mode == fleetv1.ModePull &&
		(o.Status.State != n.Status.State || o.Status.Revision != n.Status.Revision)
}

// HeartbeatReconciler marks a pull cluster Offline when its agent's heartbeat is older than
// OfflineAfter: each FleetCluster of a pull cluster is looked at when it changes (a heartbeat) and
// again when its heartbeat would turn stale (a timer: RequeueAfter), so a silent agent is Offline
// within the threshold and a second or so. It writes only that transition, with an optimistic lock: a
// heartbeat that arrived meanwhile wins.
type HeartbeatReconciler struct {
	client.Client
	OfflineAfter time.Duration
	now          func() time.Time
}

// SetupWithManager registers the reconciler for FleetClusters of pull clusters.
func (h *HeartbeatReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if h.now == nil {
		h.now = time.Now
	}
	isPull := predicate.NewPredicateFuncs(func(o client.Object) bool {
		fc, ok := o.(*fleetv1.FleetCluster)
		return ok && fc.Spec.Mode == fleetv1.ModePull
	})
	return ctrl.NewControllerManagedBy(mgr).Named("agent-heartbeat").
		For(&fleetv1.FleetCluster{}, builder.WithPredicates(isPull)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 8}).
		Complete(h)
}

// Reconcile looks at one pull cluster's heartbeat.
func (h *HeartbeatReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	fc := &fleetv1.FleetCluster{}
	if err := h.Get(ctx, req.NamespacedName, fc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if fc.Spec.Mode != fleetv1.ModePull || !fc.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	now := h.now()
	stale, why := heartbeatStale(fc, h.OfflineAfter, now)
	if !stale {
		ref := fc.CreationTimestamp.Time
		if hb := fc.Status.LastHeartbeatTime; hb != nil {
			ref = hb.Time
		}
		return reconcile.Result{RequeueAfter: ref.Add(h.OfflineAfter).Sub(now) + 100*time.Millisecond}, nil
	}
	if fc.Status.State == fleetv1.StateOffline {
		return reconcile.Result{}, nil
	}
	base := fc.DeepCopy()
	// Only the state, the message and Ready: the last revision, sync and seen times stay as the agent
	// wrote them.
	fc.Status.State, fc.Status.Message = fleetv1.StateOffline, why
	conditions.MarkFalse(fc, meta.ReadyCondition, ReasonOffline, "%s", why)
	err := h.Status().Patch(ctx, fc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}), client.FieldOwner(Name))
	if apierrors.IsConflict(err) {
		return reconcile.Result{RequeueAfter: time.Millisecond}, nil // a heartbeat came in: look again
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("marking FleetCluster %s Offline: %w", req.NamespacedName, err)
	}
	ctrl.LoggerFrom(ctx).Info("pull cluster offline", "cluster", fc.Spec.Cluster, "reason", why)
	return reconcile.Result{}, nil
}
