package source

import (
	"context"
	"errors"
	"os"

	"github.com/rogpeppe/go-internal/lockedfile"
)

// lockFile opens path locked for writing (lockedfile: flock on Unix, LockFileEx on Windows), waiting
// while ctx allows: one Fetch at a time per cache entry, across goroutines and processes. Closing the
// file releases the lock. When ctx ends first, the wait goes on in the background and releases the
// lock as soon as it gets it.
func lockFile(ctx context.Context, path string) (*lockedfile.File, error) {
	type result struct {
		f   *lockedfile.File
		err error
	}
	got := make(chan result, 1)
	go func() {
		f, err := lockedfile.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		got <- result{f, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return nil, errors.New(pathErr(r.err))
		}
		return r.f, nil
	case <-ctx.Done():
		go func() {
			if r := <-got; r.err == nil {
				_ = r.f.Close()
			}
		}()
		return nil, ctx.Err()
	}
}
