package controller_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/controller"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// stateLog records, from a watch, the successive states of each FleetCluster.
type stateLog struct {
	mu     sync.Mutex
	states map[string][]fleetv1.ClusterState
}

func watchStates(t *testing.T, c client.WithWatch) *stateLog {
	t.Helper()
	w, err := c.Watch(t.Context(), &fleetv1.FleetClusterList{}, client.InNamespace(namespace))
	require.NoError(t, err)
	l := &stateLog{states: map[string][]fleetv1.ClusterState{}}
	go func() {
		for ev := range w.ResultChan() {
			fc, ok := ev.Object.(*fleetv1.FleetCluster)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			l.mu.Lock()
			l.states[fc.Spec.Cluster] = append(l.states[fc.Spec.Cluster], fc.Status.State)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
	return l
}

// transitions are the cluster's states as they changed (consecutive repeats, writes of the spec
// alone, folded).
func (l *stateLog) transitions(cluster string) []fleetv1.ClusterState {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []fleetv1.ClusterState
	for _, s := range l.states[cluster] {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// TestClusterLifecycle: a cluster being written to shows Syncing (one write on the way in, none for a
// pass that changes nothing); a cluster whose API server is recorded for another fleet says so and how
// to take it over, and the FleetCluster's adopt annotation does it once; an offline cluster's backoff
// survives a restart of the controller (it is derived from its FleetCluster, not from memory).
func TestClusterLifecycle(t *testing.T) {
	env := startClusters(t, targets...)
	admin := env.Cluster("mgmt").Config()
	mgmt := clientOf(t, admin)
	store2 := clientOf(t, env.Cluster("edge-store-2").Config())
	setup(t, env, mgmt, targets...)
	ctx := t.Context()
	// edge-store-2's API server is recorded for another fleet (edge-store-1 is the canary).
	require.NoError(t, inventory.WriteIdentity(ctx, store2, inventory.Identity{Fleet: "other", Cluster: "edge-store-2", Since: time.Now()}, reconciler.FieldManager))
	wc, err := client.NewWithWatch(admin, client.Options{Scheme: scheme})
	require.NoError(t, err)
	states := watchStates(t, wc)
	r := newRepo(t, targets...)
	rev1 := "main@sha1:" + r.commit("The edge stores")
	ctl := startController(t, env)
	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(t, mgmt.Create(ctx, &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec:       fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}}, Interval: &hour},
	}))

	t.Run("a cluster being written to is Syncing, one write per transition", func(t *testing.T) {
		waitFleet(t, mgmt, time.Minute, "first pass", func(f *fleetv1.Fleet) bool {
			return f.Status.LastAttemptedRevision == rev1 && f.Status.Clusters.Total == 2
		})
		assert.Equal(t, []fleetv1.ClusterState{"", fleetv1.StateSyncing, fleetv1.StateInSync}, states.transitions("edge-store-1"))
		requestReconcile(t, mgmt, "no-op")
		waitFleet(t, mgmt, time.Minute, "second pass", func(f *fleetv1.Fleet) bool { return f.Status.LastHandledReconcileAt == "no-op" })
		assert.Equal(t, []fleetv1.ClusterState{"", fleetv1.StateSyncing, fleetv1.StateInSync}, states.transitions("edge-store-1"),
			"a pass that writes nothing to the cluster does not show it Syncing")
	})

	t.Run("another fleet's cluster is refused, saying how to take it over; the annotation does it once", func(t *testing.T) {
		fc := fleetClusters(t, mgmt)["edge-store-2"]
		assert.Equal(t, fleetv1.StateFailed, fc.Status.State)
		assert.Contains(t, fc.Status.Message, "cluster identity mismatch")
		assert.True(t, strings.HasSuffix(fc.Status.Message, "; to take it over, annotate this FleetCluster fleet.vmo-cue.dev/adopt=true (once: removed when done)"),
			fc.Status.Message)
		assert.Nil(t, vm(t, store2, "pos-server"), "nothing applied to another fleet's cluster")
		base := fc.DeepCopy()
		fc.SetAnnotations(map[string]string{controller.AdoptAnnotation: "true"})
		require.NoError(t, mgmt.Patch(ctx, &fc, client.MergeFrom(base)))
		var last fleetv1.FleetCluster
		require.Eventually(t, func() bool {
			last = fleetClusters(t, mgmt)["edge-store-2"]
			_, annotated := last.Annotations[controller.AdoptAnnotation]
			return last.Status.State == fleetv1.StateInSync && !annotated
		}, time.Minute, 100*time.Millisecond, "edge-store-2 taken over, the annotation removed; last: %+v", last.Status)
		id, err := inventory.ReadIdentity(ctx, store2)
		require.NoError(t, err)
		assert.Equal(t, "edge-store-2", id.Cluster)
		assert.NotEqual(t, "other", id.Fleet)
	})

	t.Run("a FleetCluster that cannot be written does not keep the others from their outcome", func(t *testing.T) {
		// An admission policy refuses every write of edge-store-1's FleetCluster's status (the canary:
		// recorded first).
		denied := fleetName + ".edge-store-1"
		policy := &admissionv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "freeze-edge-store-1"},
			Spec: admissionv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionv1.Fail),
				MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionv1.RuleWithOperations{Operations: []admissionv1.OperationType{admissionv1.Update},
						Rule: admissionv1.Rule{APIGroups: []string{fleetv1.GroupVersion.Group}, APIVersions: []string{"*"}, Resources: []string{"fleetclusters/status"}}},
				}}},
				Validations: []admissionv1.Validation{{Expression: fmt.Sprintf("object.metadata.name != %q", denied), Message: "frozen by the test"}},
			},
		}
		binding := &admissionv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "freeze-edge-store-1"},
			Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
				ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}},
		}
		require.NoError(t, mgmt.Create(ctx, policy))
		require.NoError(t, mgmt.Create(ctx, binding))
		frozen := func() bool {
			fc := fleetClusters(t, mgmt)["edge-store-1"]
			fc.Status.Message = "probe"
			err := mgmt.Status().Update(ctx, &fc, client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), "frozen by the test")
		}
		require.Eventually(t, frozen, 30*time.Second, 100*time.Millisecond, "the policy is in force")
		before := fleetClusters(t, mgmt)["edge-store-2"].Status.LastSyncTime.Time
		time.Sleep(time.Second) // the pass's time differs from before's, at a second's resolution
		requestReconcile(t, mgmt, "frozen")
		f := waitFleet(t, mgmt, time.Minute, "a pass whose record fails", func(f *fleetv1.Fleet) bool {
			return f.Status.LastHandledReconcileAt == "frozen" && conditions.IsFalse(f, meta.ReadyCondition)
		})
		assert.Contains(t, conditions.GetMessage(f, meta.ReadyCondition), "patching FleetCluster "+namespace+"/"+denied+": ")
		assert.Contains(t, conditions.GetMessage(f, meta.ReadyCondition), "frozen by the test")
		after := fleetClusters(t, mgmt)["edge-store-2"]
		require.NotNil(t, after.Status.LastSyncTime, "edge-store-2 synced: %+v", after.Status)
		assert.True(t, after.Status.LastSyncTime.After(before), "edge-store-2, recorded after the refused one, has this pass's outcome: %s, before %s",
			after.Status.LastSyncTime, before)
		require.NoError(t, mgmt.Delete(ctx, binding))
		require.NoError(t, mgmt.Delete(ctx, policy))
		require.Eventually(t, func() bool { return !frozen() }, 30*time.Second, 100*time.Millisecond, "the policy is gone")
		// A pass that records everything again ends the failed passes' retries: the next subtest
		// counts on no pass but those it asks for.
		requestReconcile(t, mgmt, "unfrozen")
		waitFleet(t, mgmt, time.Minute, "a pass that records every cluster", func(f *fleetv1.Fleet) bool {
			return f.Status.LastHandledReconcileAt == "unfrozen" && conditions.IsTrue(f, meta.ReadyCondition) &&
				conditions.Get(f, meta.ReconcilingCondition) == nil
		})
	})

	t.Run("an offline cluster's backoff survives a restart of the controller", func(t *testing.T) {
		killAPIServer(t, env, "edge-store-1")
		requestReconcile(t, mgmt, "offline")
		waitFleet(t, mgmt, time.Minute, "edge-store-1 Offline", func(f *fleetv1.Fleet) bool {
			return f.Status.LastHandledReconcileAt == "offline" && f.Status.Clusters.Offline == 1
		})
		before := fleetClusters(t, mgmt)["edge-store-1"]
		assert.NotContains(t, before.Status.Message, "(backoff)", "tried at once the first time")
		require.NotNil(t, before.Status.OfflineSince)
		since := before.Status.OfflineSince.UTC()
		time.Sleep(time.Second) // the restart's own time differs from it, even at a second's resolution
		ctl.stop()
		ctl = startController(t, env)
		requestReconcile(t, mgmt, "after-restart")
		waitFleet(t, mgmt, time.Minute, "a pass of the new controller", func(f *fleetv1.Fleet) bool {
			return f.Status.LastHandledReconcileAt == "after-restart" && conditions.Get(f, meta.ReconcilingCondition) == nil
		})
		fc := fleetClusters(t, mgmt)["edge-store-1"]
		assert.Equal(t, fleetv1.StateOffline, fc.Status.State)
		// Offline since it went, its first retry 30 s later: nothing tried since the restart, so its
		// status is as the try left it — not even written.
		assert.Equal(t, before.Status.Message, fc.Status.Message)
		assert.Equal(t, before.ResourceVersion, fc.ResourceVersion, "a pass that did not try the cluster writes nothing")
		require.NotNil(t, fc.Status.OfflineSince)
		assert.Equal(t, since, fc.Status.OfflineSince.UTC())
	})
}
