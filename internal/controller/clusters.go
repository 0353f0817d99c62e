package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// fleetClusters returns the FleetClusters the Fleet controls, by cluster.
func (r *FleetReconciler) fleetClusters(ctx context.Context, f *fleetv1.Fleet) (map[string]*fleetv1.FleetCluster, error) {
	var list fleetv1.FleetClusterList
	if err := r.List(ctx, &list, client.InNamespace(f.Namespace), client.MatchingFields{fleetIndex: f.Name}); err != nil {
		return nil, fmt.Errorf("listing the FleetClusters of Fleet %s/%s: %w", f.Namespace, f.Name, err)
	}
	existing := map[string]*fleetv1.FleetCluster{}
	for i := range list.Items {
		fc := &list.Items[i]
		if metav1.IsControlledBy(fc, f) {
			existing[fc.Spec.Cluster] = fc
		}
	}
	return existing, nil
}

// recordClusters writes one FleetCluster per cluster of the pass (created, owned by the Fleet, or
// patched), recordConcurrency at a time, and deletes those of clusters no longer selected. It returns
// the drifted objects per cluster and the counts per state. Of pull clusters (pulls), only the spec
// is written.
func (r *FleetReconciler) recordClusters(ctx context.Context, f *fleetv1.Fleet, existing map[string]*fleetv1.FleetCluster, rep *fleet.Report,
	revision string, p *pass) (drifted map[string]int, counts fleetv1.ClusterCounts, err error) {
	drifted = map[string]int{}
	// One error slot per outcome: the pass's message lists them in the clusters' order.
	errs := make([]error, len(rep.Outcomes), len(rep.Outcomes)+len(existing))
	var mu sync.Mutex
	skipped := 0 // past the deadline, not tried
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	var g errgroup.Group
	g.SetLimit(recordConcurrency)
	for i, o := range rep.Outcomes {
		fc := existing[o.Cluster]
		delete(existing, o.Cluster)
		_, pull := p.pulls[o.Cluster]
		// An invalid cluster never reaches the rollout: it stays as its FleetCluster says.
		pull = pull || (o.State == clusterstatus.Invalid && fc != nil && fc.Spec.Mode == fleetv1.ModePull)
		if fc == nil {
			fc = p.createdFor(o.Cluster) // by beforeWrite, during the rollout
		}
		g.Go(func() error {
			if ctx.Err() != nil {
				mu.Lock()
				skipped++
				mu.Unlock()
				return nil
			}
			// One FleetCluster that cannot be written (a conflict, a webhook) does not keep the
			// others from their outcome; the pass fails after all were tried.
			state, drift, err := r.recordOne(ctx, f, fc, o, rep, revision, now, p, pull)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[i] = err
				return nil
			}
			counts.Add(state)
			drifted[o.Cluster] = drift
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error: they record it in errs
	if skipped > 0 {
		errs = append(errs, fmt.Errorf("%d FleetClusters of Fleet %s/%s not recorded: %w", skipped, f.Namespace, f.Name, ctx.Err()))
	}
	// Clusters that left the fleet or the selection.
	for _, fc := range existing {
		if ctx.Err() != nil {
			break
		}
		if err := r.Delete(ctx, fc, client.Preconditions{UID: &fc.UID}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting FleetCluster %s/%s of a cluster no longer selected: %w", fc.Namespace, fc.Name, err))
		}
	}
	return drifted, counts, errors.Join(errs...)
}

// recordConcurrency is how many FleetClusters a pass writes at once: enough that the client's rate
// limit, not each request's round trip, bounds the record (recordTimeout counts on it).
const recordConcurrency = 8

// recordOne writes one cluster's outcome, creating its FleetCluster (fc nil) with the spec the outcome
// gives it (one request, not two). It returns the state the cluster counts in and its drifted objects.
func (r *FleetReconciler) recordOne(ctx context.Context, f *fleetv1.Fleet, fc *fleetv1.FleetCluster, o fleet.Outcome, rep *fleet.Report,
	revision string, now metav1.Time, p *pass, pull bool) (fleetv1.ClusterState, int, error) {
	if fc == nil {
		spec := fleetv1.FleetClusterSpec{Mode: fleetv1.ModePush}
		if pull {
			spec.Mode = fleetv1.ModePull
		}
		releaseTo(&spec, o, revision)
		var err error
		if fc, err = r.createFleetCluster(ctx, f, o.Cluster, spec); err != nil {
			return "", 0, err
		}
	}
	state, err := r.recordCluster(ctx, fc, o, rep, revision, now, p, pull)
	if err != nil {
		return "", 0, err
	}
	return state, int(fc.Status.DriftedObjects), nil
}

// recordCluster writes one cluster's outcome into its FleetCluster and returns the state it counts
// in. Of a pull cluster only the spec is written (the agent writes the status).
func (r *FleetReconciler) recordCluster(ctx context.Context, fc *fleetv1.FleetCluster, o fleet.Outcome, rep *fleet.Report, revision string,
	now metav1.Time, p *pass, pull bool) (fleetv1.ClusterState, error) {
	if pull {
		if err := r.recordPull(ctx, fc, o, revision); err != nil {
			return "", err
		}
		return pullState(o), nil
	}
	if p.wasSyncing(o.Cluster) {
		fc.Status.State = fleetv1.StateSyncing // as the pass left it: the outcome is a change
	}
	patcher := r.patcher(fc)
	fc.Spec.Mode = fleetv1.ModePush
	applyOutcome(fc, o, rep, revision, now)
	if err := patcher.Patch(ctx, fc, patch.WithFieldOwner(Name), patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition}},
		patch.WithStatusObservedGeneration{}); err != nil {
		return "", fmt.Errorf("patching FleetCluster %s/%s: %w", fc.Namespace, fc.Name, err)
	}
	if err := r.adopted(ctx, fc, o, p); err != nil {
		return "", err
	}
	return fc.Status.State, nil
}

// releaseTo writes into a FleetCluster's spec what the controller releases to it by an outcome: its
// wave, and the revision unless the cluster was held back or its definitions do not validate.
func releaseTo(spec *fleetv1.FleetClusterSpec, o fleet.Outcome, revision string) {
	if o.Wave != "" {
		spec.Wave = o.Wave
	}
	if o.State != clusterstatus.Held && o.State != clusterstatus.Invalid {
		spec.ReleasedRevision = revision
	}
}

// recordTimeout bounds the writes of a pass's FleetClusters: recordBase, plus the time the client's
// rate limit (qps, requests per second; 0 or less: none) needs for writesPerCluster requests per
// cluster. A fixed deadline failed the first pass of 1,000 clusters at the default 50 requests per
// second, which needs a minute for their writes alone.
func recordTimeout(clusters int, qps float32) time.Duration {
	if qps <= 0 {
		return recordBase
	}
	return recordBase + time.Duration(float64(clusters*writesPerCluster)/float64(qps)*float64(time.Second))
}

const (
	recordBase = 30 * time.Second
	// writesPerCluster is the most a cluster's record sends: a create, a spec and a status patch.
	writesPerCluster = 3
)

// createFleetCluster creates a cluster's FleetCluster, controlled by its Fleet, with the given spec
// (its fleet and cluster set here); one that exists
// already (created by the previous pass and not yet in the cache) is read from the API server.
func (r *FleetReconciler) createFleetCluster(ctx context.Context, f *fleetv1.Fleet, cluster string, spec fleetv1.FleetClusterSpec) (*fleetv1.FleetCluster, error) {
	spec.Fleet, spec.Cluster = f.Name, cluster
	fc := &fleetv1.FleetCluster{
		ObjectMeta: metav1.ObjectMeta{Name: fleetClusterName(f.Name, cluster), Namespace: f.Namespace, Labels: map[string]string{}},
		Spec:       spec,
	}
	for k, v := range map[string]string{fleetv1.FleetLabel: f.Name, fleetv1.ClusterLabel: cluster} {
		if len(validation.IsValidLabelValue(v)) == 0 {
			fc.Labels[k] = v
		}
	}
	if err := controllerutil.SetControllerReference(f, fc, r.Client.Scheme()); err != nil {
		return nil, fmt.Errorf("FleetCluster %s/%s: %w", fc.Namespace, fc.Name, err)
	}
	err := r.Create(ctx, fc, client.FieldOwner(Name))
	if apierrors.IsAlreadyExists(err) {
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(fc), fc)
		if err == nil && !metav1.IsControlledBy(fc, f) {
			err = fmt.Errorf("it exists and is not controlled by Fleet %s", f.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating FleetCluster %s/%s: %w", fc.Namespace, fc.Name, err)
	}
	return fc, nil
}

// applyOutcome writes what the pass found into a FleetCluster. A cluster that could not be synced
// (offline, failed, held, invalid) keeps its revision, its sync time and its counts; one Offline and
// not tried (its backoff) keeps its status as the last try left it.
func applyOutcome(fc *fleetv1.FleetCluster, o fleet.Outcome, rep *fleet.Report, revision string, now metav1.Time) {
	st := &fc.Status
	releaseTo(&fc.Spec, o, revision)
	msg := o.Message
	synced := false
	switch o.State {
	case clusterstatus.InSync, clusterstatus.Synced:
		st.State, synced = fleetv1.StateInSync, true
	case clusterstatus.Drifted:
		st.State, synced = fleetv1.StateDrifted, true
	case clusterstatus.Syncing:
		st.State = fleetv1.StateSyncing
		st.LastSeenTime = &now
	case clusterstatus.Offline:
		if st.State != fleetv1.StateOffline || st.OfflineSince == nil {
			st.OfflineSince = &now
		} else if o.Backoff && st.Message != "" {
			// Not tried: the last try's message (its error) stays, and a pass of a thousand sites
			// in their backoff writes none of them (nor does a try that fails as the last one did).
			msg = st.Message
		}
		st.State = fleetv1.StateOffline
	case clusterstatus.Held:
		st.State = fleetv1.StatePending
	case clusterstatus.Interrupted:
		// Lost after the writes began: partly at the new revision (not proven there), seen just now.
		st.State = fleetv1.StateInterrupted
		st.LastSeenTime = &now
	case clusterstatus.Invalid:
		st.State = fleetv1.StateFailed
		msg = truncate(fmt.Sprintf("revision %s does not validate for this cluster, nothing applied: ", revision), formatDiags(rep.Invalid[o.Cluster]))
	default:
		st.State = fleetv1.StateFailed
		if o.Foreign {
			msg += "; " + adoptHint
		}
	}
	if st.State != fleetv1.StateOffline {
		st.OfflineSince = nil
	}
	if synced {
		st.Revision, st.LastSyncTime, st.LastSeenTime = revision, &now, &now
	}
	if synced || o.State == clusterstatus.Syncing {
		st.DriftedObjects, st.Orphans, st.VMs = int32(o.Drifted), int32(o.Orphans), int32(o.VMs)
	}
	st.Message = truncate(msg, "")
	if st.State == fleetv1.StateInSync {
		conditions.MarkTrue(fc, meta.ReadyCondition, meta.ReconciliationSucceededReason, "revision %s applied", revision)
	} else {
		conditions.MarkFalse(fc, meta.ReadyCondition, string(st.State), "%s", st.Message)
	}
}

// fleetClusterName is "<fleet>.<cluster>" (a cluster's name is a DNS label, so the name is never
// ambiguous), or, for a name that would not be a valid object name, the fleet's name and a hash.
func fleetClusterName(fleetName, cluster string) string {
	name := fleetName + "." + cluster
	if len(validation.IsDNS1123Label(cluster)) == 0 && len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(fleetName + "\x00" + cluster))
	h := hex.EncodeToString(sum[:])[:12]
	prefix := fleetName
	if max := validation.DNS1123SubdomainMaxLength - len(h) - 1; len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], ".-")
	}
	return prefix + "." + h
}

// clusterEvents records what happened to each cluster, as events on the Fleet: a sync that wrote,
// drift corrected or left, prunes, a cluster gone offline (once, when it goes: existing holds the
// FleetClusters as they were before the pass), failures and clusters whose definitions do not
// validate.
func (r *FleetReconciler) clusterEvents(f *fleetv1.Fleet, rep *fleet.Report, existing map[string]*fleetv1.FleetCluster, revision string) {
	for _, o := range rep.Outcomes {
		switch o.State {
		case clusterstatus.Offline:
			if fc := existing[o.Cluster]; fc == nil || fc.Status.State != fleetv1.StateOffline {
				r.eventf(f, corev1.EventTypeWarning, ReasonOffline, "cluster %s: %s", o.Cluster, o.Message)
			}
			continue
		case clusterstatus.Failed:
			r.event(f, corev1.EventTypeWarning, ReasonSyncFailed, truncateTo(maxEvent, fmt.Sprintf("cluster %s: revision %s: ", o.Cluster, revision), o.Message))
		case clusterstatus.Invalid:
			r.event(f, corev1.EventTypeWarning, ReasonValidationFailed,
				truncateTo(maxEvent, fmt.Sprintf("cluster %s: revision %s does not validate for it, nothing applied: ", o.Cluster, revision), formatDiags(rep.Invalid[o.Cluster])))
		}
		if o.Changed {
			r.eventf(f, corev1.EventTypeNormal, ReasonSynced, "cluster %s: revision %s applied (%s)", o.Cluster, revision, o.Message)
		}
		if o.Corrected > 0 {
			r.eventf(f, corev1.EventTypeNormal, ReasonDriftCorrected, "cluster %s: %d drifted objects corrected", o.Cluster, o.Corrected)
		}
		if o.Drifted > 0 {
			r.eventf(f, corev1.EventTypeWarning, ReasonDriftDetected, "cluster %s: %d objects drifted from git, left as they are (drift: report)", o.Cluster, o.Drifted)
		}
		if o.Pruned > 0 {
			r.eventf(f, corev1.EventTypeNormal, ReasonPruned, "cluster %s: %d objects that left git deleted", o.Cluster, o.Pruned)
		}
	}
}

// FleetClusterName is the name of the FleetCluster of a cluster of a Fleet (what an agent's
// credential names in its Role).
func FleetClusterName(fleetName, cluster string) string { return fleetClusterName(fleetName, cluster) }
