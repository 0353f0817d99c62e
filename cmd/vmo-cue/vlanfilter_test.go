package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVLANFilteringRenders: the eighth component's ConfigMap passes exactly the VLANs of the Multus
// networks on its bridge unless the cluster lists them, and nothing is rendered while it is off.
func TestVLANFilteringRenders(t *testing.T) {
	tests := []struct {
		name  string
		stack string
		want  map[string]any // the ConfigMap's data; nil: no VLAN filtering objects
	}{
		{name: "off by default, as the pack ships it", stack: ``},
		{name: "derived from the networks on br0", stack: `stack: vlanFiltering: enabled: true`,
			want: map[string]any{"bridgeIF": "br0", "allowedVlans": "100,130", "allowVlansOnSelf": "true", "allowedVlansOnSelf": "1"}},
		{name: "another bridge", stack: "stack: vlanFiltering: {enabled: true, bridge: \"br1\", host: enabled: false}",
			want: map[string]any{"bridgeIF": "br1", "allowedVlans": "7", "allowVlansOnSelf": "false", "allowedVlansOnSelf": "1"}},
		{name: "listed", stack: "stack: vlanFiltering: {enabled: true, allowedVlans: [100, \"120-140\"], host: allowedVlans: [1, 10]}",
			want: map[string]any{"bridgeIF": "br0", "allowedVlans": "100,120-140", "allowVlansOnSelf": "true", "allowedVlansOnSelf": "1,10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, filepath.Join("..", "..", "testdata", "vet", "base"), dir)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", "edge-1", "cluster.cue"), []byte(`package fleet

cluster: {
	name: "edge-1"
	kind: "edge"
	stack: multus: networks: {
		"vlan-100": {vlan: 100}
		"vlan-130": {vlan: 130, namespace: "shop"}
		"untagged": {vlan: 0}
		"other": {vlan: 7, bridge: "br1"}
	}
	`+tt.stack+`
}
`), 0o644))
			objs := built(t, dir, "edge-1")
			cm := objs["ConfigMap kube-system/vlan-filtering"]
			if tt.want == nil {
				assert.Nil(t, cm)
				assert.Nil(t, objs["DaemonSet kube-system/vlan-filtering"])
				return
			}
			require.NotNil(t, cm)
			assert.Equal(t, tt.want, cm["data"])
			ds := objs["DaemonSet kube-system/vlan-filtering"]
			require.NotNil(t, ds)
			assert.Equal(t, true, dig(ds, "spec", "template", "spec", "hostNetwork"))
			assert.Equal(t, "vlanFiltering", dig(ds, "metadata", "labels", "vmo-cue.dev/component"))
		})
	}
}
