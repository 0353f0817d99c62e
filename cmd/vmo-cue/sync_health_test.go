package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

const healthNote = "If nothing runs the operators on these API servers (as after `make clusters`: no nodes, no operators), " +
	"nothing there ever becomes healthy: sync with --health accepted to take the API server's acceptance as health.\n"

// TestSyncHealthTimeoutSaysWhy: against an API server that runs no operators (as `make clusters`
// starts them), sync's health check waits its whole timeout; sync says why that may be and points at
// --health accepted. With it, the same sync succeeds and says nothing of the kind.
func TestSyncHealthTimeoutSaysWhy(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	dir := t.TempDir()
	copyDir(t, "../../testdata/reconcile/fleet", dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rollout.cue"), []byte("package fleet\n\nfleet: rollout: healthTimeout: \"2s\"\n"), 0o644))
	commitAll(t, dir, "shop, a short health timeout")

	code, out, stderr := cli(t, "sync", "--repo", dir, "--kubeconfig", env.Kubeconfig, "--state-dir", t.TempDir(), "--cache-dir", t.TempDir())
	t.Logf("sync exit %d\n%s\n%s", code, out, stderr)
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, outcomeLine(t, out, "shop"), "not healthy within 2s")
	assert.Contains(t, stderr, "note: the health check of shop waited its whole timeout (the fleet's rollout.healthTimeout). "+healthNote)

	code, out, stderr = cli(t, "sync", "--repo", dir, "--kubeconfig", env.Kubeconfig, "--health", "accepted", "--state-dir", t.TempDir(), "--cache-dir", t.TempDir())
	assert.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.NotContains(t, stderr, "--health accepted")
}

func TestHealthHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		outs []fleet.Outcome
		want string
	}{
		{"none", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Synced}}, ""},
		{"failed fast", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Failed, Message: "not healthy within 5m0s: ..."}}, ""},
		{"one", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Failed, HealthTimedOut: true}, {Cluster: "b", State: clusterstatus.Synced}},
			"note: the health check of a waited its whole timeout (the fleet's rollout.healthTimeout). " + healthNote},
		{"two", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Failed, HealthTimedOut: true}, {Cluster: "b", State: clusterstatus.Failed, HealthTimedOut: true}},
			"note: the health check of a, b waited its whole timeout (the fleet's rollout.healthTimeout). " + healthNote},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, healthHint(tc.outs))
		})
	}
}
