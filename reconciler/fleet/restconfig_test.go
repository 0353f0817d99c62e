package fleet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestSyncThroughRESTConfig: with Options.RESTConfig the clusters are reached through it, not
// through a kubeconfig file (the fleet controller builds each connection from a Secret); it is asked
// with each cluster's name and declared context, and its error fails that cluster only. Select
// narrows the clusters further than Selector; the outcomes carry the counts of each sync.
func TestSyncThroughRESTConfig(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "edge-store-1")
	var mu sync.Mutex
	asked := map[string]string{}
	opts := fleet.Options{Dir: exampleFleet, Revision: "r1", Selector: edgeOnly, Health: "accepted", ConnectTimeout: 3 * time.Second,
		Select: func(labels map[string]string) bool { return labels["site"] != "plant-linz" },
		RESTConfig: func(cluster, context string) (*rest.Config, error) {
			mu.Lock()
			defer mu.Unlock()
			asked[cluster] = context
			if c := env.Cluster(cluster); c != nil {
				return c.Config(), nil
			}
			return nil, errors.New("no credentials for " + cluster)
		}}

	rep, err := fleet.Sync(context.Background(), opts)
	require.NoError(t, err)
	outs := outcomes(rep)
	require.Len(t, outs, 2, "edge-factory-1 is left out by Select")
	assert.Equal(t, map[string]string{"edge-store-1": "edge-store-1", "edge-store-2": "edge-store-2"}, asked)
	assert.Equal(t, clusterstatus.Synced, outs["edge-store-1"].State, outs["edge-store-1"].Message)
	assert.Equal(t, clusterstatus.Failed, outs["edge-store-2"].State)
	assert.Equal(t, "no credentials for edge-store-2", outs["edge-store-2"].Message)

	loaded, err := desired.Load(exampleFleet, desired.Options{})
	require.NoError(t, err)
	assert.Equal(t, len(loaded.Cluster("edge-store-1").VMs), outs["edge-store-1"].VMs)
	assert.NotZero(t, outs["edge-store-1"].VMs)
	assert.Zero(t, outs["edge-store-1"].Drifted)
}
