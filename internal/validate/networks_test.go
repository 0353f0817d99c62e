package validate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/resolve"
)

// edgeNetworks declares one network of each kind in edge-1.
const edgeNetworks = `package fleet

cluster: {
	name: "edge-1"
	kind: "edge"
	stack: multus: networks: {
		"vlan-100": {vlan: 100}
		sriov: {type: "sriov", resourceName: "intel.com/intel_sriov_netdevice", vlan: 200}
		mvl: {type: "macvlan", master: "eth1"}
		mvt: {type: "macvtap", resourceName: "macvtap.network.kubevirt.io/eth2"}
		p2p: {type: "ptp", ipam: {type: "host-local", subnet: "10.1.0.0/24"}}
		l2: {type: "ovn-k8s-cni-overlay", topology: "layer2", subnets: "10.100.200.0/24"}
		ln: {type: "ovn-k8s-cni-overlay", topology: "localnet", vlanID: 30}
	}
}
`

// netVM is edge-1's VM with one interface (binding given as YAML flow) on the network given.
func netVM(binding, network string) string {
	return webVM("", `    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - {name: net, `+binding+`}
      networks:
        - {name: net, multus: {networkName: `+network+`}}
`)
}

func TestNetworkKinds(t *testing.T) {
	for _, tc := range []struct {
		name, binding, network string
		// mac says whether vmo-cue derives a MAC for the interface (it is on a layer-2 segment).
		mac  bool
		want []string
	}{
		{name: "SR-IOV", binding: "sriov: {}", network: "sriov", mac: true},
		{name: "macvtap binding plugin", binding: "binding: {name: macvtap}", network: "mvt", mac: true},
		{name: "macvlan", binding: "bridge: {}", network: "mvl", mac: true},
		{name: "ptp is routed", binding: "bridge: {}", network: "p2p", mac: false},
		{name: "OVN layer2", binding: "bridge: {}", network: "l2", mac: true},
		{name: "OVN localnet", binding: "bridge: {}", network: "ln", mac: true},
		{name: "bridge VLAN", binding: "bridge: {}", network: "vlan-100", mac: true},
		{name: "SR-IOV binding on a VLAN", binding: "sriov: {}", network: "vlan-100", mac: true, want: []string{
			`vm-network vms.web.spec.template.spec.domain.devices.interfaces.0.sriov: interface "net" is attached with sriov to network "vlan-100" of type bridge, which takes bridge: {} (sriov needs a network of type sriov) @ clusters/edge-1/vms/web.yaml:13:27`}},
		{name: "bridge on an SR-IOV network", binding: "bridge: {}", network: "sriov", mac: true, want: []string{
			`vm-network vms.web.spec.template.spec.domain.devices.interfaces.0.bridge: interface "net" is attached with bridge to network "sriov" of type sriov, which takes sriov: {} @ clusters/edge-1/vms/web.yaml:13:27`}},
		{name: "bridge on a macvtap network", binding: "bridge: {}", network: "mvt", mac: true, want: []string{
			`vm-network vms.web.spec.template.spec.domain.devices.interfaces.0.bridge: interface "net" is attached with bridge to network "mvt" of type macvtap, which takes the macvtap binding plugin, binding: {name: macvtap} @ clusters/edge-1/vms/web.yaml:13:27`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := load(t, map[string]string{
				"clusters/edge-1/vms/web.yaml": netVM(tc.binding, tc.network),
				"clusters/edge-1/cluster.cue":  edgeNetworks,
			}, false)
			var got []string
			for _, f := range findings(r) {
				if !strings.HasPrefix(f, "schema ") { // the schema of the version: not this test's
					got = append(got, f)
				}
			}
			assert.Equal(t, tc.want, got)
			c := r.Cluster("edge-1")
			require.Len(t, c.VMs, 1)
			require.Len(t, c.VMs[0].Interfaces, 1)
			ifc := c.VMs[0].Interfaces[0]
			assert.Equal(t, tc.mac, ifc.NeedsMAC, "needs a MAC")
			if tc.want == nil {
				resolve.Fleet(r) // assignment follows validation
				assert.Equal(t, tc.mac, ifc.Assigned != "", "a MAC is derived: %q", ifc.Assigned)
			}
		})
	}
}
