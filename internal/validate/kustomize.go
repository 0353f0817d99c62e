package validate

import (
	"github.com/vmo-cue/vmo-cue/internal/applypolicy"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// ApplyPolicy returns the cluster's apply policy and its VM namespaces (the cluster's, its VMs' and
// its Multus networks'); a system namespace the cluster's policy allows for VMs
// (policy.namespaces.allowSystem) counts as listed.
func (c *Cluster) ApplyPolicy() (applypolicy.Policy, map[string]bool) {
	p := applypolicy.FromSettings(c.Settings.Policy.Apply)
	vmNS := map[string]bool{c.Namespace: true}
	for _, vm := range c.VMs {
		vmNS[vm.Namespace] = true
	}
	for _, n := range c.Settings.Stack.Multus.Networks {
		if n.Namespace != "" {
			vmNS[n.Namespace] = true
		}
	}
	p.Namespaces = append(p.Namespaces, c.Settings.Policy.Namespaces.AllowSystem...)
	return p, vmNS
}

// checkKustomize holds the objects of the cluster's kustomize folders (other than VMs, checked as
// VMs) to the apply policy, and those of the VM family (DataVolumes, instance types, preferences) to
// their CRD's schema at the cluster's releases, each at its file and line. Other kinds are checked by
// the API server's dry-run of every object, before anything is written. Patches to stack objects are checked when
// the cluster is rendered (desired.Render), with every object.
func checkKustomize(c *Cluster) {
	if c.Kustomize == nil || !c.Declared {
		return
	}
	p, vmNS := c.ApplyPolicy()
	for _, o := range c.Kustomize.Objects {
		md, _ := o.Object["metadata"].(map[string]any)
		if labels, _ := md["labels"].(map[string]any); labels[applypolicy.ComponentLabel] != nil {
			c.Diags.Errorf("apply-policy", "", []diag.Position{o.Pos}, "the label %s marks vmo-cue's stack objects: an object from kustomize may not carry it", applypolicy.ComponentLabel)
			continue
		}
		if v := p.Check(o.Object, vmNS); v != nil {
			c.Diags.Errorf("apply-policy", "", []diag.Position{o.Pos}, "%s (rule %s)", v.Message, v.Rule)
		}
		kind, _ := o.Object["kind"].(string)
		f, known := family[kind]
		if apiVersion, _ := o.Object["apiVersion"].(string); !known || apiVersion != f.apiVersion {
			continue
		}
		s, err := SchemaFor(kind, c.Releases())
		if err != nil {
			c.Diags.Errorf("schema", "", []diag.Position{o.Pos}, "%v", err)
			continue
		}
		name, _ := md["name"].(string)
		for _, e := range s.Validate(o.Object) {
			c.Diags.Errorf("schema", engine.PathString(append([]string{kind, name}, e.Path...)...), []diag.Position{o.Pos}, "%s", e.Message)
		}
	}
}
