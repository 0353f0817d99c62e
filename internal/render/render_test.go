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

const kustomizedVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
  labels:
    app.kubernetes.io/managed-by: kustomize
    app.kubernetes.io/part-of: shop
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - {name: vlan, bridge: {}, macAddress: "02:00:00:00:01:01"}
      networks:
        - {name: vlan, multus: {networkName: vlan-100}}
`

// A label the VM's file sets is rendered as written: vmo-cue's own marks are vmo-cue.dev/ labels,
// on every object it renders.
func TestUserLabelsKept(t *testing.T) {
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), tmp))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "clusters", "edge-1", "vms", "web.yaml"), []byte(kustomizedVM), 0o644))
	r, err := desired.Load(tmp, desired.Options{})
	require.NoError(t, err)
	require.Empty(t, r.All())
	objs, err := render.Cluster(r.Cluster("edge-1"))
	require.NoError(t, err)
	var vm render.Object
	for _, o := range objs {
		labels, _ := o["metadata"].(map[string]any)["labels"].(map[string]any)
		assert.Equal(t, "edge-1", labels["vmo-cue.dev/cluster"], "%v %v", o["kind"], o["metadata"])
		if o["kind"] == "VirtualMachine" {
			vm = o
		} else {
			assert.NotContains(t, labels, "app.kubernetes.io/managed-by", "%v %v", o["kind"], o["metadata"])
		}
	}
	require.NotNil(t, vm)
	assert.Equal(t, map[string]any{
		"app.kubernetes.io/managed-by": "kustomize",
		"app.kubernetes.io/part-of":    "shop",
		"vmo-cue.dev/cluster":          "edge-1",
	}, vm["metadata"].(map[string]any)["labels"])
}
