package render_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/render"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

const familyYAML = `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: web-root
spec:
  source: {blank: {}}
  storage: {resources: {requests: {storage: 10Gi}}}
---
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: scratch
  namespace: batch
  annotations: {cdi.kubevirt.io/storage.deleteAfterCompletion: "true"}
spec:
  source: {blank: {}}
  storage: {resources: {requests: {storage: 1Gi}}}
---
apiVersion: instancetype.kubevirt.io/v1beta1
kind: VirtualMachineClusterInstancetype
metadata:
  name: small
spec:
  cpu: {guest: 1}
  memory: {guest: 1Gi}
`

// The VM family in a cluster folder is rendered before the VMs, in its namespace (made if needed),
// and every DataVolume keeps CDI from deleting it once complete unless its file says otherwise.
func TestFamilyObjects(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), dir))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", "edge-1", "vms", "disks.yaml"), []byte(familyYAML), 0o644))
	r, err := desired.Load(dir, desired.Options{})
	require.NoError(t, err)
	require.Empty(t, r.All().Errors())
	objs, err := desired.Objects(r.Cluster("edge-1"))
	require.NoError(t, err)
	var order []string
	anns := map[string]any{}
	namespaces := map[string]bool{}
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		switch o["kind"] {
		case "DataVolume", "VirtualMachineClusterInstancetype", "VirtualMachine":
			order = append(order, o["kind"].(string)+"/"+name)
			a, _ := md["annotations"].(map[string]any)
			anns[name] = a[render.DeleteAfterCompletion]
			labels, _ := md["labels"].(map[string]any)
			assert.Equal(t, "edge-1", labels["vmo-cue.dev/cluster"], name)
			if o["kind"] == "VirtualMachineClusterInstancetype" {
				assert.NotContains(t, md, "namespace", "cluster-scoped")
			}
		case "Namespace":
			namespaces[name] = true
		}
	}
	assert.Equal(t, []string{"DataVolume/web-root", "DataVolume/scratch", "VirtualMachineClusterInstancetype/small", "VirtualMachine/web"}, order)
	assert.Equal(t, "false", anns["web-root"])
	assert.Equal(t, "true", anns["scratch"], "the file's own choice is kept")
	assert.True(t, namespaces["batch"], "the DataVolume's namespace is made")
}
