package reconciler

import (
	"strings"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// systemObject says why an object belongs to Kubernetes itself (or holds vmo-cue's own state), which
// prune never deletes, whatever an inventory lists and whatever the object carries; "" if it is not
// such an object. It goes by identity alone, so that nothing written into the cluster can change it.
//
// Contents of the kube-* namespaces are system objects even when vmo-cue applied them (the
// descheduler, Multus and the snapshot controller live in kube-system): switched off, they are kept
// and reported, for a person to delete.
func systemObject(id inventory.ID) string {
	core := id.Group == ""
	switch {
	case id.Namespace == inventory.Namespace:
		return "vmo-cue's own state, namespace " + id.Namespace
	case strings.HasPrefix(id.Namespace, "kube-"):
		return "in system namespace " + id.Namespace
	case core && id.Kind == "Namespace" && (strings.HasPrefix(id.Name, "kube-") || id.Name == "default"):
		return "system namespace " + id.Name
	case core && id.Kind == "Namespace" && id.Name == inventory.Namespace:
		return "the namespace of vmo-cue's own state"
	case id.Group == "rbac.authorization.k8s.io" && strings.HasPrefix(id.Name, "system:"):
		return "Kubernetes' own RBAC (system:*)"
	case id.Group == "rbac.authorization.k8s.io" && (id.Kind == "ClusterRole" || id.Kind == "ClusterRoleBinding") && defaultClusterRoles[id.Name]:
		return "Kubernetes' default " + id.Kind + " " + id.Name
	case core && id.Kind == "ConfigMap" && id.Name == "kube-root-ca.crt":
		return "published by Kubernetes in every namespace"
	case core && id.Kind == "ServiceAccount" && id.Name == "default":
		return "every namespace's default ServiceAccount"
	case id.Namespace == "default" && id.Name == "kubernetes" && (core && (id.Kind == "Service" || id.Kind == "Endpoints") || id.Group == "discovery.k8s.io"):
		return "the API server's own " + id.Kind
	case core && id.Kind == "Node":
		return "a node"
	case id.Group == "scheduling.k8s.io" && id.Kind == "PriorityClass" && strings.HasPrefix(id.Name, "system-"):
		return "Kubernetes' own PriorityClass (system-*)"
	case id.Group == "apiregistration.k8s.io" && id.Kind == "APIService":
		return "an APIService: deleting it takes an API group away"
	case id.Group == "flowcontrol.apiserver.k8s.io" && (id.Name == "exempt" || id.Name == "catch-all" || strings.HasPrefix(id.Name, "system-")):
		return "the API server's own flow control"
	}
	return ""
}

// defaultClusterRoles are the user-facing roles Kubernetes creates (and binds) in every cluster.
var defaultClusterRoles = map[string]bool{"cluster-admin": true, "admin": true, "edit": true, "view": true}
