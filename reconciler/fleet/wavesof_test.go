package fleet_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestWavesOf: each cluster of the example fleet in the wave its rollout places it in (the canary
// store, the edge sites, then each data centre).
func TestWavesOf(t *testing.T) {
	res, err := desired.Load(exampleFleet, desired.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"edge-store-1": "canary", "edge-store-2": "edge", "edge-factory-1": "edge", "dc-west": "dc-west", "dc-east": "dc-east",
	}, fleet.WavesOf(res))
}
