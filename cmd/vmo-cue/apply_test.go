package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
)

// cli runs one vmo-cue command line in-process.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// lineWith reports whether a line of text starts with prefix and contains every fragment.
func lineWith(text, prefix string, fragments ...string) bool {
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(l, f)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestApplyAndDiff drives `vmo-cue apply` and `vmo-cue diff` against a real API server whose
// kubeconfig context is not named like the fleet's cluster (--context), and through a kubeconfig
// whose context is (the default).
func TestApplyAndDiff(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "k8s-shop")
	dir := t.TempDir()
	copyDir(t, "../../testdata/reconcile/fleet", dir)

	// A second kubeconfig whose context is named like the fleet's cluster.
	raw, err := clientcmd.LoadFromFile(env.Kubeconfig)
	require.NoError(t, err)
	raw.Contexts["shop"] = raw.Contexts["k8s-shop"]
	delete(raw.Contexts, "k8s-shop")
	raw.CurrentContext = "shop"
	named := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*raw, named))
	var tokens []string
	for _, a := range raw.AuthInfos {
		if a.Token != "" {
			tokens = append(tokens, a.Token)
		}
	}
	require.NotEmpty(t, tokens)

	viaContext := []string{"--cluster", "shop", "--kubeconfig", env.Kubeconfig, "--context", "k8s-shop"}
	byName := []string{"--cluster", "shop", "--kubeconfig", named}
	other, err := client.New(env.Cluster("k8s-shop").Config(), client.Options{})
	require.NoError(t, err)
	ctx := t.Context()
	get := func(gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		require.NoError(t, other.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u))
		return u
	}
	update := func(u *unstructured.Unstructured, manager string) {
		require.NoError(t, other.Update(ctx, u, client.FieldOwner(manager)))
	}
	vmGVK := schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"}
	cmGVK := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	nadGVK := schema.GroupVersionKind{Group: "k8s.cni.cncf.io", Version: "v1", Kind: "NetworkAttachmentDefinition"}

	t.Run("diff before the first apply shows every object as new", func(t *testing.T) {
		code, out, stderr := cli(t, append([]string{"diff", dir}, viaContext...)...)
		assert.Equal(t, 1, code, stderr)
		assert.Contains(t, out, "# VirtualMachine.kubevirt.io vms/pos-1 (create)")
		assert.True(t, lineWith(out, "+", "name: pos-1"), out)
		assert.Contains(t, stderr, "53 objects differ")
	})

	t.Run("apply, then diff exits 0", func(t *testing.T) {
		code, out, stderr := cli(t, append([]string{"apply", dir}, byName...)...)
		require.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Contains(t, out, "shop: 53 applied, 0 corrected, 0 drifted")
		code, out, stderr = cli(t, append([]string{"diff", dir}, viaContext...)...)
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Empty(t, out)
	})

	t.Run("what controllers and others write next to our fields is not drift", func(t *testing.T) {
		vm := get(vmGVK, "vms", "pos-1")
		vm.SetAnnotations(map[string]string{"kubevirt.io/pci-topology-version": "v3"})
		require.NoError(t, unstructured.SetNestedField(vm.Object, "5a6b7c8d-0000-4000-8000-000000000002", "spec", "template", "spec", "domain", "firmware", "uuid"))
		update(vm, "virt-controller")
		code, out, stderr := cli(t, append([]string{"diff", dir}, byName...)...)
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Empty(t, out)
	})

	var gitMAC string
	t.Run("drift: diff exits 1 and shows each object and field", func(t *testing.T) {
		cm := get(cmGVK, "kube-system", "multus-daemon-config")
		require.NoError(t, unstructured.SetNestedField(cm.Object, `{"logLevel": "debug"}`, "data", "daemon-config.json"))
		update(cm, "kubectl-edit")

		vm := get(vmGVK, "vms", "pos-1")
		path := []string{"spec", "template", "spec", "domain", "devices", "interfaces"}
		ifaces, _, _ := unstructured.NestedSlice(vm.Object, path...)
		gitMAC = ifaces[0].(map[string]any)["macAddress"].(string)
		ifaces[0].(map[string]any)["macAddress"] = "02:de:ad:be:ef:01"
		require.NoError(t, unstructured.SetNestedSlice(vm.Object, ifaces, path...))
		update(vm, "kubectl-edit")

		require.NoError(t, other.Delete(ctx, get(nadGVK, "vms", "store-pos")))

		code, out, stderr := cli(t, append([]string{"diff", dir}, byName...)...)
		require.Equal(t, 1, code, "%s\n%s", out, stderr)
		t.Logf("diff:\n%s", out)
		assert.Contains(t, stderr, "3 objects differ")

		assert.Contains(t, out, "# ConfigMap kube-system/multus-daemon-config (correct: fields set by vmo-cue were changed or removed (by kubectl-edit))")
		assert.True(t, lineWith(out, "-", "daemon-config.json", "logLevel", "debug"), "the live value, not masked")
		assert.True(t, lineWith(out, "+", `"chrootDir": "/hostroot"`), "git's value")

		assert.Contains(t, out, "# VirtualMachine.kubevirt.io vms/pos-1 (correct:")
		assert.True(t, lineWith(out, "-", "macAddress: 02:de:ad:be:ef:01"))
		assert.True(t, lineWith(out, "+", "macAddress: "+gitMAC))
		assert.False(t, lineWith(out, "-", "pci-topology-version"), "others' annotation is not part of the diff")
		assert.False(t, lineWith(out, "-", "uuid"), "KubeVirt's firmware uuid is not part of the diff")

		assert.Contains(t, out, "# NetworkAttachmentDefinition.k8s.cni.cncf.io vms/store-pos (recreate: deleted from the cluster by someone)")
		assert.True(t, lineWith(out, "+", "name: store-pos"))
	})

	t.Run("apply --drift report changes nothing and exits 1", func(t *testing.T) {
		code, out, stderr := cli(t, append([]string{"apply", dir, "--drift", "report"}, viaContext...)...)
		assert.Equal(t, 1, code, "%s\n%s", out, stderr)
		assert.Contains(t, out, "ConfigMap kube-system/multus-daemon-config drifted")
		assert.Contains(t, out, "3 drifted")
		assert.Equal(t, `{"logLevel": "debug"}`, get(cmGVK, "kube-system", "multus-daemon-config").Object["data"].(map[string]any)["daemon-config.json"])
		code, _, _ = cli(t, append([]string{"diff", dir}, viaContext...)...)
		assert.Equal(t, 1, code)
	})

	t.Run("apply corrects, then diff exits 0", func(t *testing.T) {
		code, out, stderr := cli(t, append([]string{"apply", dir}, viaContext...)...)
		require.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Contains(t, out, "3 corrected")
		assert.Contains(t, out, "VirtualMachine.kubevirt.io vms/pos-1 drift corrected")
		ifaces, _, _ := unstructured.NestedSlice(get(vmGVK, "vms", "pos-1").Object, "spec", "template", "spec", "domain", "devices", "interfaces")
		assert.Equal(t, gitMAC, ifaces[0].(map[string]any)["macAddress"])
		code, out, stderr = cli(t, append([]string{"diff", dir}, byName...)...)
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Empty(t, out)
	})

	t.Run("errors exit 2 and never show credentials", func(t *testing.T) {
		for _, args := range [][]string{
			{"diff", dir, "--cluster", "shop", "--kubeconfig", env.Kubeconfig}, // no context "shop" there
			{"diff", dir, "--cluster", "shop", "--kubeconfig", env.Kubeconfig, "--context", "nowhere"},
			{"apply", dir, "--cluster", "nowhere", "--kubeconfig", named},
			{"apply", dir, "--drift", "sometimes", "--cluster", "shop", "--kubeconfig", named},
		} {
			code, out, stderr := cli(t, args...)
			assert.Equal(t, 2, code, "%v: %s\n%s", args, out, stderr)
			assert.NotEmpty(t, stderr)
			for _, tok := range tokens {
				assert.NotContains(t, out+stderr, tok)
			}
		}
		data, err := os.ReadFile(env.Kubeconfig)
		require.NoError(t, err)
		assert.Contains(t, string(data), tokens[0], "the check above looks for the real token")

		_, _, stderr := cli(t, "diff", dir, "--cluster", "shop", "--kubeconfig", env.Kubeconfig)
		assert.Contains(t, stderr, "kubeconfig "+env.Kubeconfig+`, context "shop"`, "the file and the context are named")
	})

	t.Run("an invalid cluster: its findings on the command's stderr, nothing applied", func(t *testing.T) {
		bad := t.TempDir()
		copyDir(t, "../../testdata/reconcile/fleet", bad)
		require.NoError(t, os.WriteFile(filepath.Join(bad, "clusters/shop/vms/bad.yaml"), []byte(`apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: bad}
spec:
  runStrategy: Sometimes
  template: {spec: {domain: {memory: {guest: 1Gi}}}}
`), 0o644))
		code, out, stderr := cli(t, "apply", bad, "--cluster", "shop", "--kubeconfig", named)
		assert.Equal(t, 2, code, "%s\n%s", out, stderr)
		assert.Contains(t, stderr, "./clusters/shop/vms/bad.yaml:6:", "the finding, with file and line")
		assert.Contains(t, stderr, "does not validate: nothing applied")
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(vmGVK)
		assert.True(t, apierrors.IsNotFound(other.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "bad"}, u)), "nothing applied")
	})

	t.Run("another cluster through shop's context is refused with both names; --adopt takes the API server over", func(t *testing.T) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "clusters/dc-east"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters/dc-east/cluster.cue"), []byte(`package fleet

cluster: {
	name: "dc-east"
	kind: "datacenter"
	stack: multus: networks: "dc-net": {vlan: 30, bridge: "br-vlan", namespace: "vms"}
}
`), 0o644))
		dcEast := []string{"apply", dir, "--cluster", "dc-east", "--kubeconfig", env.Kubeconfig, "--context", "k8s-shop", "--prune"}
		refused := "cluster dc-east: cluster identity mismatch: this API server belongs to fleet default cluster shop; refusing to apply cluster dc-east (use --adopt to take it over)"
		for _, extra := range [][]string{nil, {"--dry-run"}} {
			code, out, stderr := cli(t, append(dcEast, extra...)...)
			assert.Equal(t, 2, code, "%s\n%s", out, stderr)
			assert.Contains(t, stderr, refused)
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(nadGVK)
		assert.True(t, apierrors.IsNotFound(other.Get(ctx, client.ObjectKey{Namespace: "vms", Name: "dc-net"}, u)), "nothing applied")

		code, out, stderr := cli(t, append(dcEast, "--adopt")...)
		require.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Contains(t, out, "note: adopted: "+strings.TrimPrefix(refused, "cluster dc-east: "))
		assert.True(t, lineWith(out, "NetworkAttachmentDefinition.k8s.cni.cncf.io vms/store-pos ", `in inventory but not ours: kept (label vmo-cue.dev/cluster is "shop", not "dc-east")`), out)
		assert.Equal(t, "dc-east", get(nadGVK, "vms", "dc-net").GetLabels()["vmo-cue.dev/cluster"])

		code, out, stderr = cli(t, append([]string{"apply", dir}, byName...)...)
		assert.Equal(t, 2, code, "%s\n%s", out, stderr)
		assert.Contains(t, stderr, "this API server belongs to fleet default cluster dc-east; refusing to apply cluster shop")
	})
}
