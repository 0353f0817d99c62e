package validate

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// sources are the fleet's files as a person wrote them, to place findings on them.
type sources struct {
	root    []fleetfs.File
	written map[string]bool
	// own are each cluster's CUE files, by cluster folder.
	own map[string][]fleetfs.File
}

func newSources(repo *fleetfs.Repo) *sources {
	s := &sources{root: repo.CUE, written: map[string]bool{}, own: map[string][]fleetfs.File{}}
	for _, f := range repo.CUE {
		s.written[f.Path] = true
	}
	for _, c := range repo.Clusters {
		s.own[c.Dir] = c.CUE
		for _, f := range c.CUE {
			s.written[f.Path] = true
		}
		for _, f := range c.YAML {
			s.written[f.Path] = true
		}
	}
	return s
}

// vmPositions is where the value at path of a VM was written: the value's own position when a person
// wrote it in the fleet, else (a CUE VM's name taken from its key, a field the schema fills in) where
// the VM's key is declared in its cluster's files or the shared ones.
func (c *Cluster) vmPositions(vm *VM, path ...string) []diag.Position {
	p := vm.Pos(path...)
	if c.src == nil || c.src.written[p.File] || vm.FromYAML || vm.Key == "" {
		return []diag.Position{p}
	}
	decls := VMDecls(c.src.own[c.Dir], vm.Key)
	if len(decls) == 0 {
		decls = VMDecls(c.src.root, vm.Key)
	}
	if len(decls) == 0 {
		return []diag.Position{p}
	}
	out := make([]diag.Position, len(decls))
	for i, d := range decls {
		out[i] = d.Key
	}
	return out
}

// checkVMIdentity refuses a name or namespace the API server would refuse (DNS-1123 labels, checked
// with the API machinery's own rule) and a namespace reserved for the system.
func checkVMIdentity(c *Cluster, vm *VM) {
	if errs := validation.IsDNS1123Label(vm.Name); len(errs) > 0 {
		c.Diags.Errorf("vm-name", vm.Path("metadata", "name"), c.vmPositions(vm, "metadata", "name"),
			"VirtualMachine name %q is not a DNS-1123 label: %s", vm.Name, strings.Join(errs, "; "))
	}
	own := vm.VM.Namespace()
	if own != "" {
		if errs := validation.IsDNS1123Label(own); len(errs) > 0 {
			c.Diags.Errorf("vm-namespace", vm.Path("metadata", "namespace"), c.vmPositions(vm, "metadata", "namespace"),
				"VirtualMachine namespace %q is not a DNS-1123 label: %s", own, strings.Join(errs, "; "))
			return
		}
	}
	if !isSystemNamespace(vm.Namespace) || c.allowsSystem(vm.Namespace) {
		return
	}
	pos := c.vmPositions(vm, "metadata", "namespace")
	if own == "" {
		// The namespace comes from the cluster's `namespace` setting.
		pos = append(c.vmPositions(vm, "metadata", "name"), c.positions([]string{"namespace"})...)
	}
	c.Diags.Errorf("system-namespace", vm.Path("metadata", "namespace"), pos,
		"VirtualMachine %s/%s is in system namespace %s: %s", vm.Namespace, vm.Name, vm.Namespace, allowHint(c, vm.Namespace))
}

// checkNetworkNamespaces refuses Multus networks in a namespace reserved for the system.
func checkNetworkNamespaces(c *Cluster) {
	multus := &c.Settings.Stack.Multus
	if !multus.On() {
		return
	}
	names := make([]string, 0, len(multus.Networks))
	for name := range multus.Networks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ns := namespaceOf(multus.Networks[name])
		if isSystemNamespace(ns) && !c.allowsSystem(ns) {
			c.errorAt("system-namespace", []string{"stack", "multus", "networks", name, "namespace"},
				"Multus network %q is in system namespace %s: %s", name, ns, allowHint(c, ns))
		}
	}
}

// isSystemNamespace reports the namespaces of the cluster itself (kube-system, kube-public,
// kube-node-lease and any other kube-*) and vmo-cue's own (vmo-cue-system, reconciler/inventory).
func isSystemNamespace(ns string) bool {
	return strings.HasPrefix(ns, "kube-") || ns == "vmo-cue-system"
}

// allowsSystem reports whether the cluster's policy lists a system namespace in
// policy.namespaces.allowSystem.
func (c *Cluster) allowsSystem(ns string) bool {
	return slices.Contains(c.Settings.Policy.Namespaces.AllowSystem, ns)
}

func allowHint(c *Cluster, ns string) string {
	return fmt.Sprintf("use a namespace of its own, or allow this one in cluster %s with `policy: namespaces: allowSystem: [%q]`", c.Name, ns)
}

// clusterSet are the fields of a VM that the API server or KubeVirt write. `kubectl get -o yaml`
// output pasted into git carries them; applied verbatim they break the VM or its apply.
// `creationTimestamp: null` and `status: {}` (what `virtctl create vm` prints) are accepted: a null or
// empty value is never refused.
var clusterSet = []struct {
	path []string
	why  string
}{
	{[]string{"metadata", "uid"}, "an apply carrying another object's UID is refused"},
	{[]string{"metadata", "resourceVersion"}, "a stale resourceVersion makes every apply fail with a conflict"},
	{[]string{"metadata", "generation"}, "the API server counts the VM's changes in it"},
	{[]string{"metadata", "creationTimestamp"}, "the API server sets it when the VM is created; `creationTimestamp: null` is accepted"},
	{[]string{"metadata", "selfLink"}, "it is deprecated and never stored"},
	{[]string{"metadata", "managedFields"}, "an apply that carries it is refused"},
	{[]string{"metadata", "ownerReferences"}, "a dangling owner reference lets the garbage collector delete the VM"},
	{[]string{"metadata", "finalizers"}, "a finalizer no controller removes keeps the VM from ever being deleted"},
	{[]string{"metadata", "deletionTimestamp"}, "it marks a VM being deleted"},
	{[]string{"metadata", "deletionGracePeriodSeconds"}, "it is set while a VM is being deleted"},
	{[]string{"status"}, "KubeVirt writes it and an apply never changes it; `status: {}` is accepted"},
}

// checkClusterSetFields refuses the fields of clusterSet, each at its line.
func checkClusterSetFields(c *Cluster, vm *VM) {
	for _, f := range clusterSet {
		v := get(vm.Object, f.path...)
		if isEmpty(v) {
			continue
		}
		who := "the cluster"
		if f.path[0] == "status" {
			who = "KubeVirt"
		}
		name := strings.Join(f.path, ".")
		c.Diags.Errorf("vm-cluster-field", vm.Path(f.path...), c.vmPositions(vm, f.path...),
			"%s is set by %s, not git: remove it (%s)", name, who, f.why)
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}
