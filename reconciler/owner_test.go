package reconciler

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// TestSystemObject: what prune never deletes, whatever an inventory lists.
func TestSystemObject(t *testing.T) {
	rbac := func(kind, name string) inventory.ID {
		return inventory.ID{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: kind, Name: name}
	}
	core := func(kind, ns, name string) inventory.ID {
		return inventory.ID{Version: "v1", Kind: kind, Namespace: ns, Name: name}
	}
	for _, tc := range []struct {
		id   inventory.ID
		want string
	}{
		{rbac("ClusterRole", "cluster-admin"), "Kubernetes' default ClusterRole cluster-admin"},
		{rbac("ClusterRoleBinding", "cluster-admin"), "Kubernetes' default ClusterRoleBinding cluster-admin"},
		{rbac("ClusterRole", "view"), "Kubernetes' default ClusterRole view"},
		{rbac("ClusterRole", "system:controller:namespace-controller"), "Kubernetes' own RBAC (system:*)"},
		{rbac("ClusterRoleBinding", "system:node-proxier"), "Kubernetes' own RBAC (system:*)"},
		{inventory.ID{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding", Namespace: "shop", Name: "system:deployer"}, "Kubernetes' own RBAC (system:*)"},
		{core("Secret", "kube-system", "precious-secret"), "in system namespace kube-system"},
		{inventory.ID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}, "in system namespace kube-system"},
		{core("ConfigMap", "kube-public", "cluster-info"), "in system namespace kube-public"},
		{inventory.ID{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", Namespace: "kube-node-lease", Name: "node-1"}, "in system namespace kube-node-lease"},
		{core("ConfigMap", "vmo-cue-system", "vmo-cue-inventory"), "vmo-cue's own state, namespace vmo-cue-system"},
		{core("Namespace", "", "kube-system"), "system namespace kube-system"},
		{core("Namespace", "", "kube-node-lease"), "system namespace kube-node-lease"},
		{core("Namespace", "", "default"), "system namespace default"},
		{core("Namespace", "", "vmo-cue-system"), "the namespace of vmo-cue's own state"},
		{core("ConfigMap", "shop", "kube-root-ca.crt"), "published by Kubernetes in every namespace"},
		{core("ServiceAccount", "shop", "default"), "every namespace's default ServiceAccount"},
		{core("Service", "default", "kubernetes"), "the API server's own Service"},
		{inventory.ID{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Namespace: "default", Name: "kubernetes"}, "the API server's own EndpointSlice"},
		{core("Node", "", "node-1"), "a node"},
		{inventory.ID{Group: "scheduling.k8s.io", Version: "v1", Kind: "PriorityClass", Name: "system-node-critical"}, "Kubernetes' own PriorityClass (system-*)"},
		{inventory.ID{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService", Name: "v1.apps"}, "an APIService: deleting it takes an API group away"},
		{inventory.ID{Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Kind: "FlowSchema", Name: "exempt"}, "the API server's own flow control"},

		// vmo-cue's own objects outside the system namespaces are not system objects.
		{core("ConfigMap", "default", "precious-cm"), ""},
		{core("Namespace", "", "kubevirt"), ""},
		{core("Namespace", "", "kubernetes-dashboard"), ""}, // not kube-*
		{core("ServiceAccount", "kubevirt", "kubevirt-operator"), ""},
		{core("Service", "vm-dashboard", "kubernetes"), ""},
		{rbac("ClusterRole", "kubevirt-operator"), ""},
		{rbac("ClusterRole", "kubevirt.io:operator"), ""},
		{inventory.ID{Group: "scheduling.k8s.io", Version: "v1", Kind: "PriorityClass", Name: "kubevirt-cluster-critical"}, ""},
		{inventory.ID{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine", Namespace: "default", Name: "web"}, ""},
	} {
		t.Run(tc.id.String(), func(t *testing.T) {
			assert.Equal(t, tc.want, systemObject(tc.id))
		})
	}
}

// TestNotOurs: each proof of ownership on the live object, and every failing one named.
func TestNotOurs(t *testing.T) {
	ours := []metav1.ManagedFieldsEntry{{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply}}
	marks := map[string]string{inventory.LabelFleet: "shops", inventory.LabelCluster: "shop-1", "app": "pos"}
	obj := func(labels map[string]string, managed []metav1.ManagedFieldsEntry, uid string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Labels: labels, ManagedFields: managed, UID: types.UID("uid-" + uid)}}
	}
	entry := inventory.Entry{UID: "uid-1"}
	for _, tc := range []struct {
		name  string
		obj   *metav1.PartialObjectMetadata
		entry inventory.Entry
		want  string
	}{
		{"every proof holds", obj(marks, ours, "1"), entry, ""},
		{"no marks", obj(map[string]string{"app.kubernetes.io/managed-by": "vmo-cue"}, ours, "1"), entry,
			"no label vmo-cue.dev/fleet; no label vmo-cue.dev/cluster"},
		{"another cluster's marks", obj(map[string]string{inventory.LabelFleet: "shops", inventory.LabelCluster: "shop-2"}, ours, "1"), entry,
			`label vmo-cue.dev/cluster is "shop-2", not "shop-1"`},
		{"another fleet's marks", obj(map[string]string{inventory.LabelFleet: "factories", inventory.LabelCluster: "shop-1"}, ours, "1"), entry,
			`label vmo-cue.dev/fleet is "factories", not "shops"`},
		{"only another manager's fields", obj(marks, []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}, "1"), entry,
			"no managedFields entry of field manager vmo-cue"},
		{"vmo-cue's name on an Update entry", obj(marks, []metav1.ManagedFieldsEntry{{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationUpdate}}, "1"), entry,
			"no managedFields entry of field manager vmo-cue"},
		{"made again since", obj(marks, ours, "2"), entry,
			"UID uid-2 is not the one vmo-cue applied (uid-1): deleted and made again by someone"},
		{"no UID recorded", obj(marks, ours, "1"), inventory.Entry{},
			"no UID recorded in the inventory (an entry of an older vmo-cue, or never applied)"},
		{"a forged entry for a hand-made object", obj(nil, []metav1.ManagedFieldsEntry{{Manager: "kubectl-create", Operation: metav1.ManagedFieldsOperationUpdate}}, "1"), entry,
			"no label vmo-cue.dev/fleet; no label vmo-cue.dev/cluster; no managedFields entry of field manager vmo-cue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, notOurs(tc.obj, tc.entry, "shops", "shop-1"))
		})
	}
}

// TestCheckOwner: an API server recorded for another fleet or cluster is refused, naming both.
func TestCheckOwner(t *testing.T) {
	id := func(fleet, cluster string) *inventory.Identity {
		return &inventory.Identity{Fleet: fleet, Cluster: cluster}
	}
	inv := func(fleet, cluster string) *inventory.Inventory {
		return &inventory.Inventory{Fleet: fleet, Cluster: cluster}
	}
	for _, tc := range []struct {
		name string
		id   *inventory.Identity
		inv  *inventory.Inventory
		want string
	}{
		{"nothing recorded: a first apply", nil, nil, ""},
		{"ours", id("shops", "dc-east"), inv("shops", "dc-east"), ""},
		{"ours, inventory of an older vmo-cue", nil, inv("", "dc-east"), ""},
		{"another cluster of the fleet", id("shops", "edge-store-1"), nil,
			"cluster identity mismatch: this API server belongs to fleet shops cluster edge-store-1; refusing to apply cluster dc-east (use --adopt to take it over)"},
		{"another fleet", id("factories", "dc-east"), nil,
			"cluster identity mismatch: this API server belongs to fleet factories cluster dc-east; refusing to apply fleet shops cluster dc-east (use --adopt to take it over)"},
		{"no identity, another cluster's inventory of an older vmo-cue", nil, inv("", "edge-store-1"),
			"cluster identity mismatch: the inventory vmo-cue-system/vmo-cue-inventory belongs to cluster edge-store-1; refusing to apply fleet shops cluster dc-east (use --adopt to take it over)"},
		{"our identity, another cluster's inventory", id("shops", "dc-east"), inv("shops", "edge-store-1"),
			"cluster identity mismatch: the inventory vmo-cue-system/vmo-cue-inventory belongs to fleet shops cluster edge-store-1; refusing to apply cluster dc-east (use --adopt to take it over)"},
		{"an identity without names", id("", ""), nil,
			`cluster identity mismatch: this API server belongs to cluster ""; refusing to apply fleet shops cluster dc-east (use --adopt to take it over)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkOwner("shops", "dc-east", tc.id, tc.inv)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
			assert.True(t, errors.Is(err, ErrIdentityMismatch))
		})
	}
}
