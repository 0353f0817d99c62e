package render_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/render"
	"github.com/vmo-cue/vmo-cue/internal/resolve"
	"github.com/vmo-cue/vmo-cue/internal/resolved"
	"github.com/vmo-cue/vmo-cue/internal/settings"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// Render takes a resolved cluster as data: it writes what resolution decided (the MACs by interface
// index, the gates, the images) and decides nothing itself.
func TestRenderTakesAResolvedCluster(t *testing.T) {
	b, err := engine.LoadBuiltin()
	require.NoError(t, err)
	merged, _ := engine.Merge(engine.NewLayer(b.SettingsDefaults), engine.NewLayer(map[string]any{"stack": map[string]any{
		"kubevirt": map[string]any{"version": "v1.6.3"}}}))
	typed, err := settings.Decode(merged, nil)
	require.NoError(t, err)
	stack := typed.Stack
	resolve.Images(&stack, b)
	vmObj := func() map[string]any {
		return map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": map[string]any{"name": "app"},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"domain": map[string]any{"devices": map[string]any{
				"interfaces": []any{
					map[string]any{"name": "pod", "masquerade": map[string]any{}},
					map[string]any{"name": "vlan", "bridge": map[string]any{}},
					map[string]any{"name": "own", "bridge": map[string]any{}, "macAddress": "02:00:00:00:00:99"},
				}}}}}}}
	}
	for _, tc := range []struct {
		name     string
		macs     map[int]string
		gates    []string
		wantMACs []any // each interface's macAddress (nil: none)
	}{
		{name: "an assigned MAC goes to its interface", macs: map[int]string{1: "0e:00:00:00:00:01"}, gates: []string{"Snapshot"},
			wantMACs: []any{nil, "0e:00:00:00:00:01", "02:00:00:00:00:99"}},
		{name: "none assigned: as written", gates: []string{"HostDisk", "Snapshot"},
			wantMACs: []any{nil, nil, "02:00:00:00:00:99"}},
		{name: "an index past the interfaces is ignored", macs: map[int]string{7: "0e:00:00:00:00:07"},
			wantMACs: []any{nil, nil, "02:00:00:00:00:99"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := vmObj()
			c := &resolved.Cluster{Name: "edge-9", Kind: "edge", Fleet: "f", Releases: crds.Default, Stack: stack,
				KubeVirtGates: tc.gates, VMs: []resolved.VM{{Namespace: "apps", Name: "app", Object: obj, MACs: tc.macs}}}
			objs, err := render.Cluster(c)
			require.NoError(t, err)
			var vm, kv map[string]any
			namespaces := map[string]bool{}
			for _, o := range objs {
				switch o["kind"] {
				case "VirtualMachine":
					vm = o
				case "KubeVirt":
					kv = o
				case "Namespace":
					namespaces[o["metadata"].(map[string]any)["name"].(string)] = true
				}
			}
			require.NotNil(t, vm)
			ifaces := vm["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["domain"].(map[string]any)["devices"].(map[string]any)["interfaces"].([]any)
			var got []any
			for _, i := range ifaces {
				got = append(got, i.(map[string]any)["macAddress"])
			}
			assert.Equal(t, tc.wantMACs, got)
			assert.Equal(t, "apps", vm["metadata"].(map[string]any)["namespace"])
			assert.True(t, namespaces["apps"], "the VM's namespace is rendered")
			_, written := obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["domain"].(map[string]any)["devices"].(map[string]any)["interfaces"].([]any)[1].(map[string]any)["macAddress"]
			assert.False(t, written, "the resolved cluster's object is copied, not changed")
			require.NotNil(t, kv)
			fg, _ := kv["spec"].(map[string]any)["configuration"].(map[string]any)["developerConfiguration"].(map[string]any)["featureGates"].([]any)
			var gates []string
			for _, g := range fg {
				gates = append(gates, g.(string))
			}
			assert.Equal(t, tc.gates, gates, "the gates resolution decided, as given")
		})
	}
}
