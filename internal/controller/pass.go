package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// AdoptAnnotation on a FleetCluster asks the controller, once, to take over the cluster's API server
// when it is recorded for another fleet or cluster (what `vmo-cue apply --adopt` does from the
// command line). The controller removes it after a sync that got past the identity check.
const AdoptAnnotation = "fleet.vmo-cue.dev/adopt"

// adoptHint ends the message of a cluster whose API server belongs to another fleet or cluster.
const adoptHint = "to take it over, annotate this FleetCluster " + AdoptAnnotation + "=true (once: removed when done)"

// pass is what one reconciliation learns about its clusters besides the rollout's outcomes.
type pass struct {
	// pulls are the pull clusters of the pass (filled by pullTargets before the rollout).
	pulls map[string]struct{}
	// adopt are the clusters whose FleetCluster asked for a take-over.
	adopt map[string]bool
	// syncing are the clusters marked Syncing while the rollout wrote to them.
	syncing sync.Map
	// created are the FleetClusters beforeWrite created (by cluster), for the record to patch.
	created sync.Map
}

// createdFor returns the FleetCluster beforeWrite created for a cluster, or nil.
func (p *pass) createdFor(cluster string) *fleetv1.FleetCluster {
	fc, _ := p.created.Load(cluster)
	fcl, _ := fc.(*fleetv1.FleetCluster)
	return fcl
}

func newPass(existing map[string]*fleetv1.FleetCluster) *pass {
	p := &pass{pulls: map[string]struct{}{}, adopt: map[string]bool{}}
	for name, fc := range existing {
		if fc.Annotations[AdoptAnnotation] == "true" {
			p.adopt[name] = true
		}
	}
	return p
}

// beforeWrite is fleet.Options.BeforeWrite: a cluster about to be written to shows Syncing (one merge
// patch of its FleetCluster's state and message; the end of the pass writes the outcome). A cluster
// new to the Fleet gets its FleetCluster now.
func (r *FleetReconciler) beforeWrite(ctx context.Context, f *fleetv1.Fleet, existing map[string]*fleetv1.FleetCluster, p *pass,
	revision string) func(string) {
	return func(cluster string) {
		fc := existing[cluster]
		if fc == nil {
			var err error
			if fc, err = r.createFleetCluster(ctx, f, cluster, fleetv1.FleetClusterSpec{Mode: fleetv1.ModePush}); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "marking a cluster Syncing", "cluster", cluster)
				return
			}
			p.created.Store(cluster, fc)
		}
		if fc.Status.State == fleetv1.StateSyncing {
			p.syncing.Store(cluster, true)
			return
		}
		body, _ := json.Marshal(map[string]any{"status": map[string]any{
			"state": fleetv1.StateSyncing, "message": fmt.Sprintf("applying revision %s", revision)}})
		target := &fleetv1.FleetCluster{}
		target.Namespace, target.Name = fc.Namespace, fc.Name
		if err := r.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, body), client.FieldOwner(Name)); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "marking a cluster Syncing", "cluster", cluster)
			return
		}
		p.syncing.Store(cluster, true)
	}
}

// wasSyncing reports whether the pass marked the cluster Syncing (its FleetCluster says so now,
// whatever the cache held as the pass began).
func (p *pass) wasSyncing(cluster string) bool {
	_, ok := p.syncing.Load(cluster)
	return ok
}

// adopted removes the adopt annotation of a FleetCluster after a sync that got past the identity
// check (the take-over is done; it stays while the cluster could not be reached).
func (r *FleetReconciler) adopted(ctx context.Context, fc *fleetv1.FleetCluster, o fleet.Outcome, p *pass) error {
	if !p.adopt[o.Cluster] || o.Foreign || o.State == clusterstatus.Offline || o.State == clusterstatus.Held || o.State == clusterstatus.Invalid {
		return nil
	}
	body := []byte(`{"metadata":{"annotations":{"` + AdoptAnnotation + `":null}}}`)
	if err := r.Patch(ctx, fc, client.RawPatch(types.MergePatchType, body), client.FieldOwner(Name)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing annotation %s of FleetCluster %s/%s: %w", AdoptAnnotation, fc.Namespace, fc.Name, err)
	}
	return nil
}

// adoptRequested is the watch's predicate: a person annotated a FleetCluster to take its cluster over.
func adoptRequested(e event.UpdateEvent) bool {
	return e.ObjectNew.GetAnnotations()[AdoptAnnotation] == "true" && e.ObjectOld.GetAnnotations()[AdoptAnnotation] != "true"
}
