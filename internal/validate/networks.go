package validate

import (
	"strconv"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// The kinds of Multus network a cluster declares (schemas.#Network, `type`) and the interface
// bindings each takes: KubeVirt attaches an SR-IOV VF only with `sriov: {}`, a macvtap link only
// with the macvtap binding plugin (or the discontinued `macvtap: {}`), and the others (bridge VLAN,
// macvlan, ptp, OVN-Kubernetes layer2/localnet) with `bridge: {}`.

// declaredNetwork returns the declaration of the Multus network ref (as a VM names it), if the
// cluster declares it.
func declaredNetwork(c *Cluster, vm *VM, ref string) *settings.Network {
	ns, name := vm.Namespace, ref
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		ns, name = ref[:i], ref[i+1:]
	}
	decl, ok := c.Settings.Stack.Multus.Networks[name]
	if !ok || namespaceOf(decl) != ns {
		return nil
	}
	return &decl
}

// namespaceOf is the namespace of a declared network's NetworkAttachmentDefinition.
func namespaceOf(n settings.Network) string {
	if n.Namespace == "" {
		return "default"
	}
	return n.Namespace
}

// binding names how an interface is attached: bridge, sriov, macvtap (the plugin or the
// discontinued binding), masquerade, ..., or "plugin <name>" for another binding plugin.
func binding(im map[string]any) string {
	if name := getStr(im, "binding", "name"); name != "" {
		if name == "macvtap" {
			return "macvtap"
		}
		return "plugin " + name
	}
	for _, b := range []string{"bridge", "sriov", "macvtap", "masquerade", "passt", "passtBinding", "slirp"} {
		if im[b] != nil {
			return b
		}
	}
	return ""
}

// needsMAC: the interface puts the VM's MAC on a layer-2 segment others see (every Multus network
// but ptp, which is routed), so it must be stable and unique. An undeclared network (an error of its
// own) is judged by the binding alone.
func needsMAC(im map[string]any, multus bool, decl *settings.Network) bool {
	if !multus || decl != nil && decl.Kind() == "ptp" {
		return false
	}
	switch binding(im) {
	case "bridge", "sriov", "macvtap":
		return true
	}
	return false
}

// wants is the binding each network type takes, as a finding spells it.
var wants = map[string]string{
	"sriov":   "sriov: {}",
	"macvtap": "the macvtap binding plugin, binding: {name: macvtap}",
}

// checkBinding refuses an interface whose binding its declared network's type does not take.
func checkBinding(c *Cluster, vm *VM, i int, im map[string]any, netRef string, decl *settings.Network) {
	if decl == nil {
		return
	}
	typ, b := decl.Kind(), binding(im)
	if b == "" || b == "masquerade" {
		return // no binding (KubeVirt defaults it) or masquerade (refused on Multus networks elsewhere)
	}
	at := tmplSpec("domain", "devices", "interfaces", strconv.Itoa(i))
	if k := strings.Fields(b)[0]; im[k] != nil {
		at = append(at, k)
	} else {
		at = append(at, "binding")
	}
	want, special := wants[typ]
	switch {
	case special && b != typ:
		c.Diags.Errorf("vm-network", vm.Path(at...), []diag.Position{vm.Pos(at...)},
			"interface %q is attached with %s to network %q of type %s, which takes %s", im["name"], b, netRef, typ, want)
	case !special && (b == "sriov" || b == "macvtap"):
		c.Diags.Errorf("vm-network", vm.Path(at...), []diag.Position{vm.Pos(at...)},
			"interface %q is attached with %s to network %q of type %s, which takes bridge: {} (%s needs a network of type %s)", im["name"], b, netRef, typ, b, b)
	}
}
