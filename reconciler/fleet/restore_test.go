package fleet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestRestoreOffline: an offline cluster's backoff rebuilt from when it went offline is the one it
// would have had had it been retried all along (tries at since, +30 s, +60 s, +120 s, ... at most 15 min
// apart), the next try after now.
func TestRestoreOffline(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		after    time.Duration
		failures int
		next     time.Duration
	}{
		{0, 1, 30 * time.Second},
		{29 * time.Second, 1, 30 * time.Second},
		{30 * time.Second, 2, 90 * time.Second},
		{100 * time.Second, 3, 210 * time.Second},
		{2 * time.Hour, 12, 2*time.Hour + 30*time.Second},
		{365 * 24 * time.Hour, 35044, 365*24*time.Hour + 30*time.Second},
	} {
		t.Run(tc.after.String(), func(t *testing.T) {
			s, _ := fleet.OpenState("")
			s.RestoreOffline("edge-1", since, since.Add(-time.Minute), "main@sha1:1", 3, since.Add(tc.after))
			r := s.Get("edge-1")
			assert.Equal(t, clusterstatus.Offline, r.State)
			assert.Equal(t, tc.failures, r.Failures)
			assert.Equal(t, since.Add(tc.next), r.NextRetry)
			assert.Equal(t, since, r.OfflineSince)
			assert.Equal(t, "main@sha1:1", r.Revision)
			assert.Equal(t, 3, r.VMs)
		})
	}
}
