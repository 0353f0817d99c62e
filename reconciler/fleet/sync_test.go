package fleet_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

func states(r *fleet.Report) map[string]clusterstatus.State {
	out := map[string]clusterstatus.State{}
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
	assert.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Synced, "edge-store-2": clusterstatus.Synced, "edge-factory-1": clusterstatus.Synced}, states(rep))
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
	assert.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.InSync, "edge-store-2": clusterstatus.InSync, "edge-factory-1": clusterstatus.InSync}, states(rep))

	// The clusters say so themselves.
	loaded, err := desired.Load("../../fleet", desired.Options{})
	require.NoError(t, err)
	vmCounts := map[string]int{}
	for _, c := range loaded.Clusters {
		vmCounts[c.Name] = len(c.VMs)
	}
	for _, name := range []string{"edge-store-1", "edge-store-2", "edge-factory-1"} {
		rc := connect(t, env, name)
		s, found, err := clusterstatus.Read(ctx, rc)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, clusterstatus.InSync, s.State, name)
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

// TestSyncRefusesAnotherClustersAPIServer: a kubeconfig whose context edge-store-2 reaches
// edge-store-1's API server. The sync refuses edge-store-2 there with both names (Failed), and writes
// nothing into edge-store-1's API server, not even edge-store-2's status.
func TestSyncRefusesAnotherClustersAPIServer(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "edge-store-1")
	ctx := context.Background()
	store1 := fleet.Options{Dir: "../../fleet", Revision: "r1", Kubeconfig: env.Kubeconfig,
		Selector: map[string]string{"site": "store-0142"}, Health: "accepted", ConnectTimeout: 3 * time.Second}
	rep, err := fleet.Sync(ctx, store1)
	require.NoError(t, err)
	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Synced}, states(rep))
	c := connect(t, env, "edge-store-1")
	before, found, err := clusterstatus.Read(ctx, c)
	require.NoError(t, err)
	require.True(t, found)

	raw, err := clientcmd.LoadFromFile(env.Kubeconfig)
	require.NoError(t, err)
	raw.Contexts["edge-store-2"] = raw.Contexts["edge-store-1"]
	wrong := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*raw, wrong))
	rep, err = fleet.Sync(ctx, fleet.Options{Dir: "../../fleet", Revision: "r2", Kubeconfig: wrong,
		Selector: map[string]string{"site": "store-0871"}, Health: "accepted", ConnectTimeout: 3 * time.Second})
	require.NoError(t, err)
	require.Len(t, rep.Outcomes, 1)
	o := rep.Outcomes[0]
	assert.Equal(t, clusterstatus.Failed, o.State)
	assert.Equal(t, "cluster edge-store-2: cluster identity mismatch: this API server belongs to fleet default cluster edge-store-1; refusing to apply cluster edge-store-2 (use --adopt to take it over)", o.Message)
	assert.False(t, rep.OK())

	after, _, err := clusterstatus.Read(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, before, after, "edge-store-1's status is as it was")
	nad := &unstructured.Unstructured{}
	nad.SetGroupVersionKind(schema.GroupVersionKind{Group: "k8s.cni.cncf.io", Version: "v1", Kind: "NetworkAttachmentDefinition"})
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "vms", Name: "store-pos"}, nad))
	assert.Equal(t, "edge-store-1", nad.GetLabels()["vmo-cue.dev/cluster"], "edge-store-1's objects are as they were")
}
