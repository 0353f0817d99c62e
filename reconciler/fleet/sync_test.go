package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

func states(r *fleet.Report) map[string]fleet.State {
	out := map[string]fleet.State{}
	for _, o := range r.Outcomes {
		out[o.Cluster] = o.State
	}
	return out
}

func TestSyncExampleFleetToThreeClusters(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "edge-store-1", "edge-store-2", "edge-factory-1")
	ctx := context.Background()
	opts := fleet.Options{Dir: "../../fleet", Revision: "r1", Kubeconfig: env.Kubeconfig,
		Selector: map[string]string{"tier": "edge"}, Health: "accepted", ConnectTimeout: 3 * time.Second}
	opts.Progress = func(o fleet.Outcome) { t.Logf("%s %s %s %s", o.Cluster, o.Wave, o.State, o.Message) }

	rep, err := fleet.Sync(ctx, opts)
	require.NoError(t, err)
	assert.Equal(t, map[string]fleet.State{"edge-store-1": fleet.Synced, "edge-store-2": fleet.Synced, "edge-factory-1": fleet.Synced}, states(rep))
	waves := map[string]string{}
	for _, o := range rep.Outcomes {
		waves[o.Cluster] = o.Wave
	}
	assert.Equal(t, "canary", waves["edge-store-1"])
	assert.Equal(t, "edge", waves["edge-store-2"])

	start := time.Now()
	rep, err = fleet.Sync(ctx, opts)
	require.NoError(t, err)
	took := time.Since(start)
	t.Logf("no-change sync of 3 clusters: %s", took)
	assert.Equal(t, map[string]fleet.State{"edge-store-1": fleet.InSync, "edge-store-2": fleet.InSync, "edge-factory-1": fleet.InSync}, states(rep))

	// The clusters say so themselves.
	loaded, err := desired.Load("../../fleet", desired.Options{})
	require.NoError(t, err)
	vmCounts := map[string]int{}
	for _, c := range loaded.Clusters {
		vmCounts[c.Name] = len(c.VMs)
	}
	for _, name := range []string{"edge-store-1", "edge-store-2", "edge-factory-1"} {
		rc := connect(t, env, name)
		s, found, err := fleet.ReadStatus(ctx, rc)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, fleet.InSync, s.State, name)
		assert.Equal(t, "r1", s.Revision)
		assert.Equal(t, vmCounts[name], s.VMs, name)
	}
}

// TestSyncHonoursMaxFileSize: the file size limit reaches the fleet's loading (a file over it is a
// finding in the shared definitions, and nothing is synced anywhere).
func TestSyncHonoursMaxFileSize(t *testing.T) {
	rep, err := fleet.Sync(context.Background(), fleet.Options{Dir: "../../fleet", Revision: "r1", MaxFileSize: 64})
	require.NoError(t, err)
	require.NotEmpty(t, rep.FleetErrors)
	var sizes []string
	for _, d := range rep.FleetErrors {
		if d.Rule == "file-size" {
			sizes = append(sizes, d.Message)
		}
	}
	require.NotEmpty(t, sizes, "%v", rep.FleetErrors)
	assert.Contains(t, sizes[0], "over the limit of 64 bytes")
	assert.Empty(t, rep.Outcomes)
}
