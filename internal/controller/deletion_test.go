package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// TestDeletionPolicyDelete: deleting a Fleet with deletionPolicy Delete deletes what it applied in each
// reachable cluster, as a forced prune would (its proofs; never what it did not apply), keeping the VMs,
// their disks and the namespace holding them (the prune policy does not allow them); a cluster it
// cannot reach holds the finalizer, with the Fleet saying so, until the policy is set back to Orphan.
func TestDeletionPolicyDelete(t *testing.T) {
	env := startClusters(t, targets...)
	mgmt := clientOf(t, env.Cluster("mgmt").Config())
	store2 := clientOf(t, env.Cluster("edge-store-2").Config())
	setup(t, env, mgmt, targets...)
	r := newRepo(t, targets...)
	rev1 := "main@sha1:" + r.commit("The edge stores")
	startController(t, env)
	ctx := t.Context()
	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(t, mgmt.Create(ctx, &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}}, Interval: &hour,
			DeletionPolicy: fleetv1.DeletionDelete},
	}))
	waitFleet(t, mgmt, time.Minute, "Ready", func(f *fleetv1.Fleet) bool { return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev1 })
	inv, err := inventory.Read(ctx, store2)
	require.NoError(t, err)
	// Someone else's object in the VMs' namespace, not vmo-cue's.
	require.NoError(t, store2.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "not-ours", Namespace: "vms"}}))

	killAPIServer(t, env, "edge-store-1")
	require.NoError(t, mgmt.Delete(ctx, getFleet(t, mgmt)))
	f := waitFleet(t, mgmt, time.Minute, "deletion pending on edge-store-1", func(f *fleetv1.Fleet) bool {
		return conditions.GetReason(f, meta.ReadyCondition) == "DeletionPending"
	})
	msg := conditions.GetMessage(f, meta.ReadyCondition)
	assert.Contains(t, msg, "deleting what the Fleet applied (deletionPolicy Delete); retrying until ")
	assert.Contains(t, msg, ", or set spec.deletionPolicy to Orphan to let it go now: edge-store-1: unreachable: ")
	var gone, inVMs int
	for _, e := range inv.Entries {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind})
		err := store2.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.Name}, u)
		switch {
		case e.Kind == "VirtualMachine", e.Kind == "Namespace" && e.Name == "vms", e.Kind == "CustomResourceDefinition":
			// VMs are not pruned (the prune policy), nor the namespace holding them; CRDs never (their
			// deletion would delete every object of their kind).
			assert.NoError(t, err, "%s is kept", e.ID)
		case apierrors.IsNotFound(err) || (err == nil && u.GetDeletionTimestamp() != nil):
			gone++
			if e.Namespace == "vms" {
				inVMs++
			}
		}
	}
	assert.Positive(t, inVMs, "what the Fleet applied beside the VMs in their namespace is deleted")
	require.Eventually(t, func() bool {
		return hasEvent(t, mgmt, fleetName, fmt.Sprintf("Normal Deleted: cluster edge-store-2: %d objects deleted, %d kept (", gone, len(inv.Entries)-gone))
	}, 10*time.Second, 100*time.Millisecond, "events: %v", events(t, mgmt, fleetName))
	assert.NoError(t, store2.Get(ctx, client.ObjectKey{Namespace: "vms", Name: "not-ours"}, &corev1.ConfigMap{}), "what vmo-cue did not apply stays")
	assert.Equal(t, "6Gi", guestMemory(t, store2, "pos-server"))

	base := getFleet(t, mgmt)
	patched := base.DeepCopy()
	patched.Spec.DeletionPolicy = fleetv1.DeletionOrphan
	require.NoError(t, mgmt.Patch(ctx, patched, client.MergeFrom(base)))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(mgmt.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fleetName}, &fleetv1.Fleet{}))
	}, 30*time.Second, 100*time.Millisecond, "told to orphan the rest, the finalizer lets the Fleet go")
	assert.Empty(t, fleetClusters(t, mgmt))
}
