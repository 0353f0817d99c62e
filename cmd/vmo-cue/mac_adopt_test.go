package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
)

// TestOthersWritesAndMACAdopt drives `diff` after KubeVirt's writes (a MAC on a pod-network interface,
// virtctl stop and start as virt-api does them) and `mac adopt`, against a real API server.
func TestOthersWritesAndMACAdopt(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	dir := t.TempDir()
	copyDir(t, "../../testdata/reconcile/fleet", dir)
	flags := []string{"--cluster", "shop", "--kubeconfig", env.Kubeconfig}
	other, err := client.New(env.Cluster("shop").Config(), client.Options{})
	require.NoError(t, err)
	ctx := t.Context()
	vmGVK := schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"}
	patch := func(manager, ns, name string, ops ...map[string]any) {
		t.Helper()
		data, err := json.Marshal(ops)
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(vmGVK)
		u.SetNamespace(ns)
		u.SetName(name)
		require.NoError(t, other.Patch(ctx, u, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(manager)))
	}
	setWebMAC := func(mac string) {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(vmGVK)
		require.NoError(t, other.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, u))
		path := []string{"spec", "template", "spec", "domain", "devices", "interfaces"}
		ifaces, _, _ := unstructured.NestedSlice(u.Object, path...)
		ifaces[0].(map[string]any)["macAddress"] = mac
		require.NoError(t, unstructured.SetNestedSlice(u.Object, ifaces, path...))
		require.NoError(t, other.Update(ctx, u, client.FieldOwner("virt-controller")))
	}
	runStrategy := func(to string) map[string]any {
		return map[string]any{"op": "replace", "path": "/spec/runStrategy", "value": to}
	}
	test := func(v string) map[string]any {
		return map[string]any{"op": "test", "path": "/spec/runStrategy", "value": v}
	}

	code, out, stderr := cli(t, append([]string{"apply", dir}, flags...)...)
	require.Equal(t, 0, code, "%s\n%s", out, stderr)

	t.Run("a MAC KubeVirt writes into a pod-network interface is not drift", func(t *testing.T) {
		setWebMAC("02:5e:00:00:00:0a")
		code, out, stderr := cli(t, append([]string{"diff", dir}, flags...)...)
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Empty(t, out)
	})

	t.Run("virtctl stop is drift by virt-api; after start diff exits 0", func(t *testing.T) {
		patch("virt-api", "shop", "web", test("Always"), runStrategy("Halted"))
		code, out, stderr := cli(t, append([]string{"diff", dir}, flags...)...)
		assert.Equal(t, 1, code, "%s\n%s", out, stderr)
		assert.Contains(t, out, `# VirtualMachine.kubevirt.io shop/web (correct: fields set by vmo-cue hold other values: spec.runStrategy: "Halted", git: "Always" (by virt-api))`)
		patch("virt-api", "shop", "web", test("Halted"), runStrategy("Always"))
		code, out, stderr = cli(t, append([]string{"diff", dir}, flags...)...)
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Empty(t, out)
	})

	web := filepath.Join(dir, "clusters/shop/vms/web.yaml")
	before, err := os.ReadFile(web)
	require.NoError(t, err)
	t.Run("mac adopt refuses a live MAC outside the policy, writing nothing", func(t *testing.T) {
		setWebMAC("00:11:22:33:44:55")
		code, out, stderr := cli(t, append([]string{"mac", "adopt", dir}, flags...)...)
		assert.Equal(t, 1, code, "%s\n%s", out, stderr)
		assert.Contains(t, stderr, "mac adopt: cluster shop: nothing written: VM shop/web interface default: live MAC 00:11:22:33:44:55: MAC 00:11:22:33:44:55 is not locally administered (a vendor's address) (rule mac-prefix)")
		after, err := os.ReadFile(web)
		require.NoError(t, err)
		assert.Equal(t, string(before), string(after))
	})

	t.Run("mac adopt writes the live MACs into git; vet and diff agree", func(t *testing.T) {
		setWebMAC("02:5e:00:00:00:0a")
		code, out, stderr := cli(t, append([]string{"mac", "adopt", dir}, flags...)...)
		require.Equal(t, 0, code, "%s\n%s", out, stderr)
		assert.Contains(t, out, "clusters/shop/vms/pos.yaml:23: vms/pos-1 interface pos: macAddress ")
		assert.Contains(t, out, "clusters/shop/vms/web.yaml:19: shop/web interface default: macAddress 02:5e:00:00:00:0a")
		assert.Contains(t, stderr, "shop: 3 live MACs written into git")
		after, err := os.ReadFile(web)
		require.NoError(t, err)
		assert.Contains(t, string(after), "            - name: default\n              macAddress: \"02:5e:00:00:00:0a\"\n              masquerade: {}")
		code, out, stderr = cli(t, "vet", dir)
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
		code, _, stderr = cli(t, append([]string{"diff", dir}, flags...)...)
		assert.Equal(t, 1, code, "git changed: the MACs are now git's (%s)", stderr)
		code, out, stderr = cli(t, append([]string{"apply", dir}, flags...)...)
		require.Equal(t, 0, code, "%s\n%s", out, stderr)
		code, out, stderr = cli(t, append([]string{"diff", dir}, flags...)...)
		assert.Equal(t, 0, code, "%s\n%s", out, stderr)
	})
}
