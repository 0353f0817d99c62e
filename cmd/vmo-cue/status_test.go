package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestStatusReportsOfflineFromLocalState: `vmo-cue status` reads each cluster's own status, and shows
// a cluster that does not answer as Offline with when this machine last saw it and the revision it
// had then, both from the local state (--state-dir).
func TestStatusReportsOfflineFromLocalState(t *testing.T) {
	dir := twoStoreFleet(t)
	env := testcluster.StartWithCRDs(t, "edge-store-1", "edge-store-2")
	ctx := context.Background()
	stateDir := t.TempDir()
	// Another machine's state: it never synced, it only ran status.
	otherDir := t.TempDir()
	statusIn := func(dir string) []clusterstatus.ClusterStatus {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run([]string{"status", "--kubeconfig", env.Kubeconfig, "--state-dir", dir, "--timeout", "3s", "-o", "json"}, &stdout, &stderr)
		require.Equal(t, 0, code, stderr.String())
		var list []clusterstatus.ClusterStatus
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &list), stdout.String())
		return list
	}
	status := func() []clusterstatus.ClusterStatus { t.Helper(); return statusIn(stateDir) }
	sync := func(rev string) map[string]clusterstatus.State {
		t.Helper()
		state, err := fleet.OpenState(stateDir)
		require.NoError(t, err)
		rep, err := fleet.Sync(ctx, fleet.Options{Dir: dir, Revision: rev, Kubeconfig: env.Kubeconfig, Health: "accepted",
			ConnectTimeout: 3 * time.Second, State: state})
		require.NoError(t, err)
		out := map[string]clusterstatus.State{}
		for _, o := range rep.Outcomes {
			out[o.Cluster] = o.State
		}
		return out
	}

	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Synced, "edge-store-2": clusterstatus.Synced}, sync("rev-1"))
	list := status()
	require.Len(t, list, 2)
	for _, s := range list {
		assert.Equal(t, clusterstatus.InSync, s.State, s.Cluster)
		assert.Equal(t, "rev-1", s.Revision)
		assert.Positive(t, s.VMs)
		assert.WithinDuration(t, time.Now(), s.LastSeen, time.Minute)
	}
	require.Len(t, statusIn(otherDir), 2)
	state, err := fleet.OpenState(stateDir)
	require.NoError(t, err)
	lastSeen := state.Get("edge-store-2").LastSeen
	require.False(t, lastSeen.IsZero())

	// edge-store-2's API server goes away; the next sync finds it Offline.
	for _, p := range env.Processes() {
		if p.Name == "kube-apiserver/edge-store-2" {
			require.NoError(t, syscall.Kill(-p.Pid, syscall.SIGKILL))
			require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-p.Pid, 0), syscall.ESRCH) }, 10*time.Second, 10*time.Millisecond)
		}
	}
	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.InSync, "edge-store-2": clusterstatus.Offline}, sync("rev-2"))

	list = status()
	require.Len(t, list, 2)
	byName := map[string]clusterstatus.ClusterStatus{}
	for _, s := range list {
		byName[s.Cluster] = s
	}
	up, down := byName["edge-store-1"], byName["edge-store-2"]
	assert.Equal(t, clusterstatus.InSync, up.State)
	assert.Equal(t, "rev-2", up.Revision, "read from the cluster")
	assert.Equal(t, clusterstatus.Offline, down.State)
	assert.Equal(t, "rev-1", down.Revision, "the revision it last had, from the local state")
	assert.Equal(t, 2, down.VMs, "the VMs it last had, from the local state (pos-server, alarm-bridge)")
	assert.True(t, lastSeen.Equal(down.LastSeen), "last seen %s, want %s from the local state", down.LastSeen, lastSeen)
	assert.Contains(t, down.Message, "unreachable: ", "names the cause")

	// The machine that only ran status remembers what it read: the offline cluster's VMs and revision
	// are the last it saw, not 0 and nothing.
	for _, s := range statusIn(otherDir) {
		if s.Cluster == "edge-store-2" {
			assert.Equal(t, clusterstatus.Offline, s.State)
			assert.Equal(t, 2, s.VMs, "the VMs this machine's last status read")
			assert.Equal(t, "rev-1", s.Revision)
			assert.False(t, s.LastSeen.IsZero())
		}
	}

	// The table says the same.
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"status", "--kubeconfig", env.Kubeconfig, "--state-dir", stateDir, "--timeout", "3s"}, &stdout, &stderr), stderr.String())
	t.Logf("vmo-cue status:\n%s", stdout.String())
	var line string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "edge-store-2 ") {
			line = l
		}
	}
	require.NotEmpty(t, line, stdout.String())
	assert.Contains(t, line, "Offline")
	assert.Contains(t, line, "rev-1")
	assert.Contains(t, line, " ago", "last seen")
}

// twoStoreFleet copies the example fleet with only its two shops, the clusters the test starts.
func twoStoreFleet(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "fleet")
	dst := filepath.Join(t.TempDir(), "fleet")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if parent, name := filepath.Split(rel); filepath.Clean(parent) == "clusters" && name != "edge-store-1" && name != "edge-store-2" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	require.NoError(t, err)
	return dst
}
