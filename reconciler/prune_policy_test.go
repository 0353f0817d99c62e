package reconciler

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPrunePolicyMaxShare: maxShare as CUE decodes it, an int64 for a whole number.
func TestPrunePolicyMaxShare(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]any
		want     float64
	}{
		{"not set", map[string]any{}, DefaultMaxPruneShare},
		{"a fraction", map[string]any{"prune": map[string]any{"maxShare": 0.5}}, 0.5},
		{"a whole number (maxShare: 1)", map[string]any{"prune": map[string]any{"maxShare": int64(1)}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, prunePolicy(tc.settings).MaxShare)
		})
	}
}
