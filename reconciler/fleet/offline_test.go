package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestOfflineClusters: two of three edge sites become unreachable after a first sync — one whose API
// server is killed (connections refused at once) and the canary, whose server is frozen (connections
// accepted, nothing answers: only the connection timeout ends the wait). Both are Offline, never
// InSync or Failed; the third syncs; the rollout goes on past the offline canary; the fleet is delayed
// by at most one connection timeout; the local state remembers when each was last seen and at which
// revision; the next sync does not try them again before their backoff, unless told to.
func TestOfflineClusters(t *testing.T) {
	env := testcluster.StartWithCRDs(t, edgeClusters...)
	ctx := context.Background()
	const connectTimeout = 2 * time.Second
	stateDir := t.TempDir()
	state, err := fleet.OpenState(stateDir)
	require.NoError(t, err)
	opts := fleet.Options{Dir: exampleFleet, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: edgeOnly, Health: "accepted",
		ConnectTimeout: connectTimeout, State: state, Progress: logProgress(t)}

	rep, err := fleet.Sync(ctx, opts)
	require.NoError(t, err)
	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Synced, "edge-store-2": clusterstatus.Synced, "edge-factory-1": clusterstatus.Synced}, states(rep))
	// A no-change sync with every site up: the time the reachable fleet takes.
	rep, err = fleet.Sync(ctx, opts)
	require.NoError(t, err)
	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.InSync, "edge-store-2": clusterstatus.InSync, "edge-factory-1": clusterstatus.InSync}, states(rep))
	normal := rep.Took
	seen := time.Now()
	t.Logf("no-change sync, every site up: %s", normal)

	killAPIServer(t, env, "edge-store-2")   // refused at once
	freezeAPIServer(t, env, "edge-store-1") // the canary: accepted, never answered

	opts.Revision = "r2"
	rep, err = fleet.Sync(ctx, opts)
	require.NoError(t, err)
	outs := outcomes(rep)
	frozen, killed, up := outs["edge-store-1"], outs["edge-store-2"], outs["edge-factory-1"]
	t.Logf("with two sites offline: %s (frozen canary %s, killed %s)", rep.Took, frozen.Took, killed.Took)

	assert.Equal(t, clusterstatus.Offline, frozen.State, frozen.Message)
	assert.Contains(t, frozen.Message, "unreachable")
	assert.GreaterOrEqual(t, frozen.Took, connectTimeout-200*time.Millisecond, "a frozen server is given its whole connection timeout")
	assert.LessOrEqual(t, frozen.Took, connectTimeout+time.Second, "an offline site costs at most its connection timeout")
	assert.Equal(t, clusterstatus.Offline, killed.State, killed.Message)
	assert.Contains(t, killed.Message, "connection refused")
	assert.LessOrEqual(t, killed.Took, connectTimeout+time.Second)
	assert.Equal(t, clusterstatus.InSync, up.State, "the rollout goes on past an offline canary: %s", up.Message)
	assert.True(t, rep.OK(), "offline sites do not make the sync fail")
	assert.Less(t, rep.Took, normal+connectTimeout+time.Second, "the fleet is delayed by at most one connection timeout")

	// What this machine remembers: last seen at the first sync, with its revision; backoff set.
	reread, err := fleet.OpenState(stateDir)
	require.NoError(t, err)
	for _, n := range []string{"edge-store-1", "edge-store-2"} {
		r := reread.Get(n)
		assert.Equal(t, clusterstatus.Offline, r.State, n)
		assert.Equal(t, "r1", r.Revision, "%s: the revision it last had", n)
		assert.False(t, r.LastSeen.IsZero(), n)
		assert.True(t, r.LastSeen.Before(seen), "%s: last seen before it went away", n)
		assert.False(t, r.OfflineSince.Before(seen), "%s: offline since this sync", n)
		assert.Equal(t, 1, r.Failures, n)
		assert.True(t, r.NextRetry.After(time.Now()), "%s: backoff", n)
	}
	r := reread.Get("edge-factory-1")
	assert.Equal(t, clusterstatus.InSync, r.State)
	assert.Equal(t, "r2", r.Revision)

	// Right after: the offline sites are not even tried (backoff), so they cost nothing.
	opts.Revision = "r3"
	rep, err = fleet.Sync(ctx, opts)
	require.NoError(t, err)
	outs = outcomes(rep)
	for _, n := range []string{"edge-store-1", "edge-store-2"} {
		assert.Equal(t, clusterstatus.Offline, outs[n].State, n)
		assert.Contains(t, outs[n].Message, "backoff", n)
		assert.Less(t, outs[n].Took, 100*time.Millisecond, "%s: not tried", n)
		assert.Equal(t, 1, state.Get(n).Failures, "%s: a skipped try is no failure", n)
	}
	assert.Equal(t, clusterstatus.InSync, outs["edge-factory-1"].State)
	assert.Less(t, rep.Took, normal+time.Second)

	// Unless told to retry them now: they are tried, found offline again, and backed off longer.
	opts.RetryOffline = true
	rep, err = fleet.Sync(ctx, opts)
	require.NoError(t, err)
	outs = outcomes(rep)
	assert.Equal(t, clusterstatus.Offline, outs["edge-store-1"].State)
	assert.GreaterOrEqual(t, outs["edge-store-1"].Took, connectTimeout-200*time.Millisecond, "tried again")
	assert.Equal(t, clusterstatus.Offline, outs["edge-store-2"].State)
	assert.NotContains(t, outs["edge-store-2"].Message, "backoff")
	for _, n := range []string{"edge-store-1", "edge-store-2"} {
		r := state.Get(n)
		assert.Equal(t, 2, r.Failures, n)
		assert.Greater(t, time.Until(r.NextRetry), 45*time.Second, "%s: the backoff doubles (30 s, then 60 s)", n)
		assert.Equal(t, "r1", r.Revision, n)
	}
}
