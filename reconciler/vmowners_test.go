package reconciler_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// dbVM is a VM on the pod network with an instance type whose power state belongs to its operators.
const dbVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: db
  namespace: shop
  annotations:
    vmo-cue.dev/power-state: operators
spec:
  runStrategy: Always
  instancetype:
    name: u1.small
    kind: VirtualMachineClusterInstancetype
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: default
              masquerade: {}
      networks:
        - name: default
          pod: {}
`

// patchAs sends a JSON patch as another field manager, as KubeVirt's components send theirs.
func patchAs(t *testing.T, c client.Client, manager, ns, name string, ops ...map[string]any) {
	t.Helper()
	data, err := json.Marshal(ops)
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvkVM)
	u.SetNamespace(ns)
	u.SetName(name)
	require.NoError(t, c.Patch(t.Context(), u, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(manager)))
}

func op(kind, path string, value any) map[string]any {
	return map[string]any{"op": kind, "path": path, "value": value}
}

// virtctl stops or starts a VM as virt-api's stop and start subresources do (pkg/virt-api/rest/
// lifecycle.go, getRunningPatch, KubeVirt v1.7.0): a JSON patch testing the run strategy and replacing
// it, as virt-api.
func virtctl(t *testing.T, c client.Client, ns, name, from, to string) {
	t.Helper()
	patchAs(t, c, "virt-api", ns, name, op("test", "/spec/runStrategy", from), op("replace", "/spec/runStrategy", to))
}

// vmChanges returns the VMs a plan would write, with their actions and reasons ("diff" prints these).
func vmChanges(t *testing.T, rc *reconciler.Cluster, d *reconciler.Desired) []string {
	t.Helper()
	p, err := rc.Observe(t.Context(), d)
	require.NoError(t, err)
	var out []string
	for _, it := range p.Changes() {
		out = append(out, it.ID.String()+" ("+string(it.Action)+": "+it.Reason+")")
	}
	return out
}

func ifaceMAC(u *unstructured.Unstructured, i int) string {
	ifaces, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "domain", "devices", "interfaces")
	if i >= len(ifaces) {
		return "<no interface>"
	}
	mac, _ := ifaces[i].(map[string]any)["macAddress"].(string)
	return mac
}

// TestKubeVirtWrites: what KubeVirt (and kubemacpool, and a person) write into VMs, each with its own
// field manager as they do, is never drift where git does not own it (`diff` finds nothing), and no
// apply removes it — not even one carrying an unrelated change to the same VM from git.
func TestKubeVirtWrites(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	writeFile(t, dir, "clusters/shop/vms/db.yaml", dbVM)
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "%v", res.Failed)
	derived := ifaceMAC(getLive(t, other, gvkVM, "vms", "pos-1"), 0)
	require.NotEmpty(t, derived, "pos-1's layer-2 interface got its derived MAC")

	type check struct {
		ns, name string
		path     []string
		want     string
	}
	cases := []struct {
		name  string
		write func(t *testing.T)
		keeps []check
	}{
		{"virt-controller writes the status", func(t *testing.T) {
			u := getLive(t, other, gvkVM, "shop", "web")
			require.NoError(t, unstructured.SetNestedField(u.Object, "Running", "status", "printableStatus"))
			require.NoError(t, unstructured.SetNestedField(u.Object, true, "status", "ready"))
			require.NoError(t, other.Status().Update(ctx, u, client.FieldOwner("virt-controller")))
		}, []check{{"shop", "web", []string{"status", "printableStatus"}, "Running"}}},
		{"virt-controller and kubemacpool annotate", func(t *testing.T) {
			patchAs(t, other, "virt-controller", "shop", "web",
				op("add", "/metadata/annotations", map[string]any{
					"kubevirt.io/latest-observed-api-version":  "v1",
					"kubevirt.io/storage-observed-api-version": "v1",
				}))
			patchAs(t, other, "kubemacpool", "shop", "web",
				op("add", "/metadata/annotations/kubemacpool.io~1transaction-timestamp", "2026-12-06T01:02:03.456789Z"))
		}, []check{
			{"shop", "web", []string{"metadata", "annotations", "kubevirt.io/storage-observed-api-version"}, "v1"},
			{"shop", "web", []string{"metadata", "annotations", "kubemacpool.io/transaction-timestamp"}, "2026-12-06T01:02:03.456789Z"},
		}},
		{"virt-controller adds its finalizer", func(t *testing.T) {
			patchAs(t, other, "virt-controller", "shop", "web",
				op("add", "/metadata/finalizers", []string{"kubevirt.io/virtualMachineControllerFinalize"}))
		}, []check{{"shop", "web", []string{"metadata", "finalizers"}, `["kubevirt.io/virtualMachineControllerFinalize"]`}}},
		{"virt-controller persists the firmware uuid, virt-api seeds the serial", func(t *testing.T) {
			// As FirmwareController.vmFirmwarePatch: the whole firmware object added with the uuid.
			patchAs(t, other, "virt-controller", "vms", "pos-2",
				op("add", "/spec/template/spec/domain/firmware", map[string]any{"uuid": "5a6b7c8d-aaaa-4bbb-8ccc-000000000002"}))
			patchAs(t, other, "virt-api", "vms", "pos-2",
				op("add", "/spec/template/spec/domain/firmware/serial", "1f2e3d4c-aaaa-4bbb-8ccc-000000000001"))
		}, []check{
			{"vms", "pos-2", []string{"spec", "template", "spec", "domain", "firmware", "uuid"}, "5a6b7c8d-aaaa-4bbb-8ccc-000000000002"},
			{"vms", "pos-2", []string{"spec", "template", "spec", "domain", "firmware", "serial"}, "1f2e3d4c-aaaa-4bbb-8ccc-000000000001"},
		}},
		{"virt-controller fills the instancetype revisionName", func(t *testing.T) {
			patchAs(t, other, "virt-controller", "shop", "db",
				op("add", "/spec/instancetype/revisionName", "db-u1.small-3a4b5c-1"))
		}, []check{{"shop", "db", []string{"spec", "instancetype", "revisionName"}, "db-u1.small-3a4b5c-1"}}},
		{"KubeVirt writes a MAC into a pod-network interface by update", func(t *testing.T) {
			editAs(t, other, "virt-controller", gvkVM, "shop", "web", func(u *unstructured.Unstructured) {
				path := []string{"spec", "template", "spec", "domain", "devices", "interfaces"}
				ifaces, _, _ := unstructured.NestedSlice(u.Object, path...)
				ifaces[0].(map[string]any)["macAddress"] = "02:5e:00:00:00:0a"
				require.NoError(t, unstructured.SetNestedSlice(u.Object, ifaces, path...))
			})
		}, []check{{"shop", "web", []string{"spec", "template", "spec", "domain", "devices", "interfaces"},
			`[{"macAddress":"02:5e:00:00:00:0a","masquerade":{},"name":"default"}]`}}},
		{"someone applies a MAC into a pod-network interface (server-side, forced)", func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
				"metadata": map[string]any{"name": "db", "namespace": "shop"},
				"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"domain": map[string]any{"devices": map[string]any{
					"interfaces": []any{map[string]any{"name": "default", "masquerade": map[string]any{}, "macAddress": "02:5e:00:00:00:0b"}},
				}}}}},
			}}
			require.NoError(t, other.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kubectl"), client.ForceOwnership))
		}, []check{{"shop", "db", []string{"spec", "template", "spec", "domain", "devices", "interfaces"},
			`[{"macAddress":"02:5e:00:00:00:0b","masquerade":{},"name":"default"}]`}}},
		{"virtctl stop of a VM whose power state its operators own", func(t *testing.T) {
			virtctl(t, other, "shop", "db", "Always", "Halted")
		}, []check{{"shop", "db", []string{"spec", "runStrategy"}, "Halted"}}},
	}
	var all []check
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.write(t)
			for _, c := range tc.keeps {
				require.Equal(t, c.want, nested(getLive(t, other, gvkVM, c.ns, c.name), c.path...), "the write took")
			}
			assert.Empty(t, vmChanges(t, rc, desiredOf(t, loadCluster(t, dir, "shop"))), "diff finds nothing")
			rep, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1"})
			require.NoError(t, err)
			assert.True(t, rep.InSync(), "corrected %v, applied %v", ids(rep.Corrected), ids(rep.Applied))
			for _, c := range tc.keeps {
				assert.Equal(t, c.want, nested(getLive(t, other, gvkVM, c.ns, c.name), c.path...))
			}
		})
		all = append(all, tc.keeps...)
	}

	t.Run("an unrelated change in git to every VM removes none of it", func(t *testing.T) {
		replaceIn(t, dir, "clusters/shop/vms/web.yaml", "guest: 512Mi", "guest: 768Mi")
		replaceIn(t, dir, "clusters/shop/vms/pos.yaml", "cores: 1", "cores: 2") // pos-1
		replaceIn(t, dir, "clusters/shop/vms/pos.yaml", "cores: 1", "cores: 2") // pos-2
		replaceIn(t, dir, "clusters/shop/vms/db.yaml", "        devices:", "        cpu: {cores: 2}\n        devices:")
		res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r2"})
		require.NoError(t, err, "%v", res.Failed)
		assert.ElementsMatch(t, []string{idFor(gvkVM, "shop", "db"), idFor(gvkVM, "shop", "web"), idFor(gvkVM, "vms", "pos-1"), idFor(gvkVM, "vms", "pos-2")}, ids(res.Applied))
		for _, c := range all {
			assert.Equal(t, c.want, nested(getLive(t, other, gvkVM, c.ns, c.name), c.path...), "%s/%s %v", c.ns, c.name, c.path)
		}
		assert.Equal(t, "768Mi", nested(getLive(t, other, gvkVM, "shop", "web"), "spec", "template", "spec", "domain", "memory", "guest"), "git's change was applied")
		assert.Equal(t, derived, ifaceMAC(getLive(t, other, gvkVM, "vms", "pos-1"), 0))
		assert.Empty(t, vmChanges(t, rc, desiredOf(t, loadCluster(t, dir, "shop"))))
	})

	t.Run("virtctl start of the operators' VM, then git changes its run strategy: never changed by vmo-cue", func(t *testing.T) {
		virtctl(t, other, "shop", "db", "Halted", "Always")
		virtctl(t, other, "shop", "db", "Always", "Halted")
		assert.Empty(t, vmChanges(t, rc, desiredOf(t, loadCluster(t, dir, "shop"))))
		replaceIn(t, dir, "clusters/shop/vms/db.yaml", "runStrategy: Always", "runStrategy: RerunOnFailure")
		assert.Empty(t, vmChanges(t, rc, desiredOf(t, loadCluster(t, dir, "shop"))), "git's run strategy is for creation only")
		res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r3"})
		require.NoError(t, err)
		assert.True(t, res.InSync())
		assert.Equal(t, "Halted", nested(getLive(t, other, gvkVM, "shop", "db"), "spec", "runStrategy"))
	})
}

// TestPowerOwnedByGit: with the power state git's (the default), virtctl stop is drift naming virt-api,
// corrected in correct mode; after stop then start the run strategy is git's value again under
// virt-api's name, which is not drift (diff used to report "ownership changed" until a re-apply).
func TestPowerOwnedByGit(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	vc := loadCluster(t, shopFleet, "shop")
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "%v", res.Failed)

	virtctl(t, other, "shop", "web", "Always", "Halted")
	assert.Equal(t, []string{idFor(gvkVM, "shop", "web") + ` (correct: fields set by vmo-cue hold other values: spec.runStrategy: "Halted", git: "Always" (by virt-api))`},
		vmChanges(t, rc, desiredOf(t, vc)))

	virtctl(t, other, "shop", "web", "Halted", "Always")
	assert.Empty(t, vmChanges(t, rc, desiredOf(t, vc)), "started again: git's value, whoever wrote it")

	virtctl(t, other, "shop", "web", "Always", "Halted")
	rep, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", Drift: reconciler.DriftReport})
	require.NoError(t, err)
	require.Equal(t, []string{idFor(gvkVM, "shop", "web")}, ids(rep.Drifted))
	assert.Contains(t, rep.Drifted[0].Reason, "(by virt-api)")
	cor, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1"})
	require.NoError(t, err)
	assert.Equal(t, []string{idFor(gvkVM, "shop", "web")}, ids(cor.Corrected))
	assert.Equal(t, "Always", nested(getLive(t, other, gvkVM, "shop", "web"), "spec", "runStrategy"))
	assert.Empty(t, vmChanges(t, rc, desiredOf(t, vc)))
}

// TestAdoptedVMsKeepTheirMACs: VMs that existed before vmo-cue's first apply keep their MACs — on the
// pod network and on a layer-2 interface where vmo-cue would derive another — through the adoption
// and every apply after it, until git writes one.
func TestAdoptedVMsKeepTheirMACs(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	ctx := t.Context()

	// Made by hand (kubectl create) before vmo-cue: git's VMs with MACs of their own.
	for _, vm := range []struct{ ns, name, mac string }{{"vms", "pos-1", "02:aa:00:00:00:01"}, {"shop", "web", "02:aa:00:00:00:02"}} {
		vc := loadCluster(t, dir, "shop")
		d := desiredOf(t, vc)
		for _, u := range d.Objects {
			if u.GetKind() != "VirtualMachine" || u.GetName() != vm.name {
				continue
			}
			u = u.DeepCopy()
			u.SetLabels(nil)
			path := []string{"spec", "template", "spec", "domain", "devices", "interfaces"}
			ifaces, _, _ := unstructured.NestedSlice(u.Object, path...)
			ifaces[0].(map[string]any)["macAddress"] = vm.mac
			require.NoError(t, unstructured.SetNestedSlice(u.Object, ifaces, path...))
			ensureNamespace(t, other, vm.ns)
			require.NoError(t, other.Create(ctx, u, client.FieldOwner("kubectl-create")))
		}
	}
	d := desiredOf(t, loadCluster(t, dir, "shop"))
	require.NotEqual(t, "02:aa:00:00:00:01", d.VMs["vms/pos-1"].DerivedMACs["pos"], "vmo-cue derives another MAC for pos-1")

	res, err := rc.Reconcile(ctx, d, reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "%v", res.Failed)
	assert.Contains(t, ids(res.Applied), idFor(gvkVM, "vms", "pos-1"))
	for i := 0; i < 2; i++ {
		assert.Equal(t, "02:aa:00:00:00:01", ifaceMAC(getLive(t, other, gvkVM, "vms", "pos-1"), 0), "round %d", i)
		assert.Equal(t, "02:aa:00:00:00:02", ifaceMAC(getLive(t, other, gvkVM, "shop", "web"), 0), "round %d", i)
		assert.Empty(t, vmChanges(t, rc, desiredOf(t, loadCluster(t, dir, "shop"))))
		// An unrelated change in git to pos-1: applied, its adopted MAC kept.
		replaceIn(t, dir, "clusters/shop/vms/pos.yaml", "cores: 1", "cores: 2")
		res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r2"})
		require.NoError(t, err)
		if i == 0 {
			assert.Equal(t, []string{idFor(gvkVM, "vms", "pos-1")}, ids(res.Applied))
		}
	}
	inv := readInventory(t, other)
	for _, e := range inv.Entries {
		if e.Kind == "VirtualMachine" && e.Name == "pos-1" {
			assert.Equal(t, map[string]string{"pos": "02:aa:00:00:00:01"}, e.MACs, "the adopted MAC is recorded")
		}
	}
	// A change by hand of the adopted MAC is drift (it stands for git's derived MAC) and is corrected.
	editAs(t, other, "kubectl-edit", gvkVM, "vms", "pos-1", func(u *unstructured.Unstructured) {
		path := []string{"spec", "template", "spec", "domain", "devices", "interfaces"}
		ifaces, _, _ := unstructured.NestedSlice(u.Object, path...)
		ifaces[0].(map[string]any)["macAddress"] = "02:de:ad:be:ef:01"
		require.NoError(t, unstructured.SetNestedSlice(u.Object, ifaces, path...))
	})
	cor, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r2"})
	require.NoError(t, err)
	assert.Equal(t, []string{idFor(gvkVM, "vms", "pos-1")}, ids(cor.Corrected))
	assert.Equal(t, "02:aa:00:00:00:01", ifaceMAC(getLive(t, other, gvkVM, "vms", "pos-1"), 0))
}

// replaceIn replaces the first old by new in a file of a fleet copy (a change "in git").
func replaceIn(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, rel))
	require.NoError(t, err)
	require.Contains(t, string(data), old, rel)
	writeFile(t, dir, rel, strings.Replace(string(data), old, new, 1))
}

// ensureNamespace creates a namespace as someone else, if it does not exist.
func ensureNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetGroupVersionKind(gvkNamespace)
	ns.SetName(name)
	if err := c.Create(t.Context(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}
