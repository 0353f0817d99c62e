// Package applypolicy is the allow-list of what git may apply to a cluster (`policy: apply:` in the
// fleet's defaults and in each cluster): which kinds, by group and kind, and which namespaces a cluster
// accepts from its repository folder, whether Secrets are accepted, and from which registries operator
// images may come. A GitOps repository is a path into every cluster: this bounds what a commit can do.
//
// The objects vmo-cue's own stack templates render (labelled vmo-cue.dev/component) are accepted as the
// stack; everything else must pass Check. The defaults accept VMs, DataVolumes, instance types and
// preferences (the VM family), NetworkAttachmentDefinitions, VolumeSnapshotClasses, the Namespaces VMs live in, and namespaced objects
// in the VM namespaces; they refuse anything in kube-system, bindings to cluster-admin, Secrets unless
// allowed, and cluster-scoped objects of other kinds unless their kind is allowed.
package applypolicy

import (
	"fmt"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// GroupKind names a kind: "kubevirt.io/VirtualMachine"; a core kind is "Secret" (or "/Secret").
type GroupKind struct{ Group, Kind string }

func (g GroupKind) String() string {
	if g.Group == "" {
		return g.Kind
	}
	return g.Group + "/" + g.Kind
}

// ParseGroupKind reads "group/Kind", "/Kind" or "Kind".
func ParseGroupKind(s string) GroupKind {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return GroupKind{Group: s[:i], Kind: s[i+1:]}
	}
	return GroupKind{Kind: s}
}

// DefaultKinds are accepted anywhere the namespace rules allow.
var DefaultKinds = []GroupKind{
	{"kubevirt.io", "VirtualMachine"},
	{"cdi.kubevirt.io", "DataVolume"},
	{"k8s.cni.cncf.io", "NetworkAttachmentDefinition"},
	{"snapshot.storage.k8s.io", "VolumeSnapshotClass"},
	// The VM family a cluster folder may hold besides VMs (instance types and preferences, namespaced
	// and cluster-wide): part of the model like DataVolumes.
	{"instancetype.kubevirt.io", "VirtualMachineInstancetype"},
	{"instancetype.kubevirt.io", "VirtualMachineClusterInstancetype"},
	{"instancetype.kubevirt.io", "VirtualMachinePreference"},
	{"instancetype.kubevirt.io", "VirtualMachineClusterPreference"},
}

// ComponentLabel marks the objects of vmo-cue's stack templates.
const ComponentLabel = "vmo-cue.dev/component"

// Policy is a cluster's resolved `policy: apply:`.
type Policy struct {
	// Kinds are accepted beyond DefaultKinds (cluster-scoped ones included).
	Kinds []GroupKind
	// Namespaces are accepted for namespaced objects beyond the VM namespaces (kube-system included,
	// when listed).
	Namespaces []string
	// Secrets accepts Secrets (in accepted namespaces).
	Secrets bool
	// Registries, when set, bound operator images: each must be in one of them ("quay.io/kubevirt"
	// accepts quay.io/kubevirt/virt-operator:v1.6.3). Unset: any registry.
	Registries []string
}

// FromSettings reads the policy from a cluster's settings (policy.apply).
func FromSettings(ap settings.ApplyPolicy) Policy {
	p := Policy{Secrets: ap.Secrets, Registries: ap.Registries, Namespaces: ap.Namespaces}
	for _, k := range ap.Kinds {
		p.Kinds = append(p.Kinds, ParseGroupKind(k))
	}
	return p
}

// Violation is an object or image the policy refuses.
type Violation struct {
	// Rule is the part of the policy broken: "kind", "namespace", "secret", "cluster-admin",
	// "registry".
	Rule    string
	Message string
}

func (v *Violation) Error() string { return v.Message }

// Check returns nil when the policy accepts obj, given the namespaces the cluster's VMs live in.
func (p Policy) Check(obj map[string]any, vmNamespaces map[string]bool) *Violation {
	md, _ := obj["metadata"].(map[string]any)
	if labels, _ := md["labels"].(map[string]any); labels[ComponentLabel] != nil && labels[ComponentLabel] != "" {
		return nil // the stack's own objects
	}
	api, _ := obj["apiVersion"].(string)
	group := ""
	if i := strings.LastIndex(api, "/"); i >= 0 {
		group = api[:i]
	}
	kind, _ := obj["kind"].(string)
	gk := GroupKind{Group: group, Kind: kind}
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	id := gk.String() + " " + name
	if ns != "" {
		id = gk.String() + " " + ns + "/" + name
	}
	nsListed := contains(p.Namespaces, ns)
	switch {
	case isBindingTo(obj, gk, "cluster-admin"):
		return &Violation{"cluster-admin", fmt.Sprintf("%s binds cluster-admin: never applied from git", id)}
	case gk == GroupKind{Kind: "Secret"} && !p.Secrets:
		return &Violation{"secret", fmt.Sprintf("%s: Secrets are not applied from git unless the cluster allows them (policy: apply: secrets: true)", id)}
	case ns == "kube-system" && !nsListed:
		return &Violation{"namespace", fmt.Sprintf("%s is in kube-system: not applied from git unless listed (policy: apply: namespaces: [\"kube-system\"])", id)}
	}
	if gk == (GroupKind{Kind: "Namespace"}) && (vmNamespaces[name] || contains(p.Namespaces, name)) {
		return nil
	}
	allowedKind := containsGK(DefaultKinds, gk) || containsGK(p.Kinds, gk)
	if ns != "" {
		if vmNamespaces[ns] || nsListed || (allowedKind && ns != "kube-system") {
			return nil
		}
		return &Violation{"namespace", fmt.Sprintf("%s: namespace %s holds none of the cluster's VMs and is not listed in policy: apply: namespaces", id, ns)}
	}
	if allowedKind {
		return nil
	}
	return &Violation{"kind", fmt.Sprintf("%s: cluster-scoped kind %s is not applied from git unless listed (policy: apply: kinds: [%q])", id, gk, gk.String())}
}

// isBindingTo says whether obj is a RoleBinding or ClusterRoleBinding granting role.
func isBindingTo(obj map[string]any, gk GroupKind, role string) bool {
	if gk.Group != "rbac.authorization.k8s.io" || (gk.Kind != "ClusterRoleBinding" && gk.Kind != "RoleBinding") {
		return false
	}
	ref, _ := obj["roleRef"].(map[string]any)
	return ref["kind"] == "ClusterRole" && ref["name"] == role
}

// CheckImage returns nil when the image comes from an allowed registry (or none is listed).
func (p Policy) CheckImage(image string) *Violation {
	if len(p.Registries) == 0 {
		return nil
	}
	for _, r := range p.Registries {
		r = strings.TrimSuffix(r, "/")
		if strings.HasPrefix(image, r+"/") {
			return nil
		}
	}
	return &Violation{"registry", fmt.Sprintf("image %s is not from an allowed registry (policy: apply: registries: %s)", image, strings.Join(p.Registries, ", "))}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func containsGK(l []GroupKind, g GroupKind) bool {
	for _, x := range l {
		if x == g {
			return true
		}
	}
	return false
}
