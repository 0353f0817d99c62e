package controller

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestClusterSecretChoice: two Fleets of one namespace declaring a cluster of the same name each get
// their own Secret (labelled with the fleet's name); ambiguity fails the cluster naming the Secrets.
func TestClusterSecretChoice(t *testing.T) {
	sec := func(name, fleetLabel string) *corev1.Secret {
		l := map[string]string{fleetv1.ClusterLabel: "edge-1"}
		if fleetLabel != "" {
			l[fleetv1.FleetLabel] = fleetLabel
		}
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleets", Labels: l},
			Data: map[string][]byte{fleetv1.KubeconfigKey: []byte("token: " + token)}}
	}
	f := &fleetv1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: "shops", Namespace: "fleets"}}
	for _, tc := range []struct {
		name    string
		secrets []*corev1.Secret
		want    string
		err     string
	}{
		{"the only one", []*corev1.Secret{sec("a", "")}, "a", ""},
		{"the fleet's own wins over an unlabelled one", []*corev1.Secret{sec("a", ""), sec("b", "shops")}, "b", ""},
		{"another fleet's is never used", []*corev1.Secret{sec("a", "factories"), sec("b", "")}, "b", ""},
		{"only another fleet's", []*corev1.Secret{sec("a", "factories")}, "",
			"no credentials: no Secret labelled fleet.vmo-cue.dev/cluster=edge-1 in namespace fleets for Fleet shops (a Secret labelled fleet.vmo-cue.dev/fleet=<another fleet> is not used)"},
		{"two of the fleet's", []*corev1.Secret{sec("b", "shops"), sec("a", "shops"), sec("c", "")}, "",
			"2 Secrets labelled fleet.vmo-cue.dev/cluster=edge-1 and fleet.vmo-cue.dev/fleet=shops in namespace fleets (a, b): keep one, or label the right one fleet.vmo-cue.dev/fleet=shops"},
		{"two unlabelled", []*corev1.Secret{sec("b", ""), sec("a", ""), sec("c", "factories")}, "",
			"2 Secrets labelled fleet.vmo-cue.dev/cluster=edge-1 and no fleet.vmo-cue.dev/fleet label in namespace fleets (a, b): keep one, or label the right one fleet.vmo-cue.dev/fleet=shops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := pickClusterSecret(tc.secrets, f, "edge-1")
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				assert.NotContains(t, err.Error(), token)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.Name)
		})
	}
}

// TestOutcomeStates: each state of the rollout becomes its FleetCluster state; an Interrupted cluster
// is its own state (not Failed), counted apart and in the metric.
func TestOutcomeStates(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	rep := &fleet.Report{}
	for _, tc := range []struct {
		in   clusterstatus.State
		want fleetv1.ClusterState
	}{
		{clusterstatus.Synced, fleetv1.StateInSync}, {clusterstatus.InSync, fleetv1.StateInSync}, {clusterstatus.Drifted, fleetv1.StateDrifted},
		{clusterstatus.Syncing, fleetv1.StateSyncing}, {clusterstatus.Offline, fleetv1.StateOffline}, {clusterstatus.Held, fleetv1.StatePending},
		{clusterstatus.Failed, fleetv1.StateFailed}, {clusterstatus.Interrupted, fleetv1.StateInterrupted},
	} {
		t.Run(string(tc.in), func(t *testing.T) {
			fc := &fleetv1.FleetCluster{}
			applyOutcome(fc, fleet.Outcome{Cluster: "edge-1", State: tc.in, Message: "m"}, rep, "main@sha1:1", now)
			assert.Equal(t, tc.want, fc.Status.State)
		})
	}
	var counts fleetv1.ClusterCounts
	for _, s := range []fleetv1.ClusterState{fleetv1.StateInterrupted, fleetv1.StateInterrupted, fleetv1.StateFailed} {
		counts.Add(s)
	}
	assert.Equal(t, fleetv1.ClusterCounts{Total: 3, Failed: 1, Interrupted: 2}, counts)
	m := NewMetrics()
	m.record("fleets", "shops", counts, nil)
	gauge := func(state string) float64 {
		var out dto.Metric
		require.NoError(t, m.clusters.WithLabelValues("fleets", "shops", state).Write(&out))
		return out.GetGauge().GetValue()
	}
	assert.Equal(t, 2.0, gauge("Interrupted"))
	assert.Equal(t, 1.0, gauge("Failed"))
}

// TestOfflineSince: offlineSince is the time of the pass that first found a cluster offline; it stays
// through later offline passes (whose messages, and so the Ready condition's transition time, change)
// and goes when the cluster answers. A pass that did not try the cluster (its backoff) keeps the last
// try's message: nothing changes, nothing is written.
func TestOfflineSince(t *testing.T) {
	at := func(sec int) metav1.Time { return metav1.NewTime(time.Date(2026, 1, 2, 3, 4, sec, 0, time.UTC)) }
	rep := &fleet.Report{}
	fc := &fleetv1.FleetCluster{}
	steps := []struct {
		state       clusterstatus.State
		backoff     bool
		message     string
		want        *metav1.Time
		wantMessage string
	}{
		{clusterstatus.InSync, false, "in sync", nil, "in sync"},
		{clusterstatus.Offline, false, "unreachable: dial tcp: timeout", ptr(at(1)), "unreachable: dial tcp: timeout"},
		{clusterstatus.Offline, true, "unreachable: offline since ...; next try after T1 (backoff)", ptr(at(1)), "unreachable: dial tcp: timeout"},
		{clusterstatus.Offline, false, "unreachable: dial tcp: refused", ptr(at(1)), "unreachable: dial tcp: refused"},
		{clusterstatus.Synced, false, "applied", nil, "applied"},
		{clusterstatus.Offline, true, "unreachable: offline since ...; next try after T5 (backoff)", ptr(at(5)), "unreachable: offline since ...; next try after T5 (backoff)"},
	}
	for i, s := range steps {
		applyOutcome(fc, fleet.Outcome{Cluster: "edge-1", State: s.state, Message: s.message, Backoff: s.backoff}, rep, "main@sha1:1", at(i))
		assert.Equal(t, s.want, fc.Status.OfflineSince, "step %d (%s)", i, s.state)
		assert.Equal(t, s.wantMessage, fc.Status.Message, "step %d (%s)", i, s.state)
		if s.state == clusterstatus.Offline {
			assert.Equal(t, s.wantMessage, conditions.GetMessage(fc, meta.ReadyCondition), "step %d (%s)", i, s.state)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestStateRestoresOfflineSince: a controller that starts anew (a restart, a new leader) counts an
// Offline cluster's backoff from its offlineSince, not from its Ready condition's transition (which
// moved with the last try's message); a FleetCluster written before offlineSince existed falls back
// to the transition.
func TestStateRestoresOfflineSince(t *testing.T) {
	went := time.Now().Add(-20 * time.Second).UTC().Truncate(time.Second)
	moved := time.Now().Add(-5 * time.Second).UTC().Truncate(time.Second)
	offline := func(since *metav1.Time) *fleetv1.FleetCluster {
		fc := &fleetv1.FleetCluster{Spec: fleetv1.FleetClusterSpec{Mode: fleetv1.ModePush}}
		fc.Status.State, fc.Status.OfflineSince = fleetv1.StateOffline, since
		fc.Status.Conditions = []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionFalse, Reason: "Offline",
			LastTransitionTime: metav1.NewTime(moved)}}
		return fc
	}
	r := &FleetReconciler{states: map[types.NamespacedName]*fleet.LocalState{}}
	s := r.state(types.NamespacedName{Namespace: "fleets", Name: "shops"}, map[string]*fleetv1.FleetCluster{
		"edge-1": offline(ptr(metav1.NewTime(went))),
		"edge-2": offline(nil),
	})
	assert.Equal(t, went, s.Get("edge-1").OfflineSince.UTC())
	assert.Equal(t, went.Add(30*time.Second), s.Get("edge-1").NextRetry.UTC(), "its first retry, 30 s after it went")
	assert.Equal(t, moved, s.Get("edge-2").OfflineSince.UTC(), "written before offlineSince: the condition's transition")
}
