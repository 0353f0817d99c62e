package validate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const macVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - name: vlan
              bridge: {}
              macAddress: "MAC"
      networks:
        - name: vlan
          multus: {networkName: vlan-100}
`

// TestSettings: what validate checks of a cluster's resolved settings (layered over
// schemas.SettingsDefaults and fleet.defaults), each finding at the line that set the value.
func TestSettings(t *testing.T) {
	cluster := func(extra string) map[string]string {
		return map[string]string{"clusters/edge-1/cluster.cue": "package fleet\n\ncluster: {\n\tname: \"edge-1\"\n\tkind: \"edge\"\n" +
			"\tstack: multus: networks: \"vlan-100\": {vlan: 100}\n" + extra + "}\n"}
	}
	with := func(files map[string]string, path, text string) map[string]string {
		files[path] = text
		return files
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{{
		name:  "the defaults alone",
		files: cluster(""),
	}, {
		name:  "an unsupported KubeVirt version",
		files: cluster("\tstack: kubevirt: version: \"v1.2.0\"\n"),
		want: []string{
			"kubevirt-version cluster.stack.kubevirt.version: KubeVirt v1.2.0 is not supported: the feature gate table knows v1.4, v1.5, v1.6, v1.7, v1.8 @ clusters/edge-1/cluster.cue:7:28",
		},
	}, {
		name:  "an unknown feature gate, with a suggestion",
		files: cluster("\tstack: kubevirt: featureGates: Snapshott: true\n"),
		want: []string{
			`feature-gate cluster.stack.kubevirt.featureGates.Snapshott: unknown feature gate "Snapshott" for KubeVirt v1.6.3 (did you mean "Snapshot"?): the operator would ignore it silently @ clusters/edge-1/cluster.cue:7:44`,
		},
	}, {
		name:  "a MAC prefix that is not locally administered unicast",
		files: cluster("\tpolicy: mac: prefixes: [\"0E:FA\", \"01\"]\n"),
		want: []string{
			`mac-policy cluster.policy.mac.prefixes.1: MAC prefix "01": the first octet must be locally administered unicast (second hex digit 2, 6, A or E) @ clusters/edge-1/cluster.cue:7:35`,
			"mac-prefix vms.web.spec.template.spec.domain.devices.interfaces.0.macAddress: MAC 02:00:00:00:01:01 is outside the allowed prefixes 0E:FA @ clusters/edge-1/vms/web.yaml:16:15",
		},
	}, {
		name: "an empty prefix list is the default policy (policies.DefaultMACPolicy)",
		files: with(cluster("\tpolicy: mac: prefixes: []\n"), "clusters/edge-1/vms/web.yaml",
			strings.Replace(macVM, "MAC", "12:00:00:00:01:01", 1)),
		want: []string{
			"mac-prefix vms.web.spec.template.spec.domain.devices.interfaces.0.macAddress: MAC 12:00:00:00:01:01 is outside the allowed prefixes 02, 06, 0A, 0E @ clusters/edge-1/vms/web.yaml:15:15",
		},
	}, {
		name: "the cluster's prefixes, not the default's",
		files: with(cluster("\tpolicy: mac: prefixes: [\"0E:FA\"]\n"), "clusters/edge-1/vms/web.yaml",
			strings.Replace(macVM, "MAC", "02:00:00:00:01:01", 1)),
		want: []string{
			"mac-prefix vms.web.spec.template.spec.domain.devices.interfaces.0.macAddress: MAC 02:00:00:00:01:01 is outside the allowed prefixes 0E:FA @ clusters/edge-1/vms/web.yaml:15:15",
		},
	}, {
		name: "any locally administered MAC",
		files: with(cluster("\tpolicy: mac: allow: \"locallyAdministered\"\n"), "clusters/edge-1/vms/web.yaml",
			strings.Replace(macVM, "MAC", "12:00:00:00:01:01", 1)),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, noFast := range []bool{false, true} {
				assert.Equal(t, tc.want, findings(load(t, tc.files, noFast)), "no fast path: %v", noFast)
			}
		})
	}
}
