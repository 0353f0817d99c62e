package v1alpha1

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Both kinds work with fluxcd/pkg/runtime's conditions and patch packages.
var (
	_ conditions.Setter = &Fleet{}
	_ conditions.Setter = &FleetCluster{}
)

func TestClusterCountsAdd(t *testing.T) {
	tests := []struct {
		name   string
		states []ClusterState
		want   ClusterCounts
	}{
		{"none", nil, ClusterCounts{}},
		{"one of each", []ClusterState{StateInSync, StateDrifted, StateSyncing, StateFailed, StateOffline, StatePending, StateInterrupted},
			ClusterCounts{Total: 7, InSync: 1, Drifted: 1, Syncing: 1, Failed: 1, Offline: 1, Pending: 1, Interrupted: 1}},
		{"repeated", []ClusterState{StateInSync, StateInSync, StateOffline}, ClusterCounts{Total: 3, InSync: 2, Offline: 1}},
		{"no state yet counts in total only", []ClusterState{"", StateFailed}, ClusterCounts{Total: 2, Failed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ClusterCounts
			for _, s := range tt.states {
				c.Add(s)
			}
			require.Equal(t, tt.want, c)
		})
	}
}

func TestFleetDurations(t *testing.T) {
	minutes := func(n int) *metav1.Duration { return &metav1.Duration{Duration: time.Duration(n) * time.Minute} }
	tests := []struct {
		name                string
		spec                FleetSpec
		wantRequeue, wantTO time.Duration
	}{
		{"no interval: the default", FleetSpec{}, DefaultInterval, DefaultInterval},
		{"timeout defaults to the interval", FleetSpec{Interval: minutes(2)}, 2 * time.Minute, 2 * time.Minute},
		{"timeout given", FleetSpec{Interval: minutes(2), Timeout: minutes(10)}, 2 * time.Minute, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fleet{Spec: tt.spec}
			require.Equal(t, tt.wantRequeue, f.GetRequeueAfter())
			require.Equal(t, tt.wantTO, f.GetTimeout())
		})
	}
}

// The conditions package of fluxcd/pkg/runtime reads and writes status.conditions of both kinds.
func TestConditionsLandInStatus(t *testing.T) {
	f := &Fleet{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	conditions.MarkTrue(f, meta.ReadyCondition, meta.SucceededReason, "Applied revision %s", "main@sha1:1234")
	require.True(t, conditions.IsReady(f))
	require.Equal(t, []string{meta.ReadyCondition}, condTypes(f.Status.Conditions))
	require.Equal(t, "Applied revision main@sha1:1234", f.Status.Conditions[0].Message)
	require.Equal(t, int64(3), f.Status.Conditions[0].ObservedGeneration)

	conditions.MarkReconciling(f, meta.ProgressingReason, "syncing")
	require.False(t, conditions.IsReady(f), "a Fleet being reconciled is not Ready (kstatus)")

	fc := &FleetCluster{}
	conditions.MarkFalse(fc, meta.ReadyCondition, meta.FailedReason, "unreachable")
	require.True(t, conditions.IsFalse(fc, meta.ReadyCondition))
	require.Equal(t, []string{meta.ReadyCondition}, condTypes(fc.Status.Conditions))
}

func condTypes(cs []metav1.Condition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Type)
	}
	return out
}
