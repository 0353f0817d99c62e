package source

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLockFileWaitsWhileTheContextAllows: a cache entry's lock is held by one taker at a time; one who
// gives up (its context ends) gets the context's error, and the lock it would have got is released.
func TestLockFileWaitsWhileTheContextAllows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	held, err := lockFile(t.Context(), path)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := make(chan error, 1)
	go func() {
		f, err := lockFile(ctx, path)
		if f != nil {
			_ = f.Close()
		}
		gaveUp <- err
	}()
	cancel()
	assert.ErrorIs(t, <-gaveUp, context.Canceled, "the lock is held: only the context ends the wait")

	require.NoError(t, held.Close())
	again, err := lockFile(t.Context(), path) // waits for the given-up taker's release, if it got the lock
	require.NoError(t, err)
	require.NoError(t, again.Close())

	_, err = lockFile(t.Context(), filepath.Join(t.TempDir(), "missing", "lock"))
	assert.ErrorContains(t, err, "/missing/lock: no such file or directory")
}
