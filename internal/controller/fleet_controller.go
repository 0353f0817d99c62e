package controller

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/jitter"
	"github.com/fluxcd/pkg/runtime/patch"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// Reasons of the Fleet's conditions and of events, besides Flux's generic ones (meta.*Reason).
const (
	// ReasonInvalidSpec: the Fleet's spec cannot be acted on (Stalled until it changes).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonCredentials: a Secret the Fleet names is missing or unusable.
	ReasonCredentials = "CredentialsFailed"
	// ReasonGitOperationFailed: the repository could not be fetched.
	ReasonGitOperationFailed = "GitOperationFailed"
	// ReasonValidationFailed: the revision does not validate; nothing was applied anywhere (or, for
	// one cluster, nothing to that cluster).
	ReasonValidationFailed = "ValidationFailed"
	// ReasonSyncFailed: a cluster's sync failed.
	ReasonSyncFailed = "SyncFailed"
	// ReasonDriftDetected: objects drifted from git and were left so (drift: report).
	ReasonDriftDetected = "DriftDetected"
	// ReasonDriftCorrected: drifted objects were re-applied.
	ReasonDriftCorrected = "DriftCorrected"
	// ReasonSynced: a revision was applied to a cluster (something was written).
	ReasonSynced = "Synced"
	// ReasonPruned: objects that left git were deleted from a cluster.
	ReasonPruned = "Pruned"
	// ReasonOffline: a cluster could not be reached (or every selected one, for the Fleet).
	ReasonOffline = "ClusterOffline"
	// ReasonPending: clusters wait for their wave or for objects' kinds.
	ReasonPending = "Pending"
)

// maxMessage bounds condition messages below the API's 32 KiB limit (with room for a suffix), and
// maxEvent event messages below the 1 KiB of events.k8s.io.
const (
	maxMessage = 32*1024 - 512
	maxEvent   = 1024 - 64
)

var ownedConditions = []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition}

// Reconcile brings one Fleet's clusters to the revision its repository has now. One revision per pass:
// fetch, validate, sync the selected reachable clusters in a rollout, record the status.
func (r *FleetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	log := ctrl.LoggerFrom(ctx)
	obj := &fleetv1.Fleet{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !obj.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, obj, start)
	}
	if !controllerutil.ContainsFinalizer(obj, fleetv1.FleetFinalizer) {
		base := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(obj, fleetv1.FleetFinalizer)
		if err := r.Patch(ctx, obj, base, client.FieldOwner(Name)); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer to Fleet %s: %w", req.NamespacedName, err)
		}
	}
	r.RecordSuspend(ctx, obj, obj.Spec.Suspend)
	if obj.Spec.Suspend {
		log.Info("reconciliation is suspended")
		return ctrl.Result{}, nil
	}

	// After the pass (and its status patch), what it freed — the revision's objects, the clusters'
	// connections — goes back to the system at once rather than at the runtime's pace: the pod at
	// rest is the controller's live heap (BenchmarkControllerScale's "pod rest").
	defer debug.FreeOSMemory()
	patcher := r.patcher(obj)
	defer func() {
		conditions.Delete(obj, meta.ReconcilingCondition)
		if err := patcher.Patch(ctx, obj, patch.WithFieldOwner(Name), patch.WithOwnedConditions{Conditions: ownedConditions},
			patch.WithStatusObservedGeneration{}); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching the status of Fleet %s: %w", req.NamespacedName, err))
		}
		r.RecordReadiness(ctx, obj)
		r.RecordDuration(ctx, obj, start)
	}()
	if v, ok := meta.ReconcileAnnotationValue(obj.GetAnnotations()); ok {
		obj.Status.SetLastHandledReconcileRequest(v)
	}
	conditions.MarkReconciling(obj, meta.ProgressingReason, "reconciliation in progress")
	conditions.MarkUnknown(obj, meta.ReadyCondition, meta.ProgressingReason, "reconciliation in progress")
	if err := patcher.Patch(ctx, obj, patch.WithFieldOwner(Name), patch.WithOwnedConditions{Conditions: ownedConditions}); err != nil {
		return ctrl.Result{}, fmt.Errorf("patching the status of Fleet %s: %w", req.NamespacedName, err)
	}
	return r.reconcile(ctx, obj)
}

func (r *FleetReconciler) reconcile(ctx context.Context, obj *fleetv1.Fleet) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	next := ctrl.Result{RequeueAfter: jitter.JitteredIntervalDuration(obj.GetRequeueAfter())}
	conditions.Delete(obj, meta.StalledCondition)
	sel, err := clusterSelector(obj)
	if err != nil {
		// Nothing to retry until the spec changes (which triggers the next reconciliation).
		conditions.MarkStalled(obj, ReasonInvalidSpec, "%s", err)
		r.fail(obj, ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, nil
	}

	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()
	start := time.Now()
	spec, cleanup, err := r.sourceSpec(ctx, obj)
	if err != nil {
		r.fail(obj, ReasonCredentials, err.Error())
		return ctrl.Result{}, err
	}
	rev, err := source.Fetch(ctx, spec)
	cleanup()
	if err != nil {
		r.fail(obj, ReasonGitOperationFailed, err.Error())
		return ctrl.Result{}, err
	}
	fetched := time.Since(start)
	r.recordCheckout(obj, rev)
	revision := revisionOf(rev)
	obj.Status.LastAttemptedRevision = revision
	if rev.Stale {
		r.eventf(obj, corev1.EventTypeWarning, ReasonGitOperationFailed,
			"git remote unreachable, syncing the last good revision %s: %s", revision, rev.StaleReason)
	}
	connect, err := r.clusterConfigs(ctx, obj)
	if err != nil {
		r.fail(obj, ReasonCredentials, err.Error())
		return ctrl.Result{}, err
	}
	key := client.ObjectKeyFromObject(obj)
	drift := reconciler.DriftCorrect
	if obj.Spec.Drift == fleetv1.DriftReport {
		drift = reconciler.DriftReport
	}
	// The FleetClusters as the pass begins: what pull clusters' agents reported, take-overs asked for.
	existing, err := r.fleetClusters(ctx, obj)
	if err != nil {
		r.fail(obj, meta.ReconciliationFailedReason, err.Error())
		return ctrl.Result{}, err
	}
	p := newPass(existing)
	rep, err := fleet.Sync(ctx, fleet.Options{Dir: rev.Dir, MaxFileSize: r.MaxFileSize, Budget: r.Budget, Revision: revision, RESTConfig: connect,
		Select: sel, Drift: drift, Prune: obj.Spec.Prune, ConnectTimeout: r.ConnectTimeout, PendingTimeout: r.PendingTimeout,
		State: r.state(key, existing), Pull: r.pullTargets(existing, revision, p.pulls), Adopt: p.adopt,
		BeforeWrite: r.beforeWrite(ctx, obj, existing, p, revision), Load: r.loader(ctx, obj, revision)})
	if err != nil {
		r.fail(obj, meta.ReconciliationFailedReason, fmt.Sprintf("revision %s: %v", revision, err))
		return ctrl.Result{}, err
	}
	r.Stats.observeSync(obj.Namespace, obj.Name, rep.Took)
	if len(rep.FleetErrors) > 0 {
		// A bad commit: nothing was applied anywhere, every cluster stays on its revision and its
		// FleetCluster says so still.
		msg := truncate(fmt.Sprintf("revision %s does not validate, nothing applied: %d errors in the shared definitions: ",
			revision, len(rep.FleetErrors)), formatDiags(rep.FleetErrors))
		r.fail(obj, ReasonValidationFailed, msg)
		return next, nil
	}

	recordStart := time.Now()
	r.clusterEvents(obj, rep, existing, revision)
	// What the pass found is recorded even when the pass used up its timeout (the rollout's waits can):
	// the FleetClusters' writes get their own deadline, which grows with their number.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout(len(rep.Outcomes), r.KubeAPIQPS))
	defer rcancel()
	drifted, counts, err := r.recordClusters(rctx, obj, existing, rep, revision, p)
	if err != nil {
		r.fail(obj, meta.ReconciliationFailedReason, err.Error())
		return ctrl.Result{}, err
	}
	obj.Status.Clusters = counts
	r.Stats.record(obj.Namespace, obj.Name, counts, drifted)

	ready, reason, msg := readiness(rep, revision)
	if ready {
		obj.Status.LastAppliedRevision = revision
		conditions.MarkTrue(obj, meta.ReadyCondition, meta.ReconciliationSucceededReason, "%s", msg)
	} else {
		conditions.MarkFalse(obj, meta.ReadyCondition, reason, "%s", msg)
	}
	log.Info("reconciled", "revision", revision, "ready", ready, "fetch", fetched.Round(time.Millisecond).String(),
		"sync", rep.Took.Round(time.Millisecond).String(), "record", time.Since(recordStart).Round(time.Millisecond).String(), "message", msg)
	return next, nil
}

// event records an event on the Fleet, its message cut (at a "; " boundary if it can) to fit an
// event; the whole of it is in the Fleet's conditions or FleetClusters.
func (r *FleetReconciler) event(obj *fleetv1.Fleet, eventType, reason, msg string) {
	r.EventRecorder.Event(obj, eventType, reason, truncateTo(maxEvent, "", msg))
}

func (r *FleetReconciler) eventf(obj *fleetv1.Fleet, eventType, reason, format string, args ...any) {
	r.event(obj, eventType, reason, fmt.Sprintf(format, args...))
}

// fail marks the Fleet not Ready and records a warning event with the same message.
func (r *FleetReconciler) fail(obj *fleetv1.Fleet, reason, msg string) {
	msg = truncate(msg, "")
	conditions.MarkFalse(obj, meta.ReadyCondition, reason, "%s", msg)
	r.event(obj, corev1.EventTypeWarning, reason, msg)
}

// finalize honours spec.deletionPolicy and lets the Fleet go. Orphan leaves what the Fleet applied in
// every cluster, with its inventory; Delete deletes it first (deleteApplied), retrying clusters it
// could not reach until --deletion-timeout.
func (r *FleetReconciler) finalize(ctx context.Context, obj *fleetv1.Fleet, start time.Time) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, fleetv1.FleetFinalizer) {
		return ctrl.Result{}, nil
	}
	if obj.Spec.DeletionPolicy == fleetv1.DeletionDelete && !obj.Spec.Suspend {
		done, retry, err := r.deleteApplied(ctx, obj)
		if err != nil || !done {
			return ctrl.Result{RequeueAfter: retry}, err
		}
	}
	// FleetClusters are owned by the Fleet (the garbage collector removes them); they go now.
	existing, err := r.fleetClusters(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, fc := range existing {
		if err := r.Delete(ctx, fc, client.Preconditions{UID: &fc.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return ctrl.Result{}, fmt.Errorf("deleting FleetCluster %s/%s: %w", fc.Namespace, fc.Name, err)
		}
	}
	base := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, fleetv1.FleetFinalizer)
	if err := r.Patch(ctx, obj, base, client.FieldOwner(Name)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing the finalizer of Fleet %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	r.forget(client.ObjectKeyFromObject(obj))
	// The Fleet is going: its series of Flux's metrics go too.
	r.RecordSuspend(ctx, obj, obj.Spec.Suspend)
	r.RecordReadiness(ctx, obj)
	r.RecordDuration(ctx, obj, start)
	return ctrl.Result{}, nil
}

// clusterSelector turns spec.clusterSelector into a function of a cluster's labels (nil: every
// cluster).
func clusterSelector(obj *fleetv1.Fleet) (func(map[string]string) bool, error) {
	if obj.Spec.ClusterSelector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(obj.Spec.ClusterSelector)
	if err != nil {
		return nil, fmt.Errorf("spec.clusterSelector: %w", err)
	}
	return func(l map[string]string) bool { return sel.Matches(labels.Set(l)) }, nil
}

// refOf is the source.Spec ref of a GitRef (the remote's HEAD if nil).
func refOf(ref *fleetv1.GitRef) string {
	switch {
	case ref == nil:
		return ""
	case ref.Branch != "":
		return "refs/heads/" + ref.Branch
	case ref.Tag != "":
		return "refs/tags/" + ref.Tag
	default:
		return ref.Commit
	}
}

// revisionOf names a revision as Flux does: "main@sha1:<commit>", "v1.0@sha1:<commit>" for a tag,
// "sha1:<commit>" for a pinned commit.
func revisionOf(rev *source.Revision) string {
	name := rev.Ref
	switch {
	case strings.HasPrefix(name, "refs/heads/"):
		name = strings.TrimPrefix(name, "refs/heads/")
	case strings.HasPrefix(name, "refs/tags/"):
		name = strings.TrimPrefix(name, "refs/tags/")
	case name == rev.Commit:
		name = ""
	}
	if name == "" {
		return "sha1:" + rev.Commit
	}
	return name + "@sha1:" + rev.Commit
}

// readiness sums up a pass: Ready when every selected reachable cluster runs the revision (and at
// least one was reached, or none is selected).
func readiness(rep *fleet.Report, revision string) (ready bool, reason, msg string) {
	by := map[clusterstatus.State][]string{}
	for _, o := range rep.Outcomes {
		by[o.State] = append(by[o.State], o.Cluster)
	}
	inSync := len(by[clusterstatus.InSync]) + len(by[clusterstatus.Synced])
	var notes []string
	list := func(state string, names []string) {
		if len(names) > 0 {
			notes = append(notes, fmt.Sprintf("%d %s (%s)", len(names), state, strings.Join(names, ", ")))
		}
	}
	list("offline", by[clusterstatus.Offline])
	if rep.OK() && (inSync > 0 || len(rep.Outcomes) == 0) {
		msg = fmt.Sprintf("Applied revision %s to %s", revision, diag.OfPlural(inSync, len(rep.Outcomes), "cluster"))
		if len(notes) > 0 {
			msg += "; " + strings.Join(notes, "; ")
		}
		return true, meta.ReconciliationSucceededReason, msg
	}
	var failures []string
	for _, o := range rep.Outcomes {
		if o.State == clusterstatus.Failed || o.State == clusterstatus.Invalid {
			failures = append(failures, o.Cluster+": "+o.Message)
		}
	}
	list("failed", by[clusterstatus.Failed])
	list("invalid", by[clusterstatus.Invalid])
	list("drifted", by[clusterstatus.Drifted])
	list("syncing", by[clusterstatus.Syncing])
	list("held", by[clusterstatus.Held])
	switch {
	case len(by[clusterstatus.Invalid]) > 0 && len(by[clusterstatus.Failed]) == 0:
		reason = ReasonValidationFailed
	case len(by[clusterstatus.Failed]) > 0:
		reason = ReasonSyncFailed
	case len(by[clusterstatus.Drifted]) > 0:
		reason = ReasonDriftDetected
	case len(by[clusterstatus.Syncing])+len(by[clusterstatus.Held]) > 0:
		reason = ReasonPending
	default:
		reason = ReasonOffline
	}
	sort.Strings(failures)
	msg = fmt.Sprintf("revision %s: %s in sync; %s", revision, diag.OfPlural(inSync, len(rep.Outcomes), "cluster"), strings.Join(notes, "; "))
	if len(failures) > 0 {
		msg = truncate(msg+": ", strings.Join(failures, "; "))
	}
	return false, reason, msg
}

// formatDiags writes findings one per line's worth, separated by "; ": each with its positions
// (file:line:col) first, then the path, message and rule.
func formatDiags(l diag.List) string {
	var parts []string
	for _, d := range l {
		var pos []string
		for _, p := range d.Positions {
			pos = append(pos, p.String())
		}
		s := strings.Join(pos, ", ")
		if s != "" {
			s += ": "
		}
		if d.Path != "" {
			s += d.Path + ": "
		}
		s += d.Message
		if d.Rule != "" {
			s += " (rule " + d.Rule + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// truncate joins prefix and list, cutting the list at a "; " boundary to stay under maxMessage and
// saying how much was left out.
func truncate(prefix, list string) string { return truncateTo(maxMessage, prefix, list) }

func truncateTo(limit int, prefix, list string) string {
	if len(prefix)+len(list) <= limit {
		return prefix + list
	}
	room := limit - len(prefix)
	if room <= 0 {
		return strings.ToValidUTF8(prefix[:limit], "") + "... (message truncated)"
	}
	cut := list[:room]
	if i := strings.LastIndex(cut, "; "); i >= 0 {
		cut = cut[:i]
	} else {
		cut = strings.ToValidUTF8(cut, "")
	}
	left := strings.Count(list[len(cut):], "; ")
	return fmt.Sprintf("%s%s; ... (%d more, message truncated)", prefix, cut, left)
}
