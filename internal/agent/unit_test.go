package agent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

func TestGuard(t *testing.T) {
	vm := inventory.ID{Group: "kubevirt.io", Kind: "VirtualMachine", Namespace: "vms", Name: "pos"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		max         int
		at          []time.Duration // corrections, after t0
		contestedAt int             // the correction that makes it Contested (1-based), 0 for none
	}{
		{"three within the window", 3, []time.Duration{0, time.Minute, 2 * time.Minute}, 3},
		{"spread beyond the window", 3, []time.Duration{0, 6 * time.Minute, 12 * time.Minute, 18 * time.Minute}, 0},
		{"the window slides", 3, []time.Duration{0, 6 * time.Minute, 12 * time.Minute, 13 * time.Minute}, 4},
		{"off", 0, []time.Duration{0, 0, 0, 0, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(tc.max, 10*time.Minute)
			got := 0
			for i, d := range tc.at {
				if out := g.corrected(t0.Add(d), []inventory.ID{vm}, []string{"kubectl-edit"}); len(out) > 0 {
					require.Zero(t, got, "contested twice")
					got = i + 1
				}
			}
			assert.Equal(t, tc.contestedAt, got)
			assert.Equal(t, tc.contestedAt > 0, g.isContested(vm))
			if tc.contestedAt > 0 {
				assert.Equal(t, "VirtualMachine/vms/pos by kubectl-edit after 3 corrections", g.list()[0].String())
				g.reset()
				assert.False(t, g.isContested(vm), "a new revision resets the guard")
			}
		})
	}
}

func TestCommitOf(t *testing.T) {
	const c = "068278c2db993742ccc4393ef372c98fa1cb1eda"
	for _, tc := range []struct{ in, want, err string }{
		{"main@sha1:" + c, c, ""},
		{"v1.0@sha1:" + c, c, ""},
		{"sha1:" + c, c, ""},
		{c, c, ""},
		{"main@sha1:068278c2", "", `released revision "main@sha1:068278c2": want <ref>@sha1:<40 hex digits>`},
		{"main", "", `released revision "main": want <ref>@sha1:<40 hex digits>`},
	} {
		got, err := commitOf(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
}

func TestManagerOf(t *testing.T) {
	for in, want := range map[string]string{
		"fields set by vmo-cue were changed or removed (by kubectl-edit)":               "kubectl-edit",
		"fields set by vmo-cue were changed or removed (by kubectl-edit, virt-handler)": "kubectl-edit, virt-handler",
		"fields set by vmo-cue were changed or removed":                                 "",
		"deleted from the cluster by someone":                                           "",
	} {
		assert.Equal(t, want, managerOf(in), in)
	}
}

// TestSlim: the informers' cache keeps no field sets, only vmo-cue's FieldsRef, and slimming twice
// changes nothing (an informer may transform an object again).
func TestSlim(t *testing.T) {
	now := metav1.Now()
	ours := []byte(`{"f:spec":{"f:runStrategy":{}}}`)
	o := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "pos", Namespace: "vms", UID: "u1", ResourceVersion: "7",
		Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"big": "x"},
		ManagedFields: []metav1.ManagedFieldsEntry{
			{Manager: reconciler.FieldManager, Operation: metav1.ManagedFieldsOperationApply, Time: &now, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(string(ours))},
			{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: &now, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{}}`)},
		}}}
	want := reconciler.FieldsRef(o.ManagedFields)
	require.NotEmpty(t, want)
	once, err := slim(o)
	require.NoError(t, err)
	twice, err := slim(once)
	require.NoError(t, err)
	for _, s := range []any{once, twice} {
		m := s.(*metav1.PartialObjectMetadata)
		assert.Equal(t, map[string]string{refAnnotation: want}, m.Annotations)
		assert.Nil(t, m.Labels)
		assert.Equal(t, "kubectl-edit", otherManagers(m.ManagedFields))
		for _, e := range m.ManagedFields {
			assert.Nil(t, e.FieldsV1)
		}
	}
}

// TestStatusPatch: every field the agent owns is in the patch, empty ones as null, so that nothing
// of an earlier status lingers (a merge patch keeps what it does not name).
func TestStatusPatch(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	data, err := json.Marshal(statusPatch(fleetv1.FleetClusterStatus{State: fleetv1.StateInSync, Revision: "main@sha1:x", LastSeenTime: &now, LastHeartbeatTime: &now, VMs: 3}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"state":"InSync","revision":"main@sha1:x","lastSyncTime":null,"lastSeenTime":"2026-01-01T00:00:00Z",
		"lastHeartbeatTime":"2026-01-01T00:00:00Z","driftedObjects":0,"drifted":null,"contested":null,"orphans":0,"vms":3,"message":null,"conditions":null}`, string(data))
}

// TestHubRetryBackoff: a failed status send is retried after 500 ms, doubling, at most maxRetry.
func TestHubRetryBackoff(t *testing.T) {
	for _, tc := range []struct {
		maxRetry time.Duration
		want     []time.Duration
	}{
		{5 * time.Second, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{200 * time.Millisecond, []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}},
	} {
		b := (&hub{maxRetry: tc.maxRetry}).retryBackoff()
		var got []time.Duration
		for range tc.want {
			got = append(got, b.Step())
		}
		assert.Equal(t, tc.want, got, "maxRetry %s", tc.maxRetry)
	}
}
