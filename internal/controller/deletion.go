package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// Reasons of the deletion of a Fleet with deletionPolicy Delete.
const (
	// ReasonDeleted: what the Fleet applied was deleted from a cluster (within its prune policy).
	ReasonDeleted = "Deleted"
	// ReasonDeletionPending: some clusters could not be cleaned yet; the finalizer retries.
	ReasonDeletionPending = "DeletionPending"
	// ReasonDeletionAbandoned: the deletion timeout passed; what is left in unreached clusters stays.
	ReasonDeletionAbandoned = "DeletionAbandoned"
)

// DefaultDeletionTimeout bounds how long a deleted Fleet with deletionPolicy Delete waits for its
// unreachable clusters.
const DefaultDeletionTimeout = time.Hour

// deletionRetry is the wait between two attempts at the clusters not cleaned yet.
const deletionRetry = 30 * time.Second

// deleteApplied carries out deletionPolicy Delete: every reachable push cluster of the Fleet is
// reconciled to nothing with prune forced (fleet.Delete: the prune's proofs and each cluster's prune
// policy decide). done is true when the finalizer may go: every cluster cleaned (or Invalid: its
// prune policy is unknown, nothing is deleted there, an event says so), or the deletion timeout
// passed (an event names the clusters left as they are). Otherwise the Fleet's Ready condition says
// which clusters it waits for, and the caller retries after the returned delay. Setting
// spec.deletionPolicy back to Orphan on the deleted Fleet lets it go at once.
func (r *FleetReconciler) deleteApplied(ctx context.Context, obj *fleetv1.Fleet) (done bool, retry time.Duration, err error) {
	timeout := r.DeletionTimeout
	if timeout <= 0 {
		timeout = DefaultDeletionTimeout
	}
	deadline := obj.DeletionTimestamp.Add(timeout)
	sel, err := clusterSelector(obj)
	if err != nil {
		r.event(obj, corev1.EventTypeWarning, ReasonDeletionAbandoned, fmt.Sprintf("%v: nothing deleted, what the Fleet applied stays", err))
		return true, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()
	spec, cleanup, err := r.sourceSpec(ctx, obj)
	if err != nil {
		return r.deletionPending(ctx, obj, deadline, err.Error())
	}
	rev, err := source.Fetch(ctx, spec)
	cleanup()
	if err != nil {
		return r.deletionPending(ctx, obj, deadline, err.Error())
	}
	connect, err := r.clusterConfigs(ctx, obj)
	if err != nil {
		return r.deletionPending(ctx, obj, deadline, err.Error())
	}
	revision := revisionOf(rev)
	rep, err := fleet.Delete(ctx, fleet.Options{Dir: rev.Dir, MaxFileSize: r.MaxFileSize, Budget: r.Budget, Revision: revision, RESTConfig: connect,
		Select: sel, Drift: reconciler.DriftCorrect, ConnectTimeout: r.ConnectTimeout, PendingTimeout: r.PendingTimeout,
		Pull: func(string) fleet.Target { return nil }, Load: r.loader(ctx, obj, revision)})
	if err != nil {
		return r.deletionPending(ctx, obj, deadline, fmt.Sprintf("revision %s: %v", revision, err))
	}
	if len(rep.FleetErrors) > 0 {
		return r.deletionPending(ctx, obj, deadline, truncate(fmt.Sprintf("revision %s does not validate, nothing deleted: ", revision), formatDiags(rep.FleetErrors)))
	}
	var left []string
	for _, o := range rep.Outcomes {
		switch o.State {
		case clusterstatus.Synced:
			r.eventf(obj, corev1.EventTypeNormal, ReasonDeleted, "cluster %s: %s", o.Cluster, o.Message)
		case clusterstatus.Invalid:
			r.event(obj, corev1.EventTypeWarning, ReasonDeletionAbandoned, truncateTo(maxEvent,
				fmt.Sprintf("cluster %s: revision %s does not validate for it, nothing deleted there: ", o.Cluster, revision), formatDiags(rep.Invalid[o.Cluster])))
		default:
			left = append(left, o.Cluster+": "+o.Message)
		}
	}
	if len(left) == 0 {
		return true, 0, nil
	}
	return r.deletionPending(ctx, obj, deadline, strings.Join(left, "; "))
}

// deletionPending reports clusters not cleaned yet: the Fleet's Ready condition says so and the
// finalizer retries, until the deadline, when it gives up with a warning event.
func (r *FleetReconciler) deletionPending(ctx context.Context, obj *fleetv1.Fleet, deadline time.Time, why string) (bool, time.Duration, error) {
	if !time.Now().Before(deadline) {
		r.event(obj, corev1.EventTypeWarning, ReasonDeletionAbandoned,
			"deletion timeout passed: what the Fleet applied is left where it could not be deleted: "+why)
		return true, 0, nil
	}
	msg := truncate(fmt.Sprintf("deleting what the Fleet applied (deletionPolicy Delete); retrying until %s, or set spec.deletionPolicy to Orphan to let it go now: ",
		deadline.UTC().Format(time.RFC3339)), why)
	if conditions.GetMessage(obj, meta.ReadyCondition) != msg {
		r.event(obj, corev1.EventTypeWarning, ReasonDeletionPending, msg)
	}
	base := obj.DeepCopy()
	conditions.MarkFalse(obj, meta.ReadyCondition, ReasonDeletionPending, "%s", msg)
	if err := r.Status().Patch(ctx, obj, client.MergeFrom(base), client.FieldOwner(Name)); err != nil && !apierrors.IsNotFound(err) {
		ctrl.LoggerFrom(ctx).Error(err, "patching the status of a Fleet being deleted")
	}
	return false, min(deletionRetry, time.Until(deadline)+time.Second), nil
}
