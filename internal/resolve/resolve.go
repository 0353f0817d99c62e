// Package resolve is the step between validation and render: it derives what a validated fleet
// leaves to vmo-cue. Fleet assigns the MACs every interface that needs one and has none gets
// (across the clusters of a layer-2 domain); Cluster turns a valid cluster into the resolved, typed
// cluster render takes (internal/resolved): each operator image from its version, the feature gates
// to render, the VLANs the nodes' bridge passes, the gates a setting implies. It checks nothing:
// its one finding is an interface its MAC policy has no MAC left for (mac-assign).
package resolve

import (
	"maps"
	"sort"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/resolved"
	"github.com/vmo-cue/vmo-cue/internal/settings"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// Cluster resolves a valid, declared cluster for render with the built-in definitions b; any other
// cluster is resolved.ErrInvalid. The validated cluster is left as it is: the resolved stack is a
// copy. Its MACs are those Fleet assigned.
func Cluster(c *validate.Cluster, b *engine.Builtin) (*resolved.Cluster, error) {
	if !c.Valid() || !c.Declared {
		return nil, resolved.ErrInvalid{Cluster: c.Name}
	}
	rc := &resolved.Cluster{Name: c.Name, Kind: c.Kind, Labels: c.Labels, Fleet: c.Fleet, Releases: c.Releases(),
		Stack: c.Settings.Stack}
	Images(&rc.Stack, b)
	rc.Stack.VLANFiltering.AllowedVlans = AllowedVLANs(&rc.Stack)
	rc.KubeVirtGates = KubeVirtGates(&rc.Stack.KubeVirt, b)
	rc.CDIGates = CDIGates(&rc.Stack.CDI, b)
	for _, vm := range c.VMs {
		v := resolved.VM{Namespace: vm.Namespace, Name: vm.Name, Object: vm.Object}
		for _, ifc := range vm.Interfaces {
			if ifc.Assigned != "" {
				if v.MACs == nil {
					v.MACs = map[int]string{}
				}
				v.MACs[ifc.Index] = ifc.Assigned
			}
		}
		rc.VMs = append(rc.VMs, v)
	}
	for _, o := range c.Objects {
		rc.Objects = append(rc.Objects, resolved.Object{Kind: o.Kind, Namespace: o.Namespace, Object: o.Object})
	}
	if k := c.Kustomize; k != nil {
		rc.Kustomize = &resolved.Kustomize{Dirs: k.Dirs, Tree: k.Tree}
	}
	return rc, nil
}

// Images sets each enabled component's operator image from its version (engine.Image.For), unless
// a layer set the image itself. The stack's operator settings are copied, not changed in place.
func Images(s *settings.Stack, b *engine.Builtin) {
	for _, part := range s.Parts() {
		img, known := b.Images[part.Name]
		if !known || !part.On || part.Image() != "" {
			continue
		}
		part.SetImage(img.For(part.Version))
	}
}

// AllowedVLANs is the list of VLANs the VLAN-filtering bridge passes: as written, else (unset) the
// VLANs of the Multus bridge networks on that bridge, sorted, so that a list is never typed twice.
func AllowedVLANs(s *settings.Stack) []settings.VLAN {
	vf := s.VLANFiltering
	if !vf.On() || vf.AllowedVlans != nil {
		return vf.AllowedVlans
	}
	seen := map[int]bool{}
	for _, decl := range s.Multus.Networks {
		if b, vlan, ok := decl.BridgeVLAN(); ok && b == vf.Bridge && vlan > 0 {
			seen[vlan] = true
		}
	}
	ids := make([]int, 0, len(seen))
	for v := range seen {
		ids = append(ids, v)
	}
	sort.Ints(ids)
	out := make([]settings.VLAN, len(ids))
	for i, v := range ids {
		out[i] = settings.VLAN{ID: int64(v)}
	}
	return out
}

// KubeVirtGates are the KubeVirt feature gates to render, sorted: those set on that the version's
// table renders (engine.GateState.Rendered). CPU hotplug before v1.5 needs VMLiveUpdateFeatures
// (GA, always on, from v1.5): it is set on in kv's gates (a copy of the map) and rendered.
func KubeVirtGates(kv *settings.KubeVirt, b *engine.Builtin) []string {
	if !kv.On() {
		return nil
	}
	minor := validate.MinorOf(kv.Version)
	table, known := b.KubeVirtGates[minor]
	if !known {
		return nil // refused by validation (kubevirt-version)
	}
	if kv.CPUHotplug != nil && *kv.CPUHotplug && validate.MinorLess(minor, "v1.5") {
		kv.FeatureGates = maps.Clone(kv.FeatureGates)
		if kv.FeatureGates == nil {
			kv.FeatureGates = map[string]bool{}
		}
		kv.FeatureGates["VMLiveUpdateFeatures"] = true
	}
	return rendered(kv.FeatureGates, table)
}

// CDIGates are the CDI feature gates to render, sorted: those set on that the version's table
// renders, or, for a version the table does not know (a warning of validation), every gate set on.
func CDIGates(cdi *settings.CDI, b *engine.Builtin) []string {
	if !cdi.On() {
		return nil
	}
	return rendered(cdi.FeatureGates, b.CDIGates[validate.MinorOf(cdi.Version)])
}

// rendered are the gates set on that table renders; a nil table renders every gate set on.
func rendered(gates map[string]bool, table map[string]engine.GateState) []string {
	var out []string
	for name, on := range gates {
		if table == nil {
			if on {
				out = append(out, name)
			}
			continue
		}
		if st, known := table[name]; known && st.Rendered(on) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
