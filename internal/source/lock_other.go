//go:build !unix

package source

import (
	"context"
	"errors"
	"os"
	"sync"
)

// Without flock the cache is locked within the process only.
var (
	locksMu sync.Mutex
	locks   = map[string]chan struct{}{}
)

func lockFile(ctx context.Context, path string) (*os.File, error) {
	locksMu.Lock()
	ch, ok := locks[path]
	if !ok {
		ch = make(chan struct{}, 1)
		locks[path] = ch
	}
	locksMu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		<-ch
		return nil, errors.New(pathErr(err))
	}
	return f, nil
}

func unlockFile(f *os.File) {
	name := f.Name()
	_ = f.Close()
	locksMu.Lock()
	ch := locks[name]
	locksMu.Unlock()
	<-ch
}
