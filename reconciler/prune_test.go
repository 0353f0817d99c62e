package reconciler_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// pos1Only is clusters/shop/vms/pos.yaml without pos-2.
const pos1Only = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: pos-1
  labels:
    app: pos
spec:
  runStrategy: Always
  template:
    metadata:
      labels:
        app: pos
    spec:
      domain:
        cpu:
          cores: 1
        memory:
          guest: 1Gi
        devices:
          interfaces:
            - name: pos
              bridge: {}
      networks:
        - name: pos
          multus:
            networkName: vms/store-pos
`

// TestPrune walks one cluster through changes in git, in order: each step starts from the cluster
// the previous one left.
func TestPrune(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	ctx := t.Context()
	reconcile := func(t *testing.T, opts reconciler.Options) *reconciler.Result {
		t.Helper()
		opts.Revision = "test"
		res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), opts)
		require.NoError(t, err, "failed: %v", res.Failed)
		return res
	}
	orphan := func(res *reconciler.Result, id string) string {
		for _, o := range res.Orphans {
			if o.ID.String() == id {
				return o.Kept
			}
		}
		return "<not an orphan>"
	}

	res := reconcile(t, reconciler.Options{PendingTimeout: 10 * time.Second})
	require.Empty(t, res.Pending)

	vmWeb, nsShop := idFor(gvkVM, "shop", "web"), idFor(gvkNamespace, "", "shop")
	t.Run("a VM removed from git is kept and reported, with its namespace", func(t *testing.T) {
		removeFile(t, dir, "clusters/shop/vms/web.yaml")
		for _, prune := range []bool{false, true} {
			res := reconcile(t, reconciler.Options{Prune: prune})
			assert.Empty(t, res.Pruned, "prune=%v", prune)
			assert.Equal(t, []string{nsShop, vmWeb}, orphanIDs(res.Orphans), "prune=%v", prune)
			assert.Contains(t, orphan(res, vmWeb), "orphaned, kept")
			assert.Contains(t, orphan(res, vmWeb), "opt-in")
			assert.Contains(t, orphan(res, nsShop), "orphaned, kept: the namespace holds VirtualMachines")
		}
		assert.NotNil(t, getLive(t, other, gvkVM, "shop", "web"))
		assert.NotNil(t, getLive(t, other, gvkNamespace, "", "shop"))
		// Still in the inventory, so the next sync reports them again.
		inv := readInventory(t, other)
		require.NotNil(t, inv)
		keys := inv.Index()
		assert.Contains(t, keys, "kubevirt.io/VirtualMachine/shop/web")
		assert.Contains(t, keys, "/Namespace//shop")
	})

	t.Run("the annotation opts a VM in: it is deleted, then its emptied namespace", func(t *testing.T) {
		editAs(t, other, "kubectl-annotate", gvkVM, "shop", "web", func(u *unstructured.Unstructured) {
			u.SetAnnotations(map[string]string{reconciler.PruneAnnotation: "true"})
		})
		res := reconcile(t, reconciler.Options{Prune: true})
		assert.Equal(t, []string{vmWeb}, prunedIDs(res.Pruned))
		assert.Nil(t, getLive(t, other, gvkVM, "shop", "web"))
		// Checked before the VM went: it still held it.
		assert.Contains(t, orphan(res, nsShop), "holds VirtualMachines")

		res = reconcile(t, reconciler.Options{Prune: true})
		assert.Equal(t, []string{nsShop}, prunedIDs(res.Pruned), "a namespace without VMs is pruned")
		assert.Empty(t, res.Orphans)
		ns := getLive(t, other, gvkNamespace, "", "shop")
		// Without a namespace controller a deleted namespace stays Terminating.
		assert.True(t, ns == nil || ns.GetDeletionTimestamp() != nil, "namespace shop deleted")
		inv := readInventory(t, other)
		assert.NotContains(t, inv.Index(), "/Namespace//shop")
	})

	vmPos2 := idFor(gvkVM, "vms", "pos-2")
	t.Run("the cluster's declaration opts VMs in", func(t *testing.T) {
		writeFile(t, dir, "clusters/shop/prune.cue", "package fleet\n\ncluster: prune: virtualMachines: true\n")
		writeFile(t, dir, "clusters/shop/vms/pos.yaml", pos1Only)

		res := reconcile(t, reconciler.Options{})
		assert.Empty(t, res.Pruned)
		assert.Equal(t, []string{vmPos2}, orphanIDs(res.Orphans))
		assert.Contains(t, orphan(res, vmPos2), "use --prune")
		assert.NotNil(t, getLive(t, other, gvkVM, "vms", "pos-2"), "kept without --prune")

		res = reconcile(t, reconciler.Options{Prune: true})
		assert.Equal(t, []string{vmPos2}, prunedIDs(res.Pruned))
		assert.Empty(t, res.Orphans)
		assert.Nil(t, getLive(t, other, gvkVM, "vms", "pos-2"))
		assert.NotNil(t, getLive(t, other, gvkVM, "vms", "pos-1"))
	})

	t.Run("a component in kube-system switched off: its cluster-wide RBAC is pruned, its objects in kube-system are kept", func(t *testing.T) {
		writeFile(t, dir, "clusters/shop/descheduler.cue", "package fleet\n\ncluster: stack: descheduler: enabled: false\n")
		role, binding := idFor(gvkClusterRole, "", "descheduler"), idFor(gvkClusterRoleBinding, "", "descheduler")
		inKubeSystem := []string{
			idFor(gvkConfigMap, "kube-system", "descheduler-policy"),
			idFor(gvkCronJob, "kube-system", "descheduler"),
			"ServiceAccount kube-system/descheduler",
		}
		res := reconcile(t, reconciler.Options{})
		assert.Empty(t, res.Pruned)
		assert.Contains(t, orphan(res, role), "use --prune")
		for _, id := range inKubeSystem {
			assert.Equal(t, "system object, never pruned: kept (in system namespace kube-system)", orphan(res, id))
		}

		res = reconcile(t, reconciler.Options{Prune: true})
		assert.Equal(t, []string{role, binding}, prunedIDs(res.Pruned))
		assert.Equal(t, inKubeSystem, orphanIDs(res.Orphans))
		for _, id := range inKubeSystem {
			assert.Equal(t, "system object, never pruned: kept (in system namespace kube-system)", orphan(res, id))
		}
		assert.Nil(t, getLive(t, other, gvkClusterRole, "", "descheduler"))
		assert.NotNil(t, getLive(t, other, gvkConfigMap, "kube-system", "descheduler-policy"))
		assert.NotNil(t, getLive(t, other, gvkCronJob, "kube-system", "descheduler"))

		removeFile(t, dir, "clusters/shop/descheduler.cue")
		res = reconcile(t, reconciler.Options{Prune: true})
		assert.Empty(t, res.Orphans, "back in git")
		assert.Equal(t, []string{role, binding}, ids(res.Applied), "made again")
	})

	t.Run("CRDs of a component switched off are kept: deleting one deletes every object of its kind", func(t *testing.T) {
		writeFile(t, dir, "clusters/shop/snapshots.cue", "package fleet\n\ncluster: stack: volumeSnapshotController: enabled: false\n")
		crd := idFor(gvkCRD, "", "volumesnapshots.snapshot.storage.k8s.io")
		res := reconcile(t, reconciler.Options{Prune: true})
		assert.NotContains(t, prunedIDs(res.Pruned), crd)
		assert.Contains(t, orphan(res, crd), "deleting a CRD deletes every object of its kind")
		assert.NotNil(t, getLive(t, other, gvkCRD, "", "volumesnapshots.snapshot.storage.k8s.io"))
		removeFile(t, dir, "clusters/shop/snapshots.cue")
		res = reconcile(t, reconciler.Options{})
		assert.Empty(t, res.Orphans, "back in git: no longer orphaned")
	})

	t.Run("a prune over the maximum share refuses unless forced", func(t *testing.T) {
		writeFile(t, dir, "clusters/shop/prune.cue", "package fleet\n\ncluster: prune: {virtualMachines: true, maxShare: 0.05}\n")
		writeFile(t, dir, "clusters/shop/dashboard.cue", "package fleet\n\ncluster: stack: dashboard: enabled: false\n")
		svc := idFor(gvkService, "vm-dashboard", "vm-dashboard")

		res := reconcile(t, reconciler.Options{Prune: true})
		assert.Empty(t, res.Pruned)
		require.Len(t, res.Orphans, 6, "the dashboard's Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding, Deployment and Service")
		for _, o := range res.Orphans {
			assert.Contains(t, o.Kept, "over the limit of 5%", o.ID.String())
		}
		assert.Regexp(t, `^pruning 6 of \d+ inventory objects is over the limit of 5%$`, res.PruneRefused, "the refusal is reported, for the exit code")
		assert.NotNil(t, getLive(t, other, gvkService, "vm-dashboard", "vm-dashboard"))
		assert.Empty(t, reconcile(t, reconciler.Options{}).PruneRefused, "nothing refused when no prune was asked for")

		res = reconcile(t, reconciler.Options{Prune: true, ForcePrune: true})
		assert.Empty(t, res.PruneRefused)
		assert.Len(t, res.Pruned, 6)
		assert.Contains(t, prunedIDs(res.Pruned), svc)
		assert.Empty(t, res.Orphans)
		assert.Nil(t, getLive(t, other, gvkService, "vm-dashboard", "vm-dashboard"))
	})

	t.Run("a missing inventory prunes nothing and says so", func(t *testing.T) {
		inv := &corev1.ConfigMap{}
		require.NoError(t, other.Get(ctx, client.ObjectKey{Namespace: inventory.Namespace, Name: inventory.Name}, inv))
		require.NoError(t, other.Delete(ctx, inv))
		writeFile(t, dir, "clusters/shop/vms/pos.yaml", strings.Replace(pos1Only, "name: pos-1", "name: pos-3", 1))

		res := reconcile(t, reconciler.Options{Prune: true})
		assert.Empty(t, res.Pruned)
		assert.Empty(t, res.Orphans)
		assert.Contains(t, strings.Join(res.Notes, "\n"), "no inventory in the cluster yet: nothing pruned")
		assert.NotNil(t, getLive(t, other, gvkVM, "vms", "pos-1"), "VMs are opted in, but nothing is known to have left git")
		assert.NotNil(t, readInventory(t, other), "a new inventory is recorded")
	})

	t.Run("an unreadable inventory prunes nothing and says so", func(t *testing.T) {
		inv := &corev1.ConfigMap{}
		require.NoError(t, other.Get(ctx, client.ObjectKey{Namespace: inventory.Namespace, Name: inventory.Name}, inv))
		for k := range inv.BinaryData {
			inv.BinaryData[k] = []byte("not gzip")
		}
		require.NoError(t, other.Update(ctx, inv, client.FieldOwner("someone")))
		removeFile(t, dir, "clusters/shop/vms/pos.yaml")

		res := reconcile(t, reconciler.Options{Prune: true})
		assert.Empty(t, res.Pruned)
		assert.Contains(t, strings.Join(res.Notes, "\n"), "inventory unreadable")
		assert.NotNil(t, getLive(t, other, gvkVM, "vms", "pos-3"))
	})

	t.Run("an inventory the server fails to return stops the sync: nothing adopted, nothing forgotten", func(t *testing.T) {
		before := readInventory(t, other)
		require.NotNil(t, before)
		cfg := env.Cluster("shop").Config()
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps/"+inventory.Name) {
					body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: request timed out","code":500}`
					return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{"Content-Type": {"application/json"}},
						Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
				}
				return rt.RoundTrip(r)
			})
		})
		failing, err := reconciler.Connect(cfg)
		require.NoError(t, err)
		writeFile(t, dir, "clusters/shop/vms/extra.yaml", strings.Replace(pos1Only, "name: pos-1", "name: pos-4", 1))
		res, err := failing.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "test", Prune: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "etcdserver: request timed out")
		assert.Contains(t, err.Error(), inventory.Name)
		assert.False(t, res.Written)
		assert.Nil(t, getLive(t, other, gvkVM, "vms", "pos-4"), "nothing applied")
		assert.Equal(t, before, readInventory(t, other), "the inventory is as it was")
	})
}

// TestVanishedOrphanLeavesTheInventory: an orphan someone else deleted is forgotten by the next sync,
// even one with nothing else to do (it was looked for again at every sync).
func TestVanishedOrphanLeavesTheInventory(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	ctx := t.Context()
	reconcile := func() *reconciler.Result {
		t.Helper()
		res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "test", PendingTimeout: 10 * time.Second})
		require.NoError(t, err, "failed: %v", res.Failed)
		return res
	}
	reconcile()
	removeFile(t, dir, "clusters/shop/vms/web.yaml")
	vmWeb := idFor(gvkVM, "shop", "web")
	nsShop := idFor(gvkNamespace, "", "shop")
	assert.Equal(t, []string{nsShop, vmWeb}, orphanIDs(reconcile().Orphans), "kept: the VM and its namespace")
	inInventory := func() bool {
		for _, e := range readInventory(t, other).Entries {
			if e.ID.String() == vmWeb {
				return true
			}
		}
		return false
	}
	require.True(t, inInventory())

	web := getLive(t, other, gvkVM, "shop", "web")
	require.NoError(t, other.Delete(ctx, web))
	require.Eventually(t, func() bool { return getLive(t, other, gvkVM, "shop", "web") == nil }, 10*time.Second, 50*time.Millisecond)
	res := reconcile()
	assert.Equal(t, []string{nsShop}, orphanIDs(res.Orphans))
	assert.False(t, inInventory(), "the vanished orphan is forgotten")
}
