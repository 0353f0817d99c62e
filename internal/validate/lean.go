package validate

import (
	"slices"
	"strconv"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// interfacesPath is where a VM's interfaces are.
var interfacesPath = []string{"spec", "template", "spec", "domain", "devices", "interfaces"}

// lighten drops the objects of a checked cluster's VMs (Options.Lean), keeping what the checks across
// clusters use: each VM's identity and interfaces, and where the interfaces that have or need a MAC
// were written (the MAC assignment and the layer-2 domain checks point there). A YAML VM keeps its
// way back to every line, which holds only its file's bytes (parsed for positions when a finding
// asks). A CUE VM's holds its evaluated value or syntax: those positions are kept instead, and any
// other path of the VM is placed at the VM itself, unless it was read by the fast path: its Pos
// evaluates the cluster in CUE only when a finding asks (engine.VM.LazyPos), and asking it here, for
// every VM, would make every cluster pay that evaluation (a 10,000-VM vet took 7× as long).
func lighten(c *Cluster) {
	for _, vm := range c.VMs {
		if vm.FromYAML || vm.LazyPos {
			vm.VM = &engine.VM{File: vm.File, Key: vm.Key, FromYAML: vm.FromYAML, LazyPos: vm.LazyPos, Pos: vm.Pos}
			continue
		}
		var at []ifacePos
		for _, ifc := range vm.Interfaces {
			p := append(slices.Clone(interfacesPath), strconv.Itoa(ifc.Index))
			switch {
			case ifc.MAC != "":
				// Only the macAddress is pointed at (uniqueness across the layer-2 domain).
				at = append(at, ifacePos{index: ifc.Index, mac: vm.Pos(append(p, "macAddress")...)})
			case ifc.NeedsMAC:
				// The interface, for its assignment and its assigned MAC: the macAddress it has not
				// is placed at it.
				pos := vm.Pos(p...)
				at = append(at, ifacePos{index: ifc.Index, iface: pos, mac: pos})
			}
		}
		root := vm.Pos()
		vm.VM = &engine.VM{File: vm.File, Key: vm.Key, FromYAML: vm.FromYAML,
			Pos: func(path ...string) diag.Position { return leanPos(at, root, path) }}
	}
	c.Cluster.SourceVMs = nil // the engine's VMs, the objects of every kind: the checked ones are in c.VMs
}

// ifacePos is where an interface of a lightened VM was written.
type ifacePos struct {
	index      int
	iface, mac diag.Position
}

func leanPos(at []ifacePos, root diag.Position, path []string) diag.Position {
	if len(path) < len(interfacesPath)+1 || len(path) > len(interfacesPath)+2 || !slices.Equal(path[:len(interfacesPath)], interfacesPath) {
		return root
	}
	i, err := strconv.Atoi(path[len(interfacesPath)])
	if err != nil {
		return root
	}
	for _, a := range at {
		if a.index != i {
			continue
		}
		if len(path) == len(interfacesPath)+1 {
			return a.iface
		}
		if path[len(path)-1] == "macAddress" {
			return a.mac
		}
	}
	return root
}
