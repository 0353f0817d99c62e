package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
)

// TestApplyKustomize: against a real API server, a ConfigMap from the cluster's kustomize folder
// is applied with the rest (and a patch lands on the KubeVirt operator), shows as drift when
// edited, and is pruned once the folder is removed from git.
func TestApplyKustomize(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "k8s-shop")
	dir := t.TempDir()
	copyDir(t, "../../testdata/reconcile/fleet", dir)
	kdir := filepath.Join(dir, "clusters/shop/kustomize")
	require.NoError(t, os.MkdirAll(kdir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(kdir, "kustomization.yaml"), []byte(`resources: [settings.yaml]
patches:
- target: {kind: Deployment, name: virt-operator}
  patch: |
    - op: add
      path: /spec/template/spec/nodeSelector
      value: {node-role.kubernetes.io/infra: ""}
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(kdir, "settings.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: pos-settings, namespace: vms}
data: {store: "42"}
`), 0o644))
	args := []string{"--cluster", "shop", "--kubeconfig", env.Kubeconfig, "--context", "k8s-shop"}
	c, err := client.New(env.Cluster("k8s-shop").Config(), client.Options{})
	require.NoError(t, err)
	ctx := t.Context()
	get := func(gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		return u, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
	}
	cmGVK := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}

	code, out, stderr := cli(t, append([]string{"apply", dir}, args...)...)
	require.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "shop: 54 applied, 0 corrected, 0 drifted")
	cm, err := get(cmGVK, "vms", "pos-settings")
	require.NoError(t, err)
	assert.Equal(t, "42", cm.Object["data"].(map[string]any)["store"])
	assert.Equal(t, "shop", cm.GetLabels()["vmo-cue.dev/cluster"])
	d, err := get(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "kubevirt", "virt-operator")
	require.NoError(t, err)
	sel, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "spec", "nodeSelector")
	assert.Equal(t, map[string]string{"node-role.kubernetes.io/infra": ""}, sel)

	// Edited in the cluster: drift, like any object of git.
	require.NoError(t, unstructured.SetNestedField(cm.Object, "7", "data", "store"))
	require.NoError(t, c.Update(ctx, cm, client.FieldOwner("kubectl-edit")))
	code, out, stderr = cli(t, append([]string{"diff", dir}, args...)...)
	assert.Equal(t, 1, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "# ConfigMap vms/pos-settings (correct:")

	// Removed from git: pruned.
	require.NoError(t, os.RemoveAll(kdir))
	code, out, stderr = cli(t, append([]string{"apply", dir, "--prune"}, args...)...)
	require.Equal(t, 0, code, "%s\n%s", out, stderr)
	t.Logf("%s", out)
	_, err = get(cmGVK, "vms", "pos-settings")
	assert.True(t, apierrors.IsNotFound(err), "pruned: %v", err)
}
