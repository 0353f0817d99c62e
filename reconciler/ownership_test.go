package reconciler_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// TestPruneOnlyWhatIsProvablyOurs: an inventory forged by anyone who may write ConfigMaps in
// vmo-cue-system lists cluster-admin, a foreign Secret in kube-system, a hand-made Namespace with
// content and a ConfigMap in default, each with the UID of the live object; and an object vmo-cue
// applied was deleted and made again by someone, with vmo-cue's labels and field manager. apply
// --prune deletes none of them and says why; the objects that really left git are deleted.
func TestPruneOnlyWhatIsProvablyOurs(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "failed: %v", res.Failed)

	// Someone's objects, made by hand.
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "precious-secret"}, StringData: map[string]string{"k": "v"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "precious"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "precious", Name: "content"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "precious-cm"}},
	} {
		require.NoError(t, other.Create(ctx, obj, client.FieldOwner("kubectl-create")))
	}

	// The dashboard leaves git: its six objects are orphans. Before the sync, its ClusterRole is
	// deleted and made again by someone, with vmo-cue's marks and field manager: only its UID
	// tells it is not the object vmo-cue applied.
	writeFile(t, dir, "clusters/shop/dashboard.cue", "package fleet\n\ncluster: stack: dashboard: enabled: false\n")
	role := getLive(t, other, gvkClusterRole, "", "vm-dashboard")
	require.NotNil(t, role)
	appliedUID := role.GetUID()
	require.NoError(t, other.Delete(ctx, role))
	remade := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
		"metadata": map[string]any{"name": "vm-dashboard", "labels": toAny(role.GetLabels())},
		"rules":    []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}}},
	}}
	require.NoError(t, other.Apply(ctx, client.ApplyConfigurationFromUnstructured(remade), client.FieldOwner(reconciler.FieldManager), client.ForceOwnership))
	require.NotEqual(t, appliedUID, remade.GetUID())

	// The forged inventory: every entry carries the live object's UID.
	inv := readInventory(t, other)
	require.NotNil(t, inv)
	for _, o := range []struct {
		gvk      schema.GroupVersionKind
		ns, name string
	}{
		{gvkClusterRole, "", "cluster-admin"}, {gvkClusterRoleBinding, "", "cluster-admin"},
		{gvkSecret, "kube-system", "precious-secret"}, {gvkNamespace, "", "precious"}, {gvkConfigMap, "default", "precious-cm"},
	} {
		live := getLive(t, other, o.gvk, o.ns, o.name)
		require.NotNil(t, live, "%s %s", o.gvk.Kind, o.name)
		inv.Entries = append(inv.Entries, inventory.Entry{
			ID:  inventory.ID{Group: o.gvk.Group, Version: o.gvk.Version, Kind: o.gvk.Kind, Namespace: o.ns, Name: o.name},
			UID: string(live.GetUID()), DesiredHash: "forged", FieldsHash: "forged",
		})
	}
	require.NoError(t, inventory.Write(ctx, other, inv, "attacker"))

	res, err = rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r2", Prune: true})
	require.NoError(t, err, "failed: %v", res.Failed)

	kept := map[string]string{}
	for _, o := range res.Orphans {
		kept[o.ID.String()] = o.Kept
	}
	notOurs := "in inventory but not ours: kept (no label vmo-cue.dev/fleet; no label vmo-cue.dev/cluster; no managedFields entry of field manager vmo-cue)"
	assert.Equal(t, map[string]string{
		idFor(gvkClusterRole, "", "cluster-admin"):         "system object, never pruned: kept (Kubernetes' default ClusterRole cluster-admin)",
		idFor(gvkClusterRoleBinding, "", "cluster-admin"):  "system object, never pruned: kept (Kubernetes' default ClusterRoleBinding cluster-admin)",
		idFor(gvkSecret, "kube-system", "precious-secret"): "system object, never pruned: kept (in system namespace kube-system)",
		idFor(gvkNamespace, "", "precious"):                notOurs,
		idFor(gvkConfigMap, "default", "precious-cm"):      notOurs,
		idFor(gvkClusterRole, "", "vm-dashboard"):          "in inventory but not ours: kept (UID " + string(remade.GetUID()) + " is not the one vmo-cue applied (" + string(appliedUID) + "): deleted and made again by someone)",
	}, kept)
	assert.Equal(t, []string{
		idFor(gvkClusterRoleBinding, "", "vm-dashboard"),
		idFor(gvkDeployment, "vm-dashboard", "vm-dashboard"),
		idFor(gvkNamespace, "", "vm-dashboard"),
		idFor(gvkService, "vm-dashboard", "vm-dashboard"),
		"ServiceAccount vm-dashboard/vm-dashboard",
	}, prunedIDs(res.Pruned), "what vmo-cue applied and left git is pruned")

	for _, o := range []struct {
		gvk      schema.GroupVersionKind
		ns, name string
	}{
		{gvkClusterRole, "", "cluster-admin"}, {gvkClusterRoleBinding, "", "cluster-admin"},
		{gvkSecret, "kube-system", "precious-secret"}, {gvkNamespace, "", "precious"},
		{gvkConfigMap, "precious", "content"}, {gvkConfigMap, "default", "precious-cm"},
		{gvkClusterRole, "", "vm-dashboard"},
	} {
		live := getLive(t, other, o.gvk, o.ns, o.name)
		if assert.NotNil(t, live, "%s %s/%s deleted", o.gvk.Kind, o.ns, o.name) {
			assert.Nil(t, live.GetDeletionTimestamp(), "%s %s/%s deleted", o.gvk.Kind, o.ns, o.name)
		}
	}
	assert.Nil(t, getLive(t, other, gvkService, "vm-dashboard", "vm-dashboard"))

	// What is not ours stays listed, and reported at every sync; what was pruned is forgotten.
	index := readInventory(t, other).Index()
	_, listed := index["rbac.authorization.k8s.io/ClusterRole//cluster-admin"]
	assert.True(t, listed, "cluster-admin stays listed")
	_, listed = index["/Service/vm-dashboard/vm-dashboard"]
	assert.False(t, listed, "the pruned Service is forgotten")
}

// TestAnotherClustersAPIServer: an apply of cluster dc-east through a context that reaches shop's API
// server is refused with both names and writes nothing; with Adopt it proceeds, the identity
// changes, and what shop applied is never pruned (it carries shop's marks).
func TestAnotherClustersAPIServer(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	writeFile(t, dir, "fleet-name.cue", "package fleet\n\nfleet: name: \"shops\"\n")
	writeFile(t, dir, "clusters/dc-east/cluster.cue", `package fleet

cluster: {
	name: "dc-east"
	kind: "datacenter"
	stack: multus: networks: "dc-net": {vlan: 30, bridge: "br-vlan", namespace: "vms"}
}
`)
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "failed: %v", res.Failed)
	identity := func() *inventory.Identity {
		id, err := inventory.ReadIdentity(ctx, other)
		require.NoError(t, err)
		require.NotNil(t, id)
		return id
	}
	assert.Equal(t, "fleet shops cluster shop", identity().String())
	kv := getLive(t, other, gvkKubeVirt, "kubevirt", "kubevirt")
	require.NotNil(t, kv)
	assert.Equal(t, map[string]string{inventory.LabelFleet: "shops", inventory.LabelCluster: "shop"},
		map[string]string{inventory.LabelFleet: kv.GetLabels()[inventory.LabelFleet], inventory.LabelCluster: kv.GetLabels()[inventory.LabelCluster]})
	beforeInv, beforeID := readInventory(t, other), identity()

	dcEast := loadCluster(t, dir, "dc-east")
	for _, dryRun := range []bool{false, true} {
		res, err = rc.Reconcile(ctx, desiredOf(t, dcEast), reconciler.Options{Revision: "r2", Prune: true, DryRun: dryRun})
		require.Error(t, err)
		assert.True(t, errors.Is(err, reconciler.ErrIdentityMismatch))
		assert.Equal(t, "cluster dc-east: cluster identity mismatch: this API server belongs to fleet shops cluster shop; refusing to apply cluster dc-east (use --adopt to take it over)", err.Error())
		assert.False(t, res.Written)
		assert.Empty(t, res.Applied)
		assert.Empty(t, res.Pruned)
	}
	assert.Nil(t, getLive(t, other, gvkNAD, "vms", "dc-net"), "nothing written")
	assert.Equal(t, "shop", getLive(t, other, gvkKubeVirt, "kubevirt", "kubevirt").GetLabels()[inventory.LabelCluster])
	assert.Equal(t, beforeInv, readInventory(t, other))
	assert.Equal(t, beforeID, identity())

	res, err = rc.Reconcile(ctx, desiredOf(t, dcEast), reconciler.Options{Revision: "r2", Prune: true, Adopt: true, PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "failed: %v", res.Failed)
	assert.Contains(t, res.Notes, "adopted: cluster identity mismatch: this API server belongs to fleet shops cluster shop; refusing to apply cluster dc-east (use --adopt to take it over)")
	assert.Equal(t, "fleet shops cluster dc-east", identity().String())
	inv := readInventory(t, other)
	assert.Equal(t, "shops", inv.Fleet)
	assert.Equal(t, "dc-east", inv.Cluster)
	assert.NotNil(t, getLive(t, other, gvkNAD, "vms", "dc-net"))
	assert.Equal(t, "dc-east", getLive(t, other, gvkKubeVirt, "kubevirt", "kubevirt").GetLabels()[inventory.LabelCluster])
	// shop's own objects left "git" for dc-east: they carry shop's marks, so they are kept.
	assert.Empty(t, res.Pruned)
	shops := `in inventory but not ours: kept (label vmo-cue.dev/cluster is "shop", not "dc-east")`
	for _, id := range []string{idFor(gvkNAD, "vms", "store-pos"), idFor(gvkVM, "vms", "pos-1"), idFor(gvkNamespace, "", "shop")} {
		assert.Contains(t, orphanKept(res.Orphans), id+": "+shops)
	}
	assert.NotNil(t, getLive(t, other, gvkNAD, "vms", "store-pos"))

	// Now shop's apply is the one refused.
	_, err = rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r3"})
	require.Error(t, err)
	assert.Equal(t, "cluster shop: cluster identity mismatch: this API server belongs to fleet shops cluster dc-east; refusing to apply cluster shop (use --adopt to take it over)", err.Error())
}

// TestInventoryOfAnOlderVmoCue: a cluster applied by a vmo-cue that recorded no identity, no fleet
// and no UIDs. Its inventory's cluster still refuses another cluster; its own apply records the
// identity and the UIDs, and an orphan whose UID was never recorded is kept, saying so.
func TestInventoryOfAnOlderVmoCue(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "failed: %v", res.Failed)

	// Back to what an older vmo-cue left: no identity record, no fleet, no UIDs.
	require.NoError(t, other.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: inventory.Namespace, Name: inventory.IdentityName}}))
	inv := readInventory(t, other)
	inv.Fleet = ""
	for i := range inv.Entries {
		// Its objects had no fleet mark: what it applied differs from what is applied now.
		inv.Entries[i].UID, inv.Entries[i].DesiredHash = "", "without the fleet mark"
	}
	require.NoError(t, inventory.Write(ctx, other, inv, reconciler.FieldManager))

	writeFile(t, dir, "clusters/dc-east/cluster.cue", "package fleet\n\ncluster: {name: \"dc-east\", kind: \"datacenter\"}\n")
	_, err = rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "dc-east")), reconciler.Options{Revision: "r2", Prune: true})
	require.Error(t, err)
	assert.Equal(t, "cluster dc-east: cluster identity mismatch: the inventory vmo-cue-system/vmo-cue-inventory belongs to cluster shop; refusing to apply fleet default cluster dc-east (use --adopt to take it over)", err.Error())

	writeFile(t, dir, "clusters/shop/dashboard.cue", "package fleet\n\ncluster: stack: dashboard: enabled: false\n")
	res, err = rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r3", Prune: true})
	require.NoError(t, err, "failed: %v", res.Failed)
	assert.Empty(t, res.Pruned)
	svc := idFor(gvkService, "vm-dashboard", "vm-dashboard")
	assert.Contains(t, orphanKept(res.Orphans), svc+": in inventory but not ours: kept (no UID recorded in the inventory (an entry of an older vmo-cue, or never applied))")
	assert.NotNil(t, getLive(t, other, gvkService, "vm-dashboard", "vm-dashboard"))

	id, err := inventory.ReadIdentity(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, "fleet default cluster shop", id.String(), "the identity is recorded")
	after := readInventory(t, other)
	assert.Equal(t, "default", after.Fleet)
	for _, e := range after.Entries {
		if e.Namespace == "vm-dashboard" || e.Name == "vm-dashboard" {
			assert.Empty(t, e.UID, "%s: an orphan is not applied, so its UID stays unknown", e.ID)
			continue
		}
		assert.NotEmpty(t, e.UID, "%s: applied again (its marks changed), its UID recorded", e.ID)
	}
}

func orphanKept(orphans []reconciler.Orphan) []string {
	out := []string{}
	for _, o := range orphans {
		out = append(out, o.ID.String()+": "+o.Kept)
	}
	return out
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
