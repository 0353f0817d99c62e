package validate

import (
	"fmt"
	"strconv"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/schema"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// VM is a checked VirtualMachine.
type VM struct {
	*engine.VM
	Namespace string
	Name      string
	// Interfaces are the VM's interfaces, with their MACs.
	Interfaces []*Interface
	// Key is how findings name the VM: `vms."<key>"`.
	key string
}

// Interface is one entry of spec.template.spec.domain.devices.interfaces.
type Interface struct {
	Index int
	Name  string
	// MAC is the macAddress as written ("" if none); Assigned is the MAC vmo-cue derived for an
	// interface that needs one and has none (written by resolve.Fleet, after validation).
	MAC      string
	Assigned string
	// NeedsMAC is true for interfaces attached to a layer-2 network (bridge, SR-IOV, or macvtap — the
	// binding plugin or the old binding — on a Multus network other than ptp): their MAC is visible on
	// the segment and must be stable and unique.
	NeedsMAC bool
}

// Path returns the finding path of a field of this VM.
func (vm *VM) Path(path ...string) string {
	return engine.PathString(append([]string{"vms", vm.key}, path...)...)
}

func checkVMs(c *Cluster, s *schema.Schema) {
	seen := map[string]*VM{}
	seenFamily := map[string]bool{}
	var bound diag.Bounder
	for _, ev := range c.Cluster.SourceVMs {
		c.Diags = bound.Bound(c.Diags)
		if checkFamily(c, ev, seenFamily, &bound) {
			continue
		}
		vm := &VM{VM: ev}
		vm.Name = ev.Name()
		vm.Namespace = ev.Namespace()
		if vm.Namespace == "" {
			vm.Namespace = c.Namespace
		}
		vm.key = ev.Key
		if vm.key == "" {
			vm.key = vm.Name
			if vm.Namespace != c.Namespace {
				vm.key = vm.Namespace + "/" + vm.Name
			}
		}
		if !isVirtualMachine(c, vm) {
			continue
		}
		for _, e := range s.Validate(vm.Object) {
			c.Diags.Errorf("schema", vm.Path(e.Path...), []diag.Position{vm.Pos(e.Path...)}, "%s", e.Message)
			c.Diags = bound.Bound(c.Diags)
		}
		if vm.Name == "" {
			c.Diags.Errorf("vm-name", vm.Path("metadata", "name"), []diag.Position{vm.Pos("metadata")}, "a VirtualMachine needs metadata.name")
			continue
		}
		id := vm.Namespace + "/" + vm.Name
		if prev, dup := seen[id]; dup {
			c.Diags.Errorf("vm-unique", vm.Path("metadata", "name"),
				[]diag.Position{prev.Pos("metadata", "name"), vm.Pos("metadata", "name")},
				"VirtualMachine %s is defined twice in cluster %s", diag.Name(id), diag.Name(c.Name))
			continue
		}
		seen[id] = vm
		checkVMIdentity(c, vm)
		checkClusterSetFields(c, vm)
		checkRunStrategy(c, vm)
		checkPowerOwner(c, vm)
		checkNetworks(c, vm)
		checkWebhookRules(c, vm)
		c.VMs = append(c.VMs, vm)
	}
	if len(c.VMs) > 0 {
		if !c.Settings.Stack.KubeVirt.On() {
			c.errorAt("stack-dependency", []string{"stack", "kubevirt", "enabled"},
				"cluster %s has %d VirtualMachines but KubeVirt is switched off", c.Name, len(c.VMs))
		}
	}
}

func isVirtualMachine(c *Cluster, vm *VM) bool {
	apiVersion, _ := vm.Object["apiVersion"].(string)
	kind, _ := vm.Object["kind"].(string)
	if !vm.FromYAML && apiVersion == "" && kind == "" {
		// A CUE VM may leave apiVersion and kind to the schema.
		vm.Object["apiVersion"], vm.Object["kind"] = "kubevirt.io/v1", "VirtualMachine"
		return true
	}
	if apiVersion == "kubevirt.io/v1" && kind == "VirtualMachine" {
		return true
	}
	if apiVersion == "kubevirt.io/v1alpha3" && kind == "VirtualMachine" {
		c.Diags.Errorf("vm-api-version", vm.Path("apiVersion"), []diag.Position{vm.Pos("apiVersion")},
			"kubevirt.io/v1alpha3 is the deprecated version of VirtualMachine: change apiVersion to kubevirt.io/v1 (the fields are the same)")
		return false
	}
	what := fmt.Sprintf("%s %s", apiVersion, kind)
	if apiVersion == "" && kind == "" {
		what = "an object without apiVersion and kind"
	}
	c.Diags.Errorf("vm-kind", vm.Path("kind"), []diag.Position{vm.Pos("kind")},
		"not a VirtualMachine (%s): files under %s hold kubevirt.io/v1 VirtualMachines only", what, diag.Name(c.Dir+"/"))
	return false
}

func checkRunStrategy(c *Cluster, vm *VM) {
	spec, _ := vm.Object["spec"].(map[string]any)
	_, running := spec["running"]
	_, strategy := spec["runStrategy"]
	if running && strategy {
		c.Diags.Errorf("vm-run-strategy", vm.Path("spec", "runStrategy"),
			[]diag.Position{vm.Pos("spec", "running"), vm.Pos("spec", "runStrategy")},
			"running and runStrategy are mutually exclusive: keep runStrategy (running is deprecated)")
	}
}

// checkNetworks checks that interfaces and networks pair up by name, that Multus networks are
// declared in the cluster's stack, and collects the interfaces.
func checkNetworks(c *Cluster, vm *VM) {
	tspec, _ := get(vm.Object, "spec", "template", "spec").(map[string]any)
	ifaces, _ := get(tspec, "domain", "devices", "interfaces").([]any)
	nets, _ := tspec["networks"].([]any)
	netByName := map[string]map[string]any{}
	declByName, refByName := map[string]*settings.Network{}, map[string]string{}
	for i, n := range nets {
		nm, _ := n.(map[string]any)
		name, _ := nm["name"].(string)
		netByName[name] = nm
		multus, _ := nm["multus"].(map[string]any)
		if multus == nil {
			continue
		}
		ref, _ := multus["networkName"].(string)
		if ref == "" {
			continue
		}
		checkNetworkRef(c, vm, ref, []string{"spec", "template", "spec", "networks", strconv.Itoa(i), "multus", "networkName"})
		declByName[name], refByName[name] = declaredNetwork(c, vm, ref), ref
	}
	ifaceNames := map[string]bool{}
	for i, x := range ifaces {
		im, _ := x.(map[string]any)
		name, _ := im["name"].(string)
		mac, _ := im["macAddress"].(string)
		ifaceNames[name] = true
		at := []string{"spec", "template", "spec", "domain", "devices", "interfaces", strconv.Itoa(i)}
		net, ok := netByName[name]
		if !ok {
			c.Diags.Errorf("vm-network", vm.Path(append(at, "name")...), []diag.Position{vm.Pos(append(at, "name")...)},
				"interface %q has no network of the same name in spec.template.spec.networks", name)
		}
		_, multus := net["multus"]
		checkBinding(c, vm, i, im, refByName[name], declByName[name])
		vm.Interfaces = append(vm.Interfaces, &Interface{Index: i, Name: name, MAC: mac,
			NeedsMAC: needsMAC(im, multus, declByName[name])})
	}
	for i, n := range nets {
		nm, _ := n.(map[string]any)
		name, _ := nm["name"].(string)
		if !ifaceNames[name] {
			at := []string{"spec", "template", "spec", "networks", strconv.Itoa(i), "name"}
			c.Diags.Errorf("vm-network", vm.Path(at...), []diag.Position{vm.Pos(at...)},
				"network %q has no interface of the same name in spec.template.spec.domain.devices.interfaces", name)
		}
	}
}

func checkNetworkRef(c *Cluster, vm *VM, ref string, at []string) {
	if !c.Declared {
		return // the cluster's networks are unknown; its declaration error is reported
	}
	multus := &c.Settings.Stack.Multus
	ns, name := vm.Namespace, ref
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			ns, name = ref[:i], ref[i+1:]
			break
		}
	}
	if !multus.On() {
		c.Diags.Errorf("vm-network", vm.Path(at...), []diag.Position{vm.Pos(at...)},
			"network %q needs Multus, which is switched off in cluster %s", ref, diag.Name(c.Name))
		return
	}
	if decl, ok := multus.Networks[name]; ok && namespaceOf(decl) == ns {
		return
	}
	c.Diags.Errorf("vm-network", vm.Path(at...), []diag.Position{vm.Pos(at...)},
		"network %s is not declared in cluster %s (stack.multus.networks)", diag.Name(ns+"/"+name), diag.Name(c.Name))
}
