package render_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/settings"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// TestTypedStackRoundTrips: the render templates are filled with the typed stack (settings.Stack),
// not the merged map it is decoded from. That holds only if the typed stack encodes to CUE as the
// very value the map does, field by field (a `{}` left out, an int become a float, a `false`
// dropped would each change what the templates render): checked for every cluster of the demo
// fleet, the testdata fleets and every vet case that validates.
func TestTypedStackRoundTrips(t *testing.T) {
	root := filepath.Join("..", "..")
	fleets := map[string]string{
		"fleet":                    filepath.Join(root, "fleet"),
		"testdata/reconcile/fleet": filepath.Join(root, "testdata", "reconcile", "fleet"),
		"testdata/vet/base":        filepath.Join(root, "testdata", "vet", "base"),
	}
	cases, err := filepath.Glob(filepath.Join(root, "testdata", "vet", "cases", "*.txt"))
	require.NoError(t, err)
	for _, path := range cases {
		c, err := testfleet.ReadCase(path)
		require.NoError(t, err)
		if !touchesSettings(c) {
			continue
		}
		dir, err := os.MkdirTemp(filepath.Join(root, "testdata", "vet"), "run-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		require.NoError(t, testfleet.CopyDir(filepath.Join(root, "testdata", "vet", "base"), dir))
		require.NoError(t, c.WriteOver(dir))
		fleets["case "+c.Name] = dir
	}
	b, err := engine.LoadBuiltin()
	require.NoError(t, err)
	ctx := cuecontext.New()
	compared := 0
	for name, dir := range fleets {
		t.Run(name, func(t *testing.T) {
			r, err := desired.Load(dir, desired.Options{})
			require.NoError(t, err)
			for _, c := range r.Clusters {
				if !c.Valid() || !c.Declared {
					continue // never rendered
				}
				merged, pos := engine.Merge(engine.NewLayer(b.SettingsDefaults), r.Fleet.Defaults, c.Decl)
				typed, err := settings.Decode(merged, pos)
				require.NoError(t, err, c.Name)
				fromMap, fromTyped := ctx.Encode(merged["stack"]), ctx.Encode(&typed.Stack)
				require.NoError(t, fromMap.Err())
				require.NoError(t, fromTyped.Err())
				assert.NoError(t, fromMap.Subsume(fromTyped, cue.Final(), cue.Raw()), "cluster %s: the map's stack holds what the typed one does not", c.Name)
				assert.NoError(t, fromTyped.Subsume(fromMap, cue.Final(), cue.Raw()), "cluster %s: the typed stack holds what the map's does not", c.Name)
				assert.JSONEq(t, jsonOf(t, fromMap), jsonOf(t, fromTyped), "cluster %s", c.Name)
				compared++
			}
		})
	}
	assert.Greater(t, compared, 20, "clusters compared")
}

// touchesSettings: the case writes a cluster declaration or the fleet's root (its defaults).
func touchesSettings(c testfleet.Case) bool {
	for name, data := range c.Files {
		if strings.HasSuffix(name, ".cue") && (strings.Contains(string(data), "stack") || strings.Contains(string(data), "defaults")) {
			return true
		}
	}
	return false
}

func jsonOf(t *testing.T, v cue.Value) string {
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return string(data)
}

// TestTypedStackRoundTripFailsOnALoss proves the comparison above sees a presence the types would
// lose: an empty struct written on purpose is a value the templates test (`field != _|_`).
func TestTypedStackRoundTripFailsOnALoss(t *testing.T) {
	ctx := cuecontext.New()
	m := map[string]any{"kubevirt": map[string]any{"enabled": true, "migrations": map[string]any{}}}
	typed, err := settings.Decode(map[string]any{"stack": m}, nil)
	require.NoError(t, err)
	fromMap, fromTyped := ctx.Encode(m), ctx.Encode(&typed.Stack)
	require.NoError(t, fromMap.Subsume(fromTyped, cue.Final(), cue.Raw()), "the pointer keeps migrations: {}")
	require.NoError(t, fromTyped.Subsume(fromMap, cue.Final(), cue.Raw()))

	// A type that dropped it would fail.
	lossy := struct {
		KubeVirt struct {
			Enabled    bool `json:"enabled"`
			Migrations struct {
				ParallelMigrationsPerCluster int64 `json:"parallelMigrationsPerCluster,omitempty"`
			} `json:"migrations,omitempty"`
		} `json:"kubevirt"`
	}{}
	lossy.KubeVirt.Enabled = true
	assert.Error(t, fromMap.Subsume(ctx.Encode(lossy), cue.Final(), cue.Raw()))
}
