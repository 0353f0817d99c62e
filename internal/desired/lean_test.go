package desired

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// TestLoadLean: a lean load (vet's) reports exactly the findings of a full one, at the same lines,
// those across clusters included (a MAC shared across a layer-2 domain by a CUE VM and a YAML VM, a
// MAC block with no free address left), and keeps no VM's object.
func TestLoadLean(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"34-mac-duplicate-across-l2-domain", "./clusters/dc-1/l2.cue:5:59"},
		{"42-mac-block-full", "./clusters/edge-1/many.cue:9:56"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testfleet.ReadCase(filepath.Join("..", "..", "testdata", "vet", "cases", tc.name+".txt"))
			require.NoError(t, err)
			// Inside the module, so that the fleet imports the module's own schemas.
			tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
			require.NoError(t, err)
			t.Cleanup(func() { os.RemoveAll(tmp) })
			require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), tmp))
			require.NoError(t, c.WriteOver(tmp))

			full, err := Load(tmp, Options{})
			require.NoError(t, err)
			lean, err := Load(tmp, Options{Lean: true})
			require.NoError(t, err)
			var fullOut, leanOut bytes.Buffer
			require.NoError(t, full.All().Print(&fullOut))
			require.NoError(t, lean.All().Print(&leanOut))
			assert.Equal(t, fullOut.String(), leanOut.String())
			assert.Contains(t, leanOut.String(), tc.want)

			fullVMs, leanVMs := 0, 0
			for i, c := range lean.Clusters {
				assert.Empty(t, c.Cluster.SourceVMs, "cluster %s: the engine's VMs", c.Name)
				for _, vm := range c.VMs {
					assert.Nil(t, vm.Object, "cluster %s: VM %s", c.Name, vm.Name)
					leanVMs++
				}
				for _, vm := range full.Clusters[i].VMs {
					assert.NotNil(t, vm.Object)
					fullVMs++
				}
			}
			assert.Equal(t, fullVMs, leanVMs)
			assert.NotZero(t, leanVMs)
		})
	}
}
