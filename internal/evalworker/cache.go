package evalworker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/evalworker/wire"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// headerFile is the header of a kept evaluation, written last: a folder without it is no evaluation.
const headerFile = "header.json"

// cacheKey names an evaluation: the revision, the worker's flags and batch, and the binary (its
// size and modification time: another build may render otherwise). Empty: nothing is kept.
func (o Options) cacheKey() (string, error) {
	if o.CacheDir == "" || o.Key == "" {
		return "", nil
	}
	st, err := os.Stat(o.Binary)
	if err != nil {
		return "", fmt.Errorf("evaluation worker: %w", err)
	}
	sum := sha256.Sum256([]byte(strings.Join(append([]string{o.Key, strconv.Itoa(o.Batch), strconv.FormatInt(st.Size(), 10),
		strconv.FormatInt(st.ModTime().UnixNano(), 10)}, o.Args...), "\x00")))
	return hex.EncodeToString(sum[:16]), nil
}

// cacheable: nothing in the evaluation depends on the moment — no budget stopped any part of it
// (the same revision, on a less busy machine, could be evaluated whole).
func cacheable(h *header) bool {
	budget := func(l diag.List) bool {
		for _, d := range l {
			if d.Rule == engine.RuleBudget {
				return true
			}
		}
		return false
	}
	if budget(h.Shared) {
		return false
	}
	for _, c := range h.Clusters {
		if c.Unevaluated != "" || budget(c.Errors) {
			return false
		}
	}
	return true
}

// keep stores the evaluation in out as dir/key, the only one of dir.
func keep(dir, key, out string, h *header) error {
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("evaluation worker: keeping the evaluation: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, headerFile), data, 0o600); err != nil {
		return fmt.Errorf("evaluation worker: keeping the evaluation: %w", err)
	}
	final := filepath.Join(dir, key)
	_ = os.RemoveAll(final)
	if err := os.Rename(out, final); err != nil {
		return fmt.Errorf("evaluation worker: keeping the evaluation: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("evaluation worker: %w", err)
	}
	for _, e := range entries {
		if e.Name() != key {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// open reads a kept evaluation.
func open(dir string) (*fleet.Loaded, error) {
	data, err := os.ReadFile(filepath.Join(dir, headerFile))
	if err != nil {
		return nil, err
	}
	var h header
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("evaluation worker: %s: %w", filepath.Join(dir, headerFile), err)
	}
	return loaded(&h, dir, nil)
}

// loaded is the revision of a header whose renders are in dir; closing removes them (nil: kept).
func loaded(h *header, dir string, remove func() error) (*fleet.Loaded, error) {
	l := &fleet.Loaded{Fleet: h.Fleet, Shared: h.Shared, Clusters: h.Clusters}
	if len(h.Rollout) > 0 {
		if err := utiljson.Unmarshal(h.Rollout, &l.Rollout); err != nil {
			if remove != nil {
				_ = remove()
			}
			return nil, fmt.Errorf("evaluation worker: the rollout: %w", err)
		}
	}
	if len(h.Shared) > 0 {
		if remove != nil {
			_ = remove()
		}
		return l, nil
	}
	l.Render = func(_ context.Context, cluster string) (*reconciler.Desired, error) { return readRender(dir, cluster) }
	l.Close = remove
	return l, nil
}

// readRender reads a cluster's desired state from its file.
func readRender(dir, cluster string) (*reconciler.Desired, error) {
	d, err := wire.Read(dir, cluster)
	var rerr *wire.RenderError
	if err != nil && !errors.Is(err, wire.ErrNotWritten) && !errors.As(err, &rerr) {
		return nil, fmt.Errorf("evaluation worker: %w", err)
	}
	return d, err
}
