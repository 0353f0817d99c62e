package desired

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// TestVMOwners: the owner of a VM's power state comes from its annotation, else the cluster's
// powerState, else the fleet's defaults, else git; derived MACs are listed per interface.
func TestVMOwners(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      map[string]string
		pos1, web  reconciler.PowerOwner
		derivedFor string
	}{
		{"nothing declared: git", nil, reconciler.PowerGit, reconciler.PowerGit, "pos"},
		{"fleet defaults", map[string]string{"power.cue": "package fleet\n\nfleet: defaults: powerState: \"operators\"\n"},
			reconciler.PowerOperators, reconciler.PowerOperators, "pos"},
		{"the cluster over the fleet", map[string]string{
			"power.cue":               "package fleet\n\nfleet: defaults: powerState: \"operators\"\n",
			"clusters/shop/power.cue": "package fleet\n\ncluster: powerState: \"git\"\n",
		}, reconciler.PowerGit, reconciler.PowerGit, "pos"},
		{"a VM's annotation over the cluster", map[string]string{
			"clusters/shop/power.cue": "package fleet\n\ncluster: powerState: \"operators\"\n",
			"clusters/shop/vms/web.yaml": `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
  namespace: shop
  annotations: {vmo-cue.dev/power-state: git}
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        devices:
          interfaces: [{name: default, masquerade: {}}]
      networks: [{name: default, pod: {}}]
`,
		}, reconciler.PowerOperators, reconciler.PowerGit, "pos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, testfleet.CopyDir("../../testdata/reconcile/fleet", dir))
			for rel, content := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644))
			}
			r, err := Load(dir, Options{})
			require.NoError(t, err)
			c := r.Cluster("shop")
			require.True(t, c.Valid(), "%v", c.Diags)
			d, err := Render(c)
			require.NoError(t, err)
			assert.Equal(t, tc.pos1, d.VMs["vms/pos-1"].Power)
			assert.Equal(t, tc.web, d.VMs["shop/web"].Power)
			assert.Len(t, d.VMs["vms/pos-1"].DerivedMACs, 1)
			assert.NotEmpty(t, d.VMs["vms/pos-1"].DerivedMACs[tc.derivedFor])
			assert.Empty(t, d.VMs["shop/web"].DerivedMACs, "the pod network gets no derived MAC")
		})
	}
}
