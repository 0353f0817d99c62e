package reconciler_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

func init() {
	// controller-runtime's client warns, with a stack trace, when no logger was set.
	ctrllog.SetLogger(logr.Discard())
}

// shopFleet is the small fleet of the reconciler's tests: cluster "shop", the whole stack, VMs
// vms/pos-1, vms/pos-2 and shop/web.
const shopFleet = "../testdata/reconcile/fleet"

// copyFleet copies a fleet into a temporary folder, where a test changes "git" by writing and
// removing files.
func copyFleet(t testing.TB, from string) string {
	t.Helper()
	to := t.TempDir()
	require.NoError(t, testfleet.CopyDir(from, to))
	return to
}

func writeFile(t testing.TB, dir, rel, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644))
}

func removeFile(t testing.TB, dir, rel string) {
	t.Helper()
	require.NoError(t, os.Remove(filepath.Join(dir, rel)))
}

// loadAny loads a cluster whether it validates or not.
func loadAny(t testing.TB, dir, name string) *validate.Cluster {
	t.Helper()
	r, err := desired.Load(dir, desired.Options{})
	require.NoError(t, err)
	c := r.Cluster(name)
	require.NotNil(t, c, "cluster %s", name)
	return c
}

// connect returns vmo-cue's connection and a plain client acting as someone else.
func connect(t testing.TB, cfg *rest.Config) (*reconciler.Cluster, client.Client) {
	t.Helper()
	rc, err := reconciler.Connect(cfg)
	require.NoError(t, err)
	other, err := client.New(cfg, client.Options{})
	require.NoError(t, err)
	return rc, other
}

var (
	gvkConfigMap   = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	gvkNamespace   = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	gvkService     = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	gvkDeployment  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvkCronJob     = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}
	gvkKubeVirt    = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "KubeVirt"}
	gvkVM          = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"}
	gvkNAD         = schema.GroupVersionKind{Group: "k8s.cni.cncf.io", Version: "v1", Kind: "NetworkAttachmentDefinition"}
	gvkCRD         = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	gvkClusterRole = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
	gvkSecret      = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}

	gvkClusterRoleBinding = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}
)

// idFor names an object as the reconciler's results do.
func idFor(gvk schema.GroupVersionKind, namespace, name string) string {
	return inventory.ID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: namespace, Name: name}.String()
}

// getLive reads an object; nil if it does not exist.
func getLive(t testing.TB, c client.Client, gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := c.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return u
}

// editAs changes an object as `kubectl edit` does: a read, a change, a write by another field manager.
func editAs(t testing.TB, c client.Client, manager string, gvk schema.GroupVersionKind, namespace, name string, change func(u *unstructured.Unstructured)) {
	t.Helper()
	u := getLive(t, c, gvk, namespace, name)
	require.NotNil(t, u, "%s %s/%s", gvk.Kind, namespace, name)
	change(u)
	require.NoError(t, c.Update(t.Context(), u, client.FieldOwner(manager)))
}

// ids returns the items' IDs, sorted.
func ids(items []*reconciler.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID.String())
	}
	sort.Strings(out)
	return out
}

func orphanIDs(orphans []reconciler.Orphan) []string {
	out := []string{}
	for _, o := range orphans {
		out = append(out, o.ID.String())
	}
	sort.Strings(out)
	return out
}

func prunedIDs(list []inventory.ID) []string {
	out := []string{}
	for _, id := range list {
		out = append(out, id.String())
	}
	sort.Strings(out)
	return out
}

func failedIDs(list []reconciler.ObjectError) []string {
	out := []string{}
	for _, e := range list {
		out = append(out, e.Item.ID.String())
	}
	sort.Strings(out)
	return out
}

// readInventory reads the in-cluster inventory (nil if there is none).
func readInventory(t testing.TB, c client.Client) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Read(t.Context(), c)
	if err == inventory.ErrNotFound {
		return nil
	}
	require.NoError(t, err)
	return inv
}

// nested reads a string at a path ("" if absent).
func nested(u *unstructured.Unstructured, path ...string) string {
	if u == nil {
		return "<absent>"
	}
	v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		b, _ := jsonString(x)
		return b
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
