package render_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/render"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

const kustomizedVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
  labels:
    app.kubernetes.io/managed-by: kustomize
    app.kubernetes.io/part-of: shop
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - {name: vlan, bridge: {}, macAddress: "02:00:00:00:01:01"}
      networks:
        - {name: vlan, multus: {networkName: vlan-100}}
`

// A label the VM's file sets is rendered as written: vmo-cue's own marks are vmo-cue.dev/ labels,
// on every object it renders.
func TestUserLabelsKept(t *testing.T) {
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), tmp))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "clusters", "edge-1", "vms", "web.yaml"), []byte(kustomizedVM), 0o644))
	r, err := desired.Load(tmp, desired.Options{})
	require.NoError(t, err)
	require.Empty(t, r.All())
	objs, err := desired.Objects(r.Cluster("edge-1"))
	require.NoError(t, err)
	var vm render.Object
	for _, o := range objs {
		labels, _ := o["metadata"].(map[string]any)["labels"].(map[string]any)
		assert.Equal(t, "edge-1", labels["vmo-cue.dev/cluster"], "%v %v", o["kind"], o["metadata"])
		if o["kind"] == "KubeVirt" {
			assert.NotContains(t, o["spec"].(map[string]any)["configuration"], "network", "no macvtap network, no binding plugin")
		}
		if o["kind"] == "VirtualMachine" {
			vm = o
		} else {
			assert.NotContains(t, labels, "app.kubernetes.io/managed-by", "%v %v", o["kind"], o["metadata"])
		}
	}
	require.NotNil(t, vm)
	assert.Equal(t, map[string]any{
		"app.kubernetes.io/managed-by": "kustomize",
		"app.kubernetes.io/part-of":    "shop",
		"vmo-cue.dev/cluster":          "edge-1",
	}, vm["metadata"].(map[string]any)["labels"])
}

const networksCluster = `package fleet

cluster: {
	name: "edge-1"
	kind: "edge"
	stack: multus: networks: {
		"vlan-100": {vlan: 100}
		sriov: {type: "sriov", resourceName: "intel.com/intel_sriov_netdevice", vlan: 200, spoofchk: "on", linkState: "auto"}
		mvl: {type: "macvlan", master: "eth1", mode: "bridge", mtu: 9000}
		mvt: {type: "macvtap", resourceName: "macvtap.network.kubevirt.io/eth2", mtu: 1500}
		p2p: {type: "ptp", ipam: {type: "host-local", subnet: "10.1.0.0/24"}}
		l2: {type: "ovn-k8s-cni-overlay", namespace: "shop", topology: "layer2", subnets: "10.100.200.0/24", mtu: 1300}
		ln: {type: "ovn-k8s-cni-overlay", topology: "localnet", physicalNetworkName: "physnet", vlanID: 30}
	}
}
`

// Each kind of Multus network is rendered as a NetworkAttachmentDefinition of its CNI plugin, with
// the device plugin's resource for SR-IOV and macvtap.
func TestNetworkAttachmentDefinitions(t *testing.T) {
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), tmp))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "clusters", "edge-1", "cluster.cue"), []byte(networksCluster), 0o644))
	r, err := desired.Load(tmp, desired.Options{})
	require.NoError(t, err)
	require.Empty(t, r.All())
	objs, err := desired.Objects(r.Cluster("edge-1"))
	require.NoError(t, err)
	got := map[string][2]any{}
	for _, o := range objs {
		if o["kind"] == "KubeVirt" {
			// VMs attach to a macvtap network through the macvtap binding plugin: it is registered.
			assert.Equal(t, map[string]any{"binding": map[string]any{"macvtap": map[string]any{"domainAttachmentType": "tap"}}},
				o["spec"].(map[string]any)["configuration"].(map[string]any)["network"])
		}
		if o["kind"] != "NetworkAttachmentDefinition" {
			continue
		}
		md := o["metadata"].(map[string]any)
		got[md["namespace"].(string)+"/"+md["name"].(string)] = [2]any{md["annotations"], o["spec"].(map[string]any)["config"]}
	}
	res := func(r string) map[string]any { return map[string]any{"k8s.v1.cni.cncf.io/resourceName": r} }
	assert.Equal(t, map[string][2]any{
		"default/vlan-100": {nil, `{"cniVersion":"0.3.1","name":"vlan-100","type":"bridge","bridge":"br0","vlan":100}`},
		"default/sriov": {res("intel.com/intel_sriov_netdevice"),
			`{"cniVersion":"0.3.1","name":"sriov","type":"sriov","vlan":200,"spoofchk":"on","link_state":"auto"}`},
		"default/mvl": {nil, `{"cniVersion":"0.3.1","name":"mvl","type":"macvlan","master":"eth1","mode":"bridge","mtu":9000}`},
		"default/mvt": {res("macvtap.network.kubevirt.io/eth2"), `{"cniVersion":"0.3.1","name":"mvt","type":"macvtap","mtu":1500}`},
		"default/p2p": {nil, `{"cniVersion":"0.3.1","name":"p2p","type":"ptp","ipam":{"subnet":"10.1.0.0/24","type":"host-local"}}`},
		"shop/l2":     {nil, `{"cniVersion":"0.3.1","name":"l2","type":"ovn-k8s-cni-overlay","netAttachDefName":"shop/l2","topology":"layer2","subnets":"10.100.200.0/24","mtu":1300}`},
		"default/ln":  {nil, `{"cniVersion":"0.3.1","name":"ln","type":"ovn-k8s-cni-overlay","netAttachDefName":"default/ln","topology":"localnet","physicalNetworkName":"physnet","vlanID":30}`},
	}, got)
}
