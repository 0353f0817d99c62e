package fleetfs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadKustomizeFolders: a folder of a cluster holding a kustomization is kustomize's (the
// topmost one only: a base below it is built through it); its YAML files are not VMs.
func TestReadKustomizeFolders(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"clusters/a/cluster.cue":                   "package fleet\n",
		"clusters/a/vms/web.yaml":                  "kind: VirtualMachine\n",
		"clusters/a/k/kustomization.yaml":          "resources: [cm.yaml, base]\n",
		"clusters/a/k/cm.yaml":                     "kind: ConfigMap\n",
		"clusters/a/k/base/kustomization.yml":      "resources: [x.yaml]\n",
		"clusters/a/k/base/x.yaml":                 "kind: ConfigMap\n",
		"clusters/a/k-other/Kustomization":         "resources: []\n",
		"clusters/a/k-other/deep/vm-not-here.yaml": "kind: ConfigMap\n",
	})
	r, err := Read(dir, Options{})
	require.NoError(t, err)
	require.Empty(t, r.Problems)
	c := r.Cluster("a")
	require.NotNil(t, c)
	assert.Equal(t, []string{"clusters/a/k", "clusters/a/k-other"}, c.Kustomize)
	require.Len(t, c.YAML, 1)
	assert.Equal(t, "clusters/a/vms/web.yaml", c.YAML[0].Path)
}
