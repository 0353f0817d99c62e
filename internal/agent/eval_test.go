package agent

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/evalworker"
)

// TestLoadOwnCluster: the agent renders its cluster in a worker process (`vmo-cue eval-worker --only`),
// alone or with the whole fleet when it shares a layer-2 domain; either way exactly what rendering the
// whole fleet in this process gives (MACs derived across the domain included).
func TestLoadOwnCluster(t *testing.T) {
	require.Equal(t, evalworker.Command, WorkerCommand)
	w := Worker{Binary: os.Getenv("VMO_CUE_BIN")}
	full, err := desired.Load("../../fleet", desired.Options{})
	require.NoError(t, err)
	for _, name := range []string{"edge-store-1", "dc-east"} {
		t.Run(name, func(t *testing.T) {
			a := &Agent{opts: Options{Cluster: name, Worker: w}}
			got, err := a.load(context.Background(), "../../fleet", "main@sha1:x", "x")
			require.NoError(t, err)
			want, err := desired.Render(full.Cluster(name))
			require.NoError(t, err)
			assert.Equal(t, want.Fleet, got.desired.Fleet)
			assert.Equal(t, want.Prune, got.desired.Prune)
			assert.Equal(t, want.VMs, got.desired.VMs)
			assert.Equal(t, len(full.Cluster(name).VMs), got.vms)
			require.Equal(t, len(want.Objects), len(got.desired.Objects))
			// As the API server gets them (JSON: a whole float64 of a YAML-written field and the
			// worker's int64 are the same number).
			for i := range want.Objects {
				w, err := json.Marshal(want.Objects[i].Object)
				require.NoError(t, err)
				g, err := json.Marshal(got.desired.Objects[i].Object)
				require.NoError(t, err)
				assert.JSONEq(t, string(w), string(g))
			}
		})
	}
	a := &Agent{opts: Options{Cluster: "nowhere", Worker: w}}
	_, err = a.load(context.Background(), "../../fleet", "main@sha1:x", "x")
	assert.EqualError(t, err, "cluster nowhere: not in the fleet at main@sha1:x (no folder clusters/nowhere)")
}
