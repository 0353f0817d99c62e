package reconciler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRolloutHealth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rollout map[string]any
		health  string
		timeout time.Duration
	}{
		{"unset", nil, HealthKStatus, 5 * time.Minute},
		{"accepted", map[string]any{"health": "accepted"}, HealthAccepted, 5 * time.Minute},
		{"timeout", map[string]any{"healthTimeout": "90s"}, HealthKStatus, 90 * time.Second},
		{"malformed timeout keeps the default", map[string]any{"healthTimeout": "soon"}, HealthKStatus, 5 * time.Minute},
		{"wrong type keeps the default", map[string]any{"health": 3}, HealthKStatus, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, d := RolloutHealth(tc.rollout)
			assert.Equal(t, tc.health, h)
			assert.Equal(t, tc.timeout, d)
		})
	}
}
