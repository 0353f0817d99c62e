package reconciler_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
	"github.com/vmo-cue/vmo-cue/reconciler/livediff"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// shopNamespaces are the namespaces the shop cluster's desired state creates.
var shopNamespaces = []string{"shop", "vms", "kubevirt", "cdi", "vm-dashboard", inventory.Namespace}

// assertNothingWritten checks that a cluster holds nothing vmo-cue would have written.
func assertNothingWritten(t *testing.T, c client.Client) {
	t.Helper()
	for _, ns := range shopNamespaces {
		assert.Nil(t, getLive(t, c, gvkNamespace, "", ns), "namespace %s was created", ns)
	}
	assert.Nil(t, readInventory(t, c), "an inventory was written")
	assert.Nil(t, getLive(t, c, gvkClusterRole, "", "kubevirt-operator"), "a cluster-wide object was created")
	crd := getLive(t, c, gvkCRD, "", "kubevirts.kubevirt.io")
	require.NotNil(t, crd)
	for _, m := range crd.GetManagedFields() {
		assert.NotEqual(t, reconciler.FieldManager, m.Manager, "the CRD the cluster already had was taken over")
	}
}

// TestInvalidDesiredStateWritesNothing: all or nothing before any change.
func TestInvalidDesiredStateWritesNothing(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	ctx := t.Context()

	t.Run("a cluster that does not validate", func(t *testing.T) {
		dir := copyFleet(t, shopFleet)
		writeFile(t, dir, "clusters/shop/vms/bad.yaml", `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: bad
spec:
  runStrategy: Sometimes
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - {name: pos, bridge: {}, macAddress: "01:00:00:00:00:01"}
      networks:
        - {name: pos, multus: {networkName: vms/store-pos}}
`)
		vc := loadAny(t, dir, "shop")
		require.False(t, vc.Valid())
		// Nothing renders from an invalid cluster, so the reconciler has nothing to apply.
		d, err := desired.Render(vc)
		require.Error(t, err)
		assert.ErrorIs(t, err, desired.ErrInvalid)
		assert.Nil(t, d)
		assertNothingWritten(t, other)
	})

	t.Run("objects the server refuses in the dry-run, on a fresh cluster", func(t *testing.T) {
		vc := loadCluster(t, shopFleet, "shop")
		// Injected after validation: what only the API server can refuse (a field of the wrong type, a
		// label value it does not take), in namespaces that this very apply would create.
		for _, vm := range vc.VMs {
			switch vm.Name {
			case "pos-1":
				require.NoError(t, unstructured.SetNestedField(vm.Object, "two", "spec", "template", "spec", "domain", "cpu", "cores"))
			case "web":
				require.NoError(t, unstructured.SetNestedField(vm.Object, "not a valid label value!", "metadata", "labels", "app"))
			}
		}
		res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "bad", PendingTimeout: 5 * time.Second})
		require.Error(t, err)
		assert.Equal(t, []string{idFor(gvkVM, "shop", "web"), idFor(gvkVM, "vms", "pos-1")}, failedIDs(res.Failed), "every failing object, at once")
		require.Len(t, res.Failed, 2)
		errs := map[string]string{}
		for _, f := range res.Failed {
			errs[f.Item.ID.Name] = f.Err.Error()
		}
		assert.Contains(t, errs["pos-1"], "spec.template.spec.domain.cpu.cores", "the server's own words")
		assert.Contains(t, errs["web"], "metadata.labels", "the server's own words")
		assert.False(t, res.Written)
		assert.Empty(t, res.Applied)
		assertNothingWritten(t, other)
	})

	t.Run("a field the cluster's API does not know is refused, not dropped", func(t *testing.T) {
		// An older KubeVirt: its VirtualMachine CRD lacks a field the schemas vmo-cue checked
		// against have. A plain apply would prune the field without a word.
		setVMSchemaField(t, other, "runStrategy", false)
		defer setVMSchemaField(t, other, "runStrategy", true) // before t.Context ends

		vc := loadCluster(t, shopFleet, "shop")
		res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "skew", PendingTimeout: 5 * time.Second})
		require.Error(t, err)
		assert.Equal(t, []string{idFor(gvkVM, "shop", "web"), idFor(gvkVM, "vms", "pos-1"), idFor(gvkVM, "vms", "pos-2")}, failedIDs(res.Failed))
		for _, f := range res.Failed {
			assert.Contains(t, f.Err.Error(), `unknown field "spec.runStrategy"`)
		}
		assert.False(t, res.Written)
		assertNothingWritten(t, other)
	})

	t.Run("a refused object in a later sync leaves the cluster as it was", func(t *testing.T) {
		vc := loadCluster(t, shopFleet, "shop")
		res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "good", PendingTimeout: 5 * time.Second})
		require.NoError(t, err, "%v", res.Failed)
		editAs(t, other, "kubectl-edit", gvkConfigMap, "kube-system", "multus-daemon-config", func(u *unstructured.Unstructured) {
			require.NoError(t, unstructured.SetNestedField(u.Object, "{}", "data", "daemon-config.json"))
		})
		before := readInventory(t, other)

		vc = loadCluster(t, shopFleet, "shop")
		for _, vm := range vc.VMs {
			if vm.Name == "pos-2" {
				require.NoError(t, unstructured.SetNestedField(vm.Object, int64(7), "spec", "runStrategy"))
			}
		}
		res, err = rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "bad"})
		require.Error(t, err)
		assert.Equal(t, []string{idFor(gvkVM, "vms", "pos-2")}, failedIDs(res.Failed))
		assert.False(t, res.Written)
		assert.Empty(t, res.Corrected)
		assert.Equal(t, "{}", nested(getLive(t, other, gvkConfigMap, "kube-system", "multus-daemon-config"), "data", "daemon-config.json"),
			"the drift that the sync would have corrected is still there: nothing was written")
		assert.Equal(t, "Always", nested(getLive(t, other, gvkVM, "vms", "pos-2"), "spec", "runStrategy"))
		assert.Equal(t, before, readInventory(t, other), "the inventory is unchanged")
	})
}

// installCRDs creates CRDs as someone else and waits until they are Established.
func installCRDs(t *testing.T, cfg *rest.Config, list []*apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, apiextensionsv1.AddToScheme(s))
	c, err := client.New(cfg, client.Options{Scheme: s})
	require.NoError(t, err)
	for _, crd := range list {
		require.NoError(t, c.Create(t.Context(), crd.DeepCopy(), client.FieldOwner("crd-installer")))
	}
	require.Eventually(t, func() bool {
		for _, crd := range list {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if c.Get(t.Context(), client.ObjectKey{Name: crd.Name}, got) != nil {
				return false
			}
			ok := false
			for _, cond := range got.Status.Conditions {
				ok = ok || cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue
			}
			if !ok {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond)
}

// TestVMBeforeItsCRD: VMs whose kind virt-operator has not created yet wait, are reported pending
// when it does not appear in time, and are applied once it does.
func TestVMBeforeItsCRD(t *testing.T) {
	env := testcluster.Start(t, "bare")
	cfg := env.Cluster("bare").Config()
	rc, other := connect(t, cfg)
	ctx := t.Context()
	all, err := crds.All()
	require.NoError(t, err)
	var vmCRD *apiextensionsv1.CustomResourceDefinition
	var others []*apiextensionsv1.CustomResourceDefinition
	for _, c := range all {
		if c.Spec.Names.Kind == "VirtualMachine" {
			vmCRD = c
		} else {
			others = append(others, c)
		}
	}
	require.NotNil(t, vmCRD)
	installCRDs(t, cfg, others)
	vc := loadCluster(t, shopFleet, "shop")
	vms := []string{idFor(gvkVM, "shop", "web"), idFor(gvkVM, "vms", "pos-1"), idFor(gvkVM, "vms", "pos-2")}

	t.Run("no CRD in time: the VMs are pending, the rest is applied", func(t *testing.T) {
		res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", PendingTimeout: 2 * time.Second})
		require.NoError(t, err, "%v", res.Failed)
		assert.Equal(t, vms, ids(res.Pending))
		assert.Empty(t, res.Failed)
		for _, id := range ids(res.Applied) {
			assert.NotContains(t, vms, id, "a pending VM is not reported applied")
		}
		assert.Len(t, res.Applied, 50, "every other object")
		assert.NotNil(t, getLive(t, other, gvkKubeVirt, "kubevirt", "kubevirt"))
		assert.NotNil(t, getLive(t, other, gvkNAD, "vms", "store-pos"))
		assert.NotNil(t, getLive(t, other, gvkDeployment, "kubevirt", "virt-operator"))
		assert.False(t, res.InSync())
	})

	t.Run("the CRD appears while the sync waits: the VMs are applied", func(t *testing.T) {
		type outcome struct {
			res *reconciler.Result
			err error
		}
		done := make(chan outcome, 1)
		start := time.Now()
		go func() {
			res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", PendingTimeout: 60 * time.Second})
			done <- outcome{res, err}
		}()
		time.Sleep(3 * time.Second)
		installCRDs(t, cfg, []*apiextensionsv1.CustomResourceDefinition{vmCRD})
		var o outcome
		select {
		case o = <-done:
		case <-time.After(90 * time.Second):
			t.Fatal("the sync did not end")
		}
		require.NoError(t, o.err, "%v", o.res.Failed)
		t.Logf("applied %d VMs %s after the sync started", len(o.res.Applied), time.Since(start).Round(time.Millisecond))
		assert.Empty(t, o.res.Pending)
		assert.Empty(t, o.res.Failed)
		assert.Equal(t, vms, ids(o.res.Applied))
		for _, vm := range []struct{ ns, name string }{{"shop", "web"}, {"vms", "pos-1"}, {"vms", "pos-2"}} {
			assert.NotNil(t, getLive(t, other, gvkVM, vm.ns, vm.name), vm.name)
		}
		again, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1"})
		require.NoError(t, err)
		assert.True(t, again.InSync(), "%+v", again)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// killedDuringStage1 runs a reconcile whose context is cancelled right after its first real write of
// a Deployment (the stack's stage): the process killed half-way.
func killedDuringStage1(t *testing.T, cfg *rest.Config, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var once sync.Once
	killed := false
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if r.Method == http.MethodPatch && !strings.Contains(r.URL.RawQuery, "dryRun") && strings.Contains(r.URL.Path, "/deployments/") {
				once.Do(func() { killed = true; cancel() })
			}
			return resp, err
		})
	})
	rc, err := reconciler.Connect(cfg)
	require.NoError(t, err)
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "killed", Prune: true, ForcePrune: true})
	require.Error(t, err, "the sync was cut short")
	require.True(t, killed)
	assert.True(t, errors.Is(err, context.Canceled) || len(res.Failed) > 0, "%v", err)
}

// TestKillRestartConverges: a sync cut short in its second stage, then run again (a new process),
// converges: every object applied once, a complete inventory, nothing pruned that is still in git,
// and what left git before the cut is still known.
func TestKillRestartConverges(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	cfg := env.Cluster("shop").Config()
	_, other := connect(t, cfg)
	ctx := t.Context()
	dir := copyFleet(t, shopFleet)

	checkConverged := func(t *testing.T, want int) {
		t.Helper()
		inv := readInventory(t, other)
		require.NotNil(t, inv)
		seen := map[string]bool{}
		for _, e := range inv.Entries {
			assert.False(t, seen[e.Key()], "duplicate inventory entry %s", e.ID)
			seen[e.Key()] = true
			assert.NotEmpty(t, e.FieldsHash, "%s recorded without its fields", e.ID)
			assert.NotEmpty(t, e.DesiredHash, "%s recorded without its desired state", e.ID)
		}
		assert.Len(t, inv.Entries, want)
		vms := &metav1.PartialObjectMetadataList{}
		vms.SetGroupVersionKind(gvkVM.GroupVersion().WithKind("VirtualMachineList"))
		require.NoError(t, other.List(ctx, vms))
		var names []string
		for _, vm := range vms.Items {
			names = append(names, vm.Namespace+"/"+vm.Name)
		}
		assert.ElementsMatch(t, []string{"shop/web", "vms/pos-1", "vms/pos-2"}, names)
	}

	t.Run("a first sync killed in stage 1", func(t *testing.T) {
		killedDuringStage1(t, cfg, dir)
		inv := readInventory(t, other)
		require.NotNil(t, inv, "the intent was recorded before the first write")
		assert.Len(t, inv.Entries, 53, "every object the sync may have made")
		assert.Nil(t, getLive(t, other, gvkVM, "vms", "pos-1"), "stage 2 never ran")

		rc, _ := connect(t, cfg)
		res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", Prune: true})
		require.NoError(t, err, "%v", res.Failed)
		assert.Empty(t, res.Pruned)
		assert.Empty(t, res.Orphans)
		assert.Empty(t, res.Pending)
		checkConverged(t, 53)
		again, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", Prune: true})
		require.NoError(t, err)
		assert.True(t, again.InSync(), "%+v", again)
	})

	t.Run("a sync carrying removals killed in stage 1", func(t *testing.T) {
		removeFile(t, dir, "clusters/shop/vms/web.yaml")
		// (Not the descheduler: its objects in kube-system are never pruned.)
		writeFile(t, dir, "clusters/shop/dashboard.cue", "package fleet\n\ncluster: stack: dashboard: enabled: false\n")
		decl, err := os.ReadFile(filepath.Join(dir, "clusters/shop/cluster.cue"))
		require.NoError(t, err)
		writeFile(t, dir, "clusters/shop/cluster.cue", strings.Replace(string(decl), "operator: replicas: 2", "operator: replicas: 3", 1))
		killedDuringStage1(t, cfg, dir)

		rc, _ := connect(t, cfg)
		res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r2", Prune: true})
		require.NoError(t, err, "%v", res.Failed)
		assert.Len(t, res.Pruned, 6, "the dashboard's objects, known from before the cut: %v", prunedIDs(res.Pruned))
		assert.Equal(t, []string{idFor(gvkNamespace, "", "shop"), idFor(gvkVM, "shop", "web")}, orphanIDs(res.Orphans))
		assert.NotNil(t, getLive(t, other, gvkVM, "shop", "web"), "a VM is never pruned without an opt-in")
		assert.Equal(t, "3", nested(getLive(t, other, gvkDeployment, "kubevirt", "virt-operator"), "spec", "replicas"))
		again, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r2", Prune: true})
		require.NoError(t, err)
		assert.True(t, again.InSync(), "%+v", again)
	})
}

// TestSecretValuesNeverShown: the diff of a Secret, new or changed, never shows a value.
func TestSecretValuesNeverShown(t *testing.T) {
	env := testcluster.Start(t, "secrets")
	rc, other := connect(t, env.Cluster("secrets").Config())
	ctx := t.Context()
	require.NoError(t, other.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "live"},
		Data:       map[string][]byte{"password": []byte("hunter2-live"), "user": []byte("admin-user")},
	}, client.FieldOwner("someone")))

	secret := func(name string, data map[string]any, stringData map[string]any) *reconciler.Item {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"namespace": "default", "name": name},
		}}
		if data != nil {
			u.Object["data"] = data
		}
		if stringData != nil {
			u.Object["stringData"] = stringData
		}
		return &reconciler.Item{
			ID:     inventory.ID{Version: "v1", Kind: "Secret", Namespace: "default", Name: name},
			Object: u,
		}
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	newOne := secret("new", map[string]any{"password": b64("hunter2-git")}, map[string]any{"token": "tok-git-123"})
	newOne.Action = reconciler.Create
	changed := secret("live", map[string]any{"password": b64("hunter2-git"), "user": b64("admin-user")}, nil)
	changed.Action = reconciler.Correct
	changed.Reason = "fields set by vmo-cue were changed or removed (by someone)"

	var out bytes.Buffer
	require.NoError(t, livediff.Write(ctx, rc, []*reconciler.Item{newOne, changed}, &out))
	text := out.String()
	t.Logf("diff:\n%s", text)
	assert.Contains(t, text, "Secret default/new")
	assert.Contains(t, text, "Secret default/live")
	assert.Contains(t, text, "+stringData:\n+  token: '***'", "a new Secret is shown whole, masked")
	assert.Contains(t, text, "-  password: '*** (before)'\n+  password: '*** (after)'", "a changed value is shown as changed, masked")
	for _, secret := range []string{"hunter2-git", "hunter2-live", "tok-git-123", "admin-user"} {
		assert.NotContains(t, text, secret)
		assert.NotContains(t, text, b64(secret))
	}
}

// setVMSchemaField removes spec.<field> from the cluster's VirtualMachine CRD (or, with present,
// puts back the one the stack's CRD has), as someone else, and waits until the server serves the
// changed schema.
func setVMSchemaField(t *testing.T, c client.Client, field string, present bool) {
	t.Helper()
	var want any
	if present {
		all, err := crds.All()
		require.NoError(t, err)
		for _, crd := range all {
			if crd.Name == "virtualmachines.kubevirt.io" {
				u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
				require.NoError(t, err)
				versions, _, _ := unstructured.NestedSlice(u, "spec", "versions")
				want, _, _ = unstructured.NestedFieldCopy(versions[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties", field)
			}
		}
		require.NotNil(t, want, "the stack's VirtualMachine CRD has spec.%s", field)
	}
	editAs(t, c, "crd-installer", gvkCRD, "", "virtualmachines.kubevirt.io", func(u *unstructured.Unstructured) {
		versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
		for _, v := range versions {
			props, _, _ := unstructured.NestedMap(v.(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties")
			if present {
				props[field] = want
			} else {
				delete(props, field)
			}
			require.NoError(t, unstructured.SetNestedMap(v.(map[string]any), props, "schema", "openAPIV3Schema", "properties", "spec", "properties"))
		}
		require.NoError(t, unstructured.SetNestedSlice(u.Object, versions, "spec", "versions"))
	})
	probe := &unstructured.Unstructured{}
	probe.SetGroupVersionKind(gvkVM)
	probe.SetNamespace("default")
	probe.SetName("schema-probe")
	require.NoError(t, unstructured.SetNestedField(probe.Object, "Halted", "spec", field))
	require.NoError(t, unstructured.SetNestedMap(probe.Object, map[string]any{"spec": map[string]any{"domain": map[string]any{"devices": map[string]any{}}}}, "spec", "template"))
	require.Eventually(t, func() bool {
		err := c.Create(t.Context(), probe.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict"))
		return (err == nil) == present
	}, 30*time.Second, 100*time.Millisecond, "the server serves the changed schema")
}

// TestServerGoneWhileWaitingForCRDs: when the API server stops answering while the sync waits for
// the CRDs it just created, the sync ends at once with the connection's error (the fleet reports the
// cluster Offline), instead of waiting out the minute and calling the CRDs not Established.
func TestServerGoneWhileWaitingForCRDs(t *testing.T) {
	env := testcluster.Start(t, "gone")
	cfg := env.Cluster("gone").Config()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/customresourcedefinitions/") {
				return nil, refused
			}
			return rt.RoundTrip(r)
		})
	})
	rc, err := reconciler.Connect(cfg)
	require.NoError(t, err)
	start := time.Now()
	res, err := rc.Reconcile(t.Context(), desiredOf(t, loadCluster(t, shopFleet, "shop")), reconciler.Options{Revision: "gone"})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second, "not after the minute's wait for Established CRDs")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the connection's error, for the fleet to see")
	assert.Contains(t, err.Error(), "waiting for CRD")
	assert.True(t, res.Written, "stage 0 was written before the server went away")
}
