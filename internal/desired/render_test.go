package desired

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/settings"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// TestPrunePolicyMaxShare: maxShare as CUE decodes it, an int64 for a whole number.
func TestPrunePolicyMaxShare(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]any
		want     float64
	}{
		{"not set", map[string]any{}, reconciler.DefaultMaxPruneShare},
		{"a fraction", map[string]any{"prune": map[string]any{"maxShare": 0.5}}, 0.5},
		{"a whole number (maxShare: 1)", map[string]any{"prune": map[string]any{"maxShare": int64(1)}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := settings.Decode(tc.settings, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, PrunePolicy(s.Prune).MaxShare)
		})
	}
}

func TestDriftIgnore(t *testing.T) {
	got := DriftIgnore(settings.Drift{Ignore: map[string][]string{
		"VirtualMachine": {"spec.runStrategy", "metadata.annotations"},
	}})
	assert.Equal(t, map[string][][]string{"VirtualMachine": {{"spec", "runStrategy"}, {"metadata", "annotations"}}}, got)
	assert.Empty(t, DriftIgnore(settings.Drift{}))
}
