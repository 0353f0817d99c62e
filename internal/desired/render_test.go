package desired

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
			assert.Equal(t, tc.want, PrunePolicy(tc.settings).MaxShare)
		})
	}
}

func TestDriftIgnore(t *testing.T) {
	got := DriftIgnore(map[string]any{"drift": map[string]any{"ignore": map[string]any{
		"VirtualMachine": []any{"spec.runStrategy", "metadata.annotations"},
	}}})
	assert.Equal(t, map[string][][]string{"VirtualMachine": {{"spec", "runStrategy"}, {"metadata", "annotations"}}}, got)
	assert.Empty(t, DriftIgnore(map[string]any{}))
}
