package validate

import (
	"strconv"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// VLAN filtering (stack.vlanFiltering): the nodes' bridge passes to VMs only the VLANs listed. The list
// defaults to the VLANs of the cluster's Multus networks on that bridge (internal/resolve derives it),
// so it is never typed twice; a VM on a network whose VLAN a written list does not pass is an error.

// vlanSet is a set of VLANs from IDs and "a-b" ranges.
type vlanSet [][2]int

func parseVLANs(list []settings.VLAN) vlanSet {
	var s vlanSet
	for _, x := range list {
		if lo, hi, ok := x.Bounds(); ok {
			s = append(s, [2]int{lo, hi})
		}
	}
	return s
}

func (s vlanSet) has(v int) bool {
	for _, r := range s {
		if v >= r[0] && v <= r[1] {
			return true
		}
	}
	return false
}

func (s vlanSet) String() string {
	if len(s) == 0 {
		return "none"
	}
	parts := make([]string, len(s))
	for i, r := range s {
		parts[i] = strconv.Itoa(r[0])
		if r[1] != r[0] {
			parts[i] += "-" + strconv.Itoa(r[1])
		}
	}
	return strings.Join(parts, ", ")
}

// checkVLANFiltering refuses a VM network on a VLAN the filtering bridge does not pass, at the VM's
// line and at the allowedVlans setting.
func checkVLANFiltering(c *Cluster) {
	if !c.Declared {
		return
	}
	vf := &c.Settings.Stack.VLANFiltering
	if !vf.On() || vf.AllowedVlans == nil {
		// Unset, the list is derived from the bridge networks' VLANs (resolve.AllowedVLANs): it
		// passes every VLAN a VM's bridge network is on, and its entries are the networks' valid IDs.
		return
	}
	bridge := vf.Bridge
	allowed := parseVLANs(vf.AllowedVlans)
	for i, r := range allowed {
		if r[0] > r[1] || r[0] < 1 || r[1] > 4094 {
			c.errorAt("vlan-filtering", []string{"stack", "vlanFiltering", "allowedVlans", strconv.Itoa(i)}, "VLAN range %d-%d: want first <= last, within 1-4094", r[0], r[1])
		}
	}
	nets := c.Settings.Stack.Multus.Networks
	// A list's own position is its schema's: its first element is where it was written.
	settingAt := c.positions([]string{"stack", "vlanFiltering", "allowedVlans", "0"})
	for _, vm := range c.VMs {
		vnets, _ := get(vm.Object, "spec", "template", "spec", "networks").([]any)
		for i, n := range vnets {
			nm, _ := n.(map[string]any)
			ref, _ := get(nm, "multus", "networkName").(string)
			if ref == "" {
				continue
			}
			ns, name := vm.Namespace, ref
			if a, b, ok := strings.Cut(ref, "/"); ok {
				ns, name = a, b
			}
			decl, declared := nets[name]
			if !declared {
				continue // undeclared: checkNetworkRef reports it
			}
			if namespaceOf(decl) != ns {
				continue
			}
			b, vlan, ok := decl.BridgeVLAN()
			if !ok || b != bridge || vlan == 0 || allowed.has(vlan) {
				continue
			}
			at := []string{"spec", "template", "spec", "networks", strconv.Itoa(i), "multus", "networkName"}
			pos := append([]diag.Position{vm.Pos(at...)}, settingAt...)
			c.Diags.Errorf("vlan-filtering", vm.Path(at...), pos,
				"network %s is on VLAN %d of bridge %s, which passes only VLANs %s (stack.vlanFiltering.allowedVlans): add %d there, or leave allowedVlans unset to pass every Multus network's VLAN",
				diag.Name(ns+"/"+name), vlan, bridge, allowed, vlan)
		}
	}
}
