package validate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// webVM is edge-1's VM with the given runStrategy and template (the lines under `template:`; the
// VLAN VM of the base fleet when empty).
func webVM(runStrategy, tmpl string) string {
	if runStrategy == "" {
		runStrategy = "Always"
	}
	if tmpl == "" {
		tmpl = vlanTemplate
	}
	return `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
spec:
  runStrategy: ` + runStrategy + `
  template:
` + tmpl
}

const vlanTemplate = `    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - {name: vlan, bridge: {}, macAddress: "02:00:00:00:01:01"}
      networks:
        - {name: vlan, multus: {networkName: vlan-100}}
`

// withVLAN is a template spec with the VLAN interface and network, and the lines given: devices
// (under domain.devices), networks (under networks) and rest (under spec).
func withVLAN(devices, networks, rest string) string {
	return `    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - {name: vlan, bridge: {}, macAddress: "02:00:00:00:01:01"}
` + devices + `      networks:
        - {name: vlan, multus: {networkName: vlan-100}}
` + networks + rest
}

func edgeCluster(kubevirt string) string {
	return `package fleet

cluster: {
	name: "edge-1"
	kind: "edge"
	stack: multus: networks: "vlan-100": {vlan: 100}
	stack: multus: networks: mvt: {type: "macvtap", resourceName: "macvtap.network.kubevirt.io/eth2"}
	stack: kubevirt: {` + kubevirt + `}
}
`
}

func TestWebhookRules(t *testing.T) {
	hostDisk := withVLAN("", "", "      volumes:\n        - {name: data, hostDisk: {path: /data/disk.img, type: DiskOrCreate, capacity: 1Gi}}\n")
	gate := func(what, gate, state, version, at string) string {
		return "vm-feature-gate " + what + " needs the KubeVirt feature gate " + gate + " (" + state + " in KubeVirt " + version +
			"), which cluster edge-1 does not enable: add `stack: kubevirt: featureGates: " + gate + ": true` in ./clusters/edge-1/cluster.cue @ clusters/edge-1/vms/web.yaml:" + at
	}
	for _, tc := range []struct {
		name, kubevirt, runStrategy, tmpl, apiVersion string
		want                                          []string
	}{
		{name: "runStrategy misspelled", runStrategy: "Alwayz",
			want: []string{`vm-run-strategy vms.web.spec.runStrategy: invalid runStrategy "Alwayz": KubeVirt accepts Always, Halted, Manual, RerunOnFailure, Once (and WaitAsReceiver with the DecentralizedLiveMigration gate) (did you mean "Always"?) @ clusters/edge-1/vms/web.yaml:6:3`}},
		{name: "WaitAsReceiver before v1.6", kubevirt: `version: "v1.5.2"`, runStrategy: "WaitAsReceiver",
			want: []string{`vm-run-strategy vms.web.spec.runStrategy: invalid runStrategy "WaitAsReceiver": KubeVirt accepts Always, Halted, Manual, RerunOnFailure, Once @ clusters/edge-1/vms/web.yaml:6:3`}},
		{name: "WaitAsReceiver without its gate", runStrategy: "WaitAsReceiver",
			want: []string{gate("vms.web.spec.runStrategy: runStrategy: WaitAsReceiver", "DecentralizedLiveMigration", "Alpha", "v1.6.3", "6:3")}},
		{name: "WaitAsReceiver with its gate", kubevirt: "featureGates: DecentralizedLiveMigration: true", runStrategy: "WaitAsReceiver"},
		{name: "hostDisk without its gate", tmpl: hostDisk,
			want: []string{gate("vms.web.spec.template.spec.volumes.0.hostDisk: a hostDisk volume", "HostDisk", "Alpha", "v1.6.3", "17:24")}},
		{name: "hostDisk with its gate", kubevirt: "featureGates: HostDisk: true", tmpl: hostDisk},
		{name: "hostDisk with its gate switched off", kubevirt: "featureGates: HostDisk: false", tmpl: hostDisk,
			want: []string{gate("vms.web.spec.template.spec.volumes.0.hostDisk: a hostDisk volume", "HostDisk", "Alpha", "v1.6.3", "17:24")}},
		{name: "hostDisk is GA nowhere: gated in v1.8 too", kubevirt: `version: "v1.8.1"`, tmpl: hostDisk,
			want: []string{gate("vms.web.spec.template.spec.volumes.0.hostDisk: a hostDisk volume", "HostDisk", "Alpha", "v1.8.1", "17:24")}},
		{name: "sidecar hook annotation", tmpl: "    metadata:\n      annotations: {hooks.kubevirt.io/hookSidecars: '[{\"image\": \"registry/hook:1\"}]'}\n" + vlanTemplate,
			want: []string{gate(`vms.web.spec.template.metadata.annotations."hooks.kubevirt.io/hookSidecars": a sidecar hook (annotation hooks.kubevirt.io/hookSidecars)`, "Sidecar", "Alpha", "v1.6.3", "9:21")}},
		{name: "hostDevices and downwardMetrics", tmpl: withVLAN("          hostDevices: [{name: nic, deviceName: vendor.com/nic}]\n          downwardMetrics: {}\n", "", ""),
			want: []string{
				gate("vms.web.spec.template.spec.domain.devices.hostDevices: hostDevices", "HostDevices", "Alpha", "v1.6.3", "14:11"),
				gate("vms.web.spec.template.spec.domain.devices.downwardMetrics: the downwardMetrics device", "DownwardMetrics", "Alpha", "v1.6.3", "15:11"),
			}},
		{name: "a GPU from a resource claim", tmpl: withVLAN("          gpus: [{name: gpu1, deviceName: nvidia.com/A10}, {name: gpu2, claimName: gpu-claim, requestName: gpu}]\n", "", ""),
			want: []string{gate("vms.web.spec.template.spec.domain.devices.gpus.1.claimName: a GPU from a resource claim (DRA)", "GPUsWithDRA", "Alpha", "v1.6.3", "14:73")}},
		{name: "macvtap binding is discontinued", tmpl: "    spec:\n      domain:\n        devices:\n          interfaces: [{name: vlan, macvtap: {}, macAddress: \"02:00:00:00:01:01\"}]\n      networks: [{name: vlan, multus: {networkName: mvt}}]\n",
			want: []string{`vm-feature-gate vms.web.spec.template.spec.domain.devices.interfaces.0.macvtap: the macvtap interface binding is refused by KubeVirt v1.6.3: its feature gate Macvtap is discontinued; use the macvtap network binding plugin (binding: {name: macvtap}, registered in the KubeVirt configuration) @ clusters/edge-1/vms/web.yaml:11:37`}},
		{name: "binding plugin GA from v1.5", tmpl: "    spec:\n      domain:\n        devices:\n          interfaces: [{name: vlan, binding: {name: macvtap}, macAddress: \"02:00:00:00:01:01\"}]\n      networks: [{name: vlan, multus: {networkName: mvt}}]\n"},
		{name: "binding plugin gated in v1.4", kubevirt: `version: "v1.4.1"`, tmpl: "    spec:\n      domain:\n        devices:\n          interfaces: [{name: vlan, binding: {name: macvtap}, macAddress: \"02:00:00:00:01:01\"}]\n      networks: [{name: vlan, multus: {networkName: mvt}}]\n",
			want: []string{gate("vms.web.spec.template.spec.domain.devices.interfaces.0.binding: a network binding plugin", "NetworkBindingPlugins", "Beta", "v1.4.1", "11:37")}},
		{name: "passtBinding in v1.8", kubevirt: `version: "v1.8.1"`, tmpl: withVLAN("            - {name: default, passtBinding: {}}\n", "        - {name: default, pod: {}}\n", ""),
			want: []string{gate("vms.web.spec.template.spec.domain.devices.interfaces.1.passtBinding: the passt core binding (passtBinding)", "PasstBinding", "Beta", "v1.8.1", "14:31")}},
		{name: "containerPath in v1.8", kubevirt: `version: "v1.8.1"`, tmpl: withVLAN("", "", "      volumes:\n        - {name: tok, containerPath: {path: /var/run/secrets/tok}}\n"),
			want: []string{gate("vms.web.spec.template.spec.volumes.0.containerPath: a containerPath volume", "ContainerPathVolumes", "Alpha", "v1.8.1", "17:23")}},
		{name: "virtiofs on a configMap, gated in v1.7", kubevirt: `version: "v1.7.0"`, tmpl: withVLAN(virtiofsCM, "", virtiofsVol),
			want: []string{gate("vms.web.spec.template.spec.domain.devices.filesystems.0.name: virtiofs on a configMap, secret, serviceAccount or downwardAPI volume", "EnableVirtioFsConfigVolumes", "Alpha", "v1.7.0", "15:16")}},
		{name: "virtiofs on a configMap, the old gate in v1.6", kubevirt: "featureGates: ExperimentalVirtiofsSupport: true", tmpl: withVLAN(virtiofsCM, "", virtiofsVol)},
		{name: "virtiofs on a configMap, GA in v1.8", kubevirt: `version: "v1.8.1"`, tmpl: withVLAN(virtiofsCM, "", virtiofsVol)},
		{name: "two pod networks", tmpl: withVLAN("            - {name: a, masquerade: {}}\n            - {name: b, masquerade: {}}\n", "        - {name: a, pod: {}}\n        - {name: b, pod: {}}\n", ""),
			want: []string{`vm-network vms.web.spec.template.spec.networks.2.pod: more than one pod network: a VM has at most one (KubeVirt refuses the VM) @ clusters/edge-1/vms/web.yaml:18:21 clusters/edge-1/vms/web.yaml:19:21`}},
		{name: "masquerade on a Multus network", tmpl: "    spec:\n      domain:\n        devices:\n          interfaces: [{name: vlan, masquerade: {}}]\n      networks: [{name: vlan, multus: {networkName: vlan-100}}]\n",
			want: []string{`vm-network vms.web.spec.template.spec.domain.devices.interfaces.0.masquerade: interface "vlan": masquerade works only on the pod network (use bridge on a Multus network) @ clusters/edge-1/vms/web.yaml:11:37`}},
		{name: "v1alpha3", apiVersion: "kubevirt.io/v1alpha3",
			want: []string{`vm-api-version vms.web.apiVersion: kubevirt.io/v1alpha3 is the deprecated version of VirtualMachine: change apiVersion to kubevirt.io/v1 (the fields are the same) @ clusters/edge-1/vms/web.yaml:1:1`}},
	} {
		for _, noFast := range []bool{false, true} {
			name := tc.name
			if noFast {
				name += " (general path)"
			}
			t.Run(name, func(t *testing.T) {
				vm := webVM(tc.runStrategy, tc.tmpl)
				if tc.apiVersion != "" {
					vm = strings.Replace(vm, "kubevirt.io/v1", tc.apiVersion, 1)
				}
				r := load(t, map[string]string{
					"clusters/edge-1/vms/web.yaml": vm,
					"clusters/edge-1/cluster.cue":  edgeCluster(tc.kubevirt),
				}, noFast)
				var got []string
				for _, f := range findings(r) {
					// The rules of this file (the schema's findings depend on the schema of the version).
					for _, rule := range []string{"vm-feature-gate ", "vm-run-strategy ", "vm-network ", "vm-api-version "} {
						if strings.HasPrefix(f, rule) {
							got = append(got, f)
						}
					}
				}
				assert.Equal(t, tc.want, got, "VM:\n%s", vm)
			})
		}
	}
}

const virtiofsCM = "          filesystems:\n            - {name: cfg, virtiofs: {}}\n"
const virtiofsVol = "      volumes:\n        - {name: cfg, configMap: {name: app-config}}\n"
