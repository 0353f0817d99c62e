package fleet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestDeleteLoadsThroughTheLoader: Delete loads its revision with Options.Load, as Sync does (the
// controller's evaluation worker), renders through what it loaded, and closes it; nothing is
// evaluated in the caller's process besides. The clusters (nothing listens at their address) are
// Offline.
func TestDeleteLoadsThroughTheLoader(t *testing.T) {
	var loads, closes int
	inProcess := fleet.InProcess(desired.Options{})
	load := func(ctx context.Context, dir string) (*fleet.Loaded, error) {
		loads++
		l, err := inProcess(ctx, dir)
		if err != nil {
			return nil, err
		}
		l.Close = func() error { closes++; return nil }
		return l, nil
	}
	rep, err := fleet.Delete(t.Context(), fleet.Options{Dir: exampleFleet, Revision: "r1", Selector: edgeOnly, Load: load,
		RESTConfig: func(string, string) (*rest.Config, error) { return &rest.Config{Host: "https://127.0.0.1:1"}, nil }})
	require.NoError(t, err)
	assert.Equal(t, 1, loads, "the revision is loaded through Options.Load")
	assert.Equal(t, 1, closes, "and closed")
	assert.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Offline, "edge-store-2": clusterstatus.Offline, "edge-factory-1": clusterstatus.Offline}, states(rep))
}
