package reconciler_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

const familyFile = `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: web-root
  namespace: shop
spec:
  source: {blank: {}}
  storage: {resources: {requests: {storage: 1Gi}}}
---
apiVersion: instancetype.kubevirt.io/v1beta1
kind: VirtualMachineInstancetype
metadata:
  name: small
  namespace: shop
spec:
  cpu: {guest: 1}
  memory: {guest: 1Gi}
---
apiVersion: instancetype.kubevirt.io/v1beta1
kind: VirtualMachineClusterPreference
metadata:
  name: linux
spec:
  devices: {preferredDiskBus: virtio}
`

// DataVolumes, instance types and preferences declared in a cluster folder are applied with the VMs
// and, once removed from git, kept like the VMs' disks: only an opt-in prunes them.
func TestPruneKeepsTheVMFamily(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	writeFile(t, dir, "clusters/shop/vms/family.yaml", familyFile)
	reconcile := func(opts reconciler.Options) *reconciler.Result {
		t.Helper()
		opts.Revision, opts.PendingTimeout = "test", 10*time.Second
		res, err := rc.Reconcile(t.Context(), desiredOf(t, loadCluster(t, dir, "shop")), opts)
		require.NoError(t, err, "failed: %v", res.Failed)
		return res
	}
	require.Empty(t, reconcile(reconciler.Options{}).Pending)
	gvkDV := schema.GroupVersionKind{Group: "cdi.kubevirt.io", Version: "v1beta1", Kind: "DataVolume"}
	gvkIT := schema.GroupVersionKind{Group: "instancetype.kubevirt.io", Version: "v1beta1", Kind: "VirtualMachineInstancetype"}
	gvkCP := schema.GroupVersionKind{Group: "instancetype.kubevirt.io", Version: "v1beta1", Kind: "VirtualMachineClusterPreference"}
	dv := getLive(t, other, gvkDV, "shop", "web-root")
	require.NotNil(t, dv)
	assert.Equal(t, "false", dv.GetAnnotations()["cdi.kubevirt.io/storage.deleteAfterCompletion"])
	require.NotNil(t, getLive(t, other, gvkIT, "shop", "small"))
	require.NotNil(t, getLive(t, other, gvkCP, "", "linux"))

	removeFile(t, dir, "clusters/shop/vms/family.yaml")
	res := reconcile(reconciler.Options{Prune: true})
	assert.Empty(t, res.Pruned)
	ids := []string{idFor(gvkDV, "shop", "web-root"), idFor(gvkIT, "shop", "small"), idFor(gvkCP, "", "linux")}
	for _, o := range res.Orphans {
		if o.ID.String() == ids[0] || o.ID.String() == ids[1] || o.ID.String() == ids[2] {
			assert.Contains(t, o.Kept, "orphaned, kept", o.ID.String())
		}
	}
	assert.Subset(t, orphanIDs(res.Orphans), ids)
	assert.NotNil(t, getLive(t, other, gvkDV, "shop", "web-root"))
	assert.NotNil(t, getLive(t, other, gvkIT, "shop", "small"))
	assert.NotNil(t, getLive(t, other, gvkCP, "", "linux"))

	// The cluster's opt-in for VMs covers instance types and preferences; dataVolumes covers DataVolumes.
	writeFile(t, dir, "clusters/shop/prune.cue", "package fleet\n\ncluster: prune: {virtualMachines: true, dataVolumes: true}\n")
	res = reconcile(reconciler.Options{Prune: true})
	assert.Subset(t, prunedIDs(res.Pruned), ids)
	assert.Nil(t, getLive(t, other, gvkIT, "shop", "small"))
	assert.Nil(t, getLive(t, other, gvkCP, "", "linux"))
}
