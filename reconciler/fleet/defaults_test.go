package fleet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestDefaultsAreTheCUEDefaults: the rollout's and the prune share's defaults are written once, in
// schemas/defaults.cue (RolloutDefaults, SettingsDefaults); Go's copies are these.
func TestDefaultsAreTheCUEDefaults(t *testing.T) {
	b, err := engine.LoadBuiltin()
	require.NoError(t, err)
	timeout, err := time.ParseDuration(b.RolloutDefaults["healthTimeout"].(string))
	require.NoError(t, err)
	prune, _ := b.SettingsDefaults["prune"].(map[string]any)
	for _, tc := range []struct {
		name     string
		cue, got any
	}{
		{"rollout.maxConcurrent", b.RolloutDefaults["maxConcurrent"], int64(fleet.DefaultMaxConcurrent)},
		{"rollout.healthTimeout", timeout, reconciler.DefaultHealthTimeout},
		{"rollout.health", b.RolloutDefaults["health"], reconciler.DefaultHealth},
		{"prune.maxShare", prune["maxShare"], reconciler.DefaultMaxPruneShare},
	} {
		assert.EqualValues(t, tc.cue, tc.got, tc.name)
	}
}
