package validate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// kubevirtInfo is a cluster's KubeVirt as the webhook rules need it.
type kubevirtInfo struct {
	version, minor string
	gates          map[string]engine.GateState
}

// The rules of KubeVirt's admission webhook (virt-api) that its schema does not say, as vmo-cue
// models them: each refused VM is an error at the VM's line, before anything is applied.
// Sources: kubevirt.io/kubevirt pkg/virt-api/webhooks/validating-webhook/admitters/vms-admitter.go
// (validateRunStrategy) and pkg/network/admitter (netsource.go, binding.go), v1.4.0 to v1.8.1, where
// these rules are the same; gated features: gatedfeatures.go.
func checkWebhookRules(c *Cluster, vm *VM) {
	view := newView(vm.Object)
	checkRunStrategyValue(c, vm)
	checkPodNetworks(c, vm, view)
	checkGatedFeatures(c, vm, view)
}

// runStrategies are the values KubeVirt accepts (validRunStrategies), WaitAsReceiver aside.
var runStrategies = []string{"Always", "Halted", "Manual", "RerunOnFailure", "Once"}

func checkRunStrategyValue(c *Cluster, vm *VM) {
	spec, _ := vm.Object["spec"].(map[string]any)
	if spec == nil {
		return // the schema reports a VM without spec
	}
	// KubeVirt also refuses a VM with neither runStrategy nor running ("RunStrategy must be
	// specified"); vmo-cue does not yet (many fleets' minimal VMs rely on it passing).
	s, ok := spec["runStrategy"].(string)
	if !ok {
		return // running alone, none, or a type the schema reports
	}
	valid := slices.Contains(runStrategies, s)
	if s == "WaitAsReceiver" && c.kubevirt != nil && !MinorLess(c.kubevirt.minor, "v1.6") {
		valid = true // a gated value (DecentralizedLiveMigration): see gatedFeatures
	}
	if valid {
		return
	}
	accepted := strings.Join(runStrategies, ", ")
	if c.kubevirt != nil && !MinorLess(c.kubevirt.minor, "v1.6") {
		accepted += " (and WaitAsReceiver with the DecentralizedLiveMigration gate)"
	}
	msg := fmt.Sprintf("invalid runStrategy %q: KubeVirt accepts %s", s, accepted)
	if best := closest(s, runStrategies); best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	c.Diags.Errorf("vm-run-strategy", vm.Path("spec", "runStrategy"), []diag.Position{vm.Pos("spec", "runStrategy")}, "%s", msg)
}

func closest(s string, among []string) string {
	best, bestD := "", 4
	for _, k := range among {
		if d := distance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

var (
	networksAnchor   = anchor(tmplSpec("networks"))
	interfacesAnchor = anchor(tmplSpec("domain", "devices", "interfaces"))
)

// checkPodNetworks: at most one pod network, at most one Multus default network and not both,
// every network of a kind, masquerade only on the pod network (netsource.go, binding.go).
func checkPodNetworks(c *Cluster, vm *VM, view *vmView) {
	nets, _ := view.at(networksAnchor).([]any)
	at := func(i int, p ...string) []string {
		return append(tmplSpec("networks", strconv.Itoa(i)), p...)
	}
	var pods, defaults []int // a VM has a few networks: no allocation unless one is pod or default
	for i, x := range nets {
		n, _ := x.(map[string]any)
		name, _ := n["name"].(string)
		switch {
		case n["pod"] != nil:
			pods = append(pods, i)
		case n["multus"] != nil:
			if m, _ := n["multus"].(map[string]any); m["default"] == true {
				defaults = append(defaults, i)
			}
		default:
			c.Diags.Errorf("vm-network", vm.Path(at(i)...), []diag.Position{vm.Pos(at(i)...)},
				"network %q has no type: set pod: {} or multus: {networkName: ...}", name)
		}
	}
	if len(pods) > 1 {
		p := at(pods[1], "pod")
		c.Diags.Errorf("vm-network", vm.Path(p...), []diag.Position{vm.Pos(at(pods[0], "pod")...), vm.Pos(p...)},
			"more than one pod network: a VM has at most one (KubeVirt refuses the VM)")
	}
	if len(defaults) > 1 {
		p := at(defaults[1], "multus", "default")
		c.Diags.Errorf("vm-network", vm.Path(p...), []diag.Position{vm.Pos(at(defaults[0], "multus", "default")...), vm.Pos(p...)},
			"more than one Multus default network: a VM has at most one")
	}
	if len(pods) > 0 && len(defaults) > 0 {
		p := at(defaults[0], "multus", "default")
		c.Diags.Errorf("vm-network", vm.Path(p...), []diag.Position{vm.Pos(at(pods[0], "pod")...), vm.Pos(p...)},
			"a pod network and a Multus default network together: the Multus default network replaces the pod network, keep one")
	}
	ifaces, _ := view.at(interfacesAnchor).([]any)
	for i, x := range ifaces {
		im, _ := x.(map[string]any)
		name, _ := im["name"].(string)
		if im["masquerade"] != nil && isMultus(nets, name) {
			p := tmplSpec("domain", "devices", "interfaces", strconv.Itoa(i), "masquerade")
			c.Diags.Errorf("vm-network", vm.Path(p...), []diag.Position{vm.Pos(p...)},
				"interface %q: masquerade works only on the pod network (use bridge on a Multus network)", name)
		}
	}
}

func isMultus(nets []any, name string) bool {
	for _, x := range nets {
		if n, _ := x.(map[string]any); n != nil && n["name"] == name {
			return n["multus"] != nil
		}
	}
	return false
}

// checkGatedFeatures refuses a feature whose gate the cluster's KubeVirt does not enable.
func checkGatedFeatures(c *Cluster, vm *VM, view *vmView) {
	kv := c.kubevirt
	if kv == nil {
		return // KubeVirt off or of an unknown version: reported on the cluster
	}
	for i := range gatedFeatures {
		f := &gatedFeatures[i]
		if !slices.Contains(f.minors, kv.minor) {
			continue
		}
		uses := f.uses(view)
		if len(uses) == 0 {
			continue
		}
		st, known := kv.gates[f.gate]
		if known && st.State == "GA" || c.gateOn(f.gate) || f.alt != "" && c.gateOn(f.alt) {
			continue
		}
		for _, p := range uses {
			if known && st.State == "Discontinued" {
				c.Diags.Errorf("vm-feature-gate", vm.Path(p...), []diag.Position{vm.Pos(p...)},
					"%s is refused by KubeVirt %s: its feature gate %s is discontinued; %s", f.what, kv.version, f.gate, f.hint)
				continue
			}
			state := "unknown to the gate table"
			if known {
				state = st.State
			}
			c.Diags.Errorf("vm-feature-gate", vm.Path(p...), []diag.Position{vm.Pos(p...)},
				"%s needs the KubeVirt feature gate %s (%s in KubeVirt %s), which cluster %s does not enable: add `stack: kubevirt: featureGates: %s: true` in %s",
				f.what, f.gate, state, kv.version, diag.Name(c.Name), f.gate, diag.Name(c.gateFile()))
		}
	}
}

// gateOn reports whether the cluster's KubeVirt configuration enables a gate: set on, known to its
// version's table and rendered (engine.GateState.Rendered, the rule resolve renders the gates by).
// A gate resolution adds (VMLiveUpdateFeatures for CPU hotplug) gates no VM feature.
func (c *Cluster) gateOn(gate string) bool {
	st, known := c.kubevirt.gates[gate]
	return known && st.Rendered(c.Settings.Stack.KubeVirt.FeatureGates[gate])
}

// gateFile is the file a gate is best added in: the cluster's own file that sets its KubeVirt gates,
// else its declaration.
func (c *Cluster) gateFile() string {
	for _, path := range [][]string{{"stack", "kubevirt", "featureGates"}, {"stack", "kubevirt"}, {"stack"}} {
		if p, ok := c.Settings.Pos(path...); ok && inDir(p.File, c.Dir) {
			return "./" + p.File
		}
	}
	if c.DeclPos.File != "" && c.DeclPos.File != c.Dir {
		return "./" + c.DeclPos.File
	}
	return "./" + c.Dir + "/cluster.cue"
}
