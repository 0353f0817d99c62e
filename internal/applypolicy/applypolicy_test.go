package applypolicy

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vmo-cue/vmo-cue/internal/settings"
)

func obj(api, kind, ns, name string, extra map[string]any) map[string]any {
	md := map[string]any{"name": name}
	if ns != "" {
		md["namespace"] = ns
	}
	o := map[string]any{"apiVersion": api, "kind": kind, "metadata": md}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

var adminRef = map[string]any{"roleRef": map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}}

func TestCheck(t *testing.T) {
	vmNS := map[string]bool{"shop": true}
	stackObj := obj("apps/v1", "DaemonSet", "kube-system", "kube-multus-ds", nil)
	stackObj["metadata"].(map[string]any)["labels"] = map[string]any{ComponentLabel: "multus"}
	permissive := Policy{Kinds: []GroupKind{{"rbac.authorization.k8s.io", "ClusterRoleBinding"}, {"storage.k8s.io", "StorageClass"}},
		Namespaces: []string{"monitoring", "kube-system"}, Secrets: true}
	tests := []struct {
		name   string
		policy Policy
		obj    map[string]any
		want   string // "" accepted
	}{
		{"a VM", Policy{}, obj("kubevirt.io/v1", "VirtualMachine", "shop", "web", nil), ""},
		{"a DataVolume elsewhere", Policy{}, obj("cdi.kubevirt.io/v1beta1", "DataVolume", "images", "ubuntu", nil), ""},
		{"a network", Policy{}, obj("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "vlans", "vlan-10", nil), ""},
		{"a snapshot class", Policy{}, obj("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", "", "ceph", nil), ""},
		{"a VM namespace", Policy{}, obj("v1", "Namespace", "", "shop", nil), ""},
		{"a ConfigMap with the VMs", Policy{}, obj("v1", "ConfigMap", "shop", "cloud-init", nil), ""},
		{"the stack's own objects", Policy{}, stackObj, ""},
		{"cluster-admin bound", permissive, obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "ops", adminRef),
			"rbac.authorization.k8s.io/ClusterRoleBinding ops binds cluster-admin: never applied from git"},
		{"cluster-admin bound in a namespace", permissive, obj("rbac.authorization.k8s.io/v1", "RoleBinding", "shop", "ops", adminRef),
			"rbac.authorization.k8s.io/RoleBinding shop/ops binds cluster-admin: never applied from git"},
		{"a Secret", Policy{}, obj("v1", "Secret", "shop", "db", nil),
			"Secret shop/db: Secrets are not applied from git unless the cluster allows them (policy: apply: secrets: true)"},
		{"a Secret allowed", permissive, obj("v1", "Secret", "shop", "db", nil), ""},
		{"kube-system", Policy{}, obj("kubevirt.io/v1", "VirtualMachine", "kube-system", "web", nil),
			`kubevirt.io/VirtualMachine kube-system/web is in kube-system: not applied from git unless listed (policy: apply: namespaces: ["kube-system"])`},
		{"kube-system listed", permissive, obj("v1", "ConfigMap", "kube-system", "x", nil), ""},
		{"another namespace", Policy{}, obj("v1", "ConfigMap", "monitoring", "rules", nil),
			"ConfigMap monitoring/rules: namespace monitoring holds none of the cluster's VMs and is not listed in policy: apply: namespaces"},
		{"another namespace listed", permissive, obj("v1", "ConfigMap", "monitoring", "rules", nil), ""},
		{"a StorageClass", Policy{}, obj("storage.k8s.io/v1", "StorageClass", "", "fast", nil),
			`storage.k8s.io/StorageClass fast: cluster-scoped kind storage.k8s.io/StorageClass is not applied from git unless listed (policy: apply: kinds: ["storage.k8s.io/StorageClass"])`},
		{"a StorageClass listed", permissive, obj("storage.k8s.io/v1", "StorageClass", "", "fast", nil), ""},
		{"another namespace", Policy{}, obj("v1", "Namespace", "", "monitoring", nil),
			`Namespace monitoring: cluster-scoped kind Namespace is not applied from git unless listed (policy: apply: kinds: ["Namespace"])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.policy.Check(tt.obj, vmNS)
			if tt.want == "" {
				assert.Nil(t, v)
				return
			}
			if assert.NotNil(t, v) {
				assert.Equal(t, tt.want, v.Message)
			}
		})
	}
}

func TestCheckImage(t *testing.T) {
	p := Policy{Registries: []string{"quay.io/kubevirt", "registry.example.com/"}}
	assert.Nil(t, p.CheckImage("quay.io/kubevirt/virt-operator:v1.6.3"))
	assert.Nil(t, p.CheckImage("registry.example.com/mirror/cdi-operator:v1.63.1"))
	assert.Equal(t, "image quay.io/kubevirtx/virt-operator:v1 is not from an allowed registry (policy: apply: registries: quay.io/kubevirt, registry.example.com/)",
		p.CheckImage("quay.io/kubevirtx/virt-operator:v1").Message, "a prefix is a path, not a string prefix")
	assert.NotNil(t, p.CheckImage("evil.example/quay.io/kubevirt/virt-operator:v1"))
	assert.Nil(t, Policy{}.CheckImage("anything/at:all"), "no registries listed: any")
}

func TestFromSettings(t *testing.T) {
	p := FromSettings(settings.ApplyPolicy{
		Kinds: []string{"storage.k8s.io/StorageClass", "ConfigMap"}, Namespaces: []string{"monitoring"},
		Secrets: true, Registries: []string{"quay.io"},
	})
	assert.Equal(t, Policy{Kinds: []GroupKind{{"storage.k8s.io", "StorageClass"}, {"", "ConfigMap"}},
		Namespaces: []string{"monitoring"}, Secrets: true, Registries: []string{"quay.io"}}, p)
}
