package validate

import (
	"sort"
	"strconv"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/schema"
)

// VLAN filtering (stack.vlanFiltering): the nodes' bridge passes to VMs only the VLANs listed. The list
// defaults to the VLANs of the cluster's Multus networks on that bridge, so it is never typed twice; a
// VM on a network whose VLAN the bridge does not pass is an error.

// defaultBridge is the bridge a Multus network without `bridge` uses (cue/multus.cue).
const defaultBridge = "br0"

// bridgeVLAN is a Multus network's bridge and VLAN, when it is a bridge CNI network.
func bridgeVLAN(decl map[string]any) (bridge string, vlan int, ok bool) {
	for _, k := range []string{"type", "kind"} {
		if t, set := decl[k].(string); set && t != "bridge" {
			return "", 0, false // another network kind (SR-IOV, macvlan, ...): not on the bridge
		}
	}
	f, isNum := schema.Number(decl["vlan"])
	if !isNum {
		return "", 0, false
	}
	bridge, _ = decl["bridge"].(string)
	if bridge == "" {
		bridge = defaultBridge
	}
	return bridge, int(f), true
}

// resolveVLANFiltering derives allowedVlans from the Multus networks when no layer sets it.
func resolveVLANFiltering(c *Cluster) {
	vf, _ := c.Stack["vlanFiltering"].(map[string]any)
	if vf == nil || !getBool(vf, "enabled") {
		return
	}
	if _, set := vf["allowedVlans"]; set {
		return
	}
	bridge := getStr(vf, "bridge")
	seen := map[int]bool{}
	multus, _ := c.Stack["multus"].(map[string]any)
	nets, _ := multus["networks"].(map[string]any)
	for _, n := range nets {
		decl, _ := n.(map[string]any)
		if b, vlan, ok := bridgeVLAN(decl); ok && b == bridge && vlan > 0 {
			seen[vlan] = true
		}
	}
	ids := make([]int, 0, len(seen))
	for v := range seen {
		ids = append(ids, v)
	}
	sort.Ints(ids)
	list := make([]any, len(ids))
	for i, v := range ids {
		list[i] = int64(v)
	}
	vf["allowedVlans"] = list
}

// vlanSet is a set of VLANs from IDs and "a-b" ranges.
type vlanSet [][2]int

func parseVLANs(list []any) vlanSet {
	var s vlanSet
	for _, x := range list {
		if f, ok := schema.Number(x); ok {
			s = append(s, [2]int{int(f), int(f)})
			continue
		}
		str, _ := x.(string)
		a, b, ok := strings.Cut(str, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if ok && err1 == nil && err2 == nil {
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
	vf, _ := c.Stack["vlanFiltering"].(map[string]any)
	if vf == nil || !getBool(vf, "enabled") {
		return
	}
	bridge := getStr(vf, "bridge")
	list, _ := vf["allowedVlans"].([]any)
	allowed := parseVLANs(list)
	for i, r := range allowed {
		if r[0] > r[1] || r[0] < 1 || r[1] > 4094 {
			c.errorAt("vlan-filtering", []string{"stack", "vlanFiltering", "allowedVlans", strconv.Itoa(i)}, "VLAN range %d-%d: want first <= last, within 1-4094", r[0], r[1])
		}
	}
	multus, _ := c.Stack["multus"].(map[string]any)
	nets, _ := multus["networks"].(map[string]any)
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
			decl, _ := nets[name].(map[string]any)
			if decl == nil {
				continue // undeclared: checkNetworkRef reports it
			}
			if declNS, _ := decl["namespace"].(string); (declNS == "" && ns != "default") || (declNS != "" && declNS != ns) {
				continue
			}
			b, vlan, ok := bridgeVLAN(decl)
			if !ok || b != bridge || vlan == 0 || allowed.has(vlan) {
				continue
			}
			at := []string{"spec", "template", "spec", "networks", strconv.Itoa(i), "multus", "networkName"}
			// The set list is written somewhere (the derived one never lacks a network's VLAN).
			pos := append([]diag.Position{vm.Pos(at...)}, settingAt...)
			c.Diags.Errorf("vlan-filtering", vm.Path(at...), pos,
				"network %s is on VLAN %d of bridge %s, which passes only VLANs %s (stack.vlanFiltering.allowedVlans): add %d there, or leave allowedVlans unset to pass every Multus network's VLAN",
				diag.Name(ns+"/"+name), vlan, bridge, allowed, vlan)
		}
	}
}
