package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildKustomize: what a cluster's kustomize folder does to `vmo-cue build`: its patches reach
// the rendered stack objects, its objects join the stack's, its VMs get MACs like the others; it
// may not rename a stack object nor change the operators' rights.
func TestBuildKustomize(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		check func(t *testing.T, objs []map[string]any)
		err   string
	}{{
		name: "a JSON6902 and a strategic-merge patch on the KubeVirt operator",
		files: map[string]string{
			"clusters/edge-1/kustomize/kustomization.yaml": `commonAnnotations: {team: virt}
patches:
- target: {kind: Deployment, name: virt-operator}
  patch: |
    - op: add
      path: /spec/template/spec/nodeSelector
      value: {node-role.kubernetes.io/infra: ""}
- target: {kind: Deployment, name: virt-operator}
  path: tolerations.yaml
`,
			"clusters/edge-1/kustomize/tolerations.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: virt-operator, namespace: kubevirt}
spec:
  template:
    spec:
      tolerations: [{key: infra, operator: Exists, effect: NoSchedule}]
`,
		},
		check: func(t *testing.T, objs []map[string]any) {
			d := find(objs, "Deployment", "virt-operator")
			require.NotNil(t, d)
			spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			assert.Equal(t, map[string]any{"node-role.kubernetes.io/infra": ""}, spec["nodeSelector"])
			assert.Equal(t, []any{map[string]any{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}}, spec["tolerations"])
			assert.Equal(t, "virt", d["metadata"].(map[string]any)["annotations"].(map[string]any)["team"])
			assert.NotContains(t, d["metadata"].(map[string]any)["annotations"], "config.kubernetes.io/origin")
			assert.Equal(t, "kubevirt", d["metadata"].(map[string]any)["labels"].(map[string]any)["vmo-cue.dev/component"])
		},
	}, {
		name: "extra objects and a VM",
		files: map[string]string{
			"clusters/edge-1/kustomize/kustomization.yaml": "resources: [cm.yaml, vm.yaml]\n",
			"clusters/edge-1/kustomize/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {a: b}\n",
			"clusters/edge-1/kustomize/vm.yaml": `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: cache}
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices: {interfaces: [{name: vlan, bridge: {}}]}
      networks: [{name: vlan, multus: {networkName: vlan-100}}]
`,
		},
		check: func(t *testing.T, objs []map[string]any) {
			cm := find(objs, "ConfigMap", "settings")
			require.NotNil(t, cm)
			assert.Equal(t, "edge-1", cm["metadata"].(map[string]any)["labels"].(map[string]any)["vmo-cue.dev/cluster"])
			vm := find(objs, "VirtualMachine", "cache")
			require.NotNil(t, vm)
			iface := vm["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["domain"].(map[string]any)["devices"].(map[string]any)["interfaces"].([]any)[0]
			assert.NotEmpty(t, iface.(map[string]any)["macAddress"], "a VM from kustomize gets a MAC")
			assert.Equal(t, 2, kinds(objs)["VirtualMachine"])
		},
	}, {
		name:  "a stack object moved",
		files: map[string]string{"clusters/edge-1/kustomize/kustomization.yaml": "namePrefix: x-\n"},
		err:   "cluster edge-1: kustomize: kustomize build clusters/edge-1/kustomize: a stack object became PriorityClass x-kubevirt-cluster-critical (and 37 more): a kustomization may patch vmo-cue's stack objects, not rename or move them",
	}, {
		name: "the operators' rights patched",
		files: map[string]string{"clusters/edge-1/kustomize/kustomization.yaml": `patches:
- target: {kind: ClusterRole, name: kubevirt-operator}
  patch: |
    - op: add
      path: /rules/-
      value: {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
`},
		err: "cluster edge-1: kustomize: clusters/edge-1/kustomize: the stack's ClusterRole ClusterRole kubevirt-operator may not be patched: the operators' rights are vmo-cue's",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, objs, stderr := buildCase(t, tt.files, "edge-1")
			if tt.err != "" {
				assert.Equal(t, exitError, code)
				assert.Contains(t, stderr, tt.err)
				return
			}
			require.Equal(t, 0, code, stderr)
			tt.check(t, objs)
		})
	}
}
