package desired

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/render"
	"github.com/vmo-cue/vmo-cue/internal/resolve"
	"github.com/vmo-cue/vmo-cue/internal/settings"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// ErrInvalid is returned for a cluster whose desired state does not validate: nothing is rendered,
// so nothing can be applied.
var ErrInvalid = errors.New("desired state does not validate: nothing applied")

// Render turns a validated cluster into what the reconciler takes: its objects in render order (the
// cluster resolved, then rendered) and its drift and prune settings, typed.
func Render(c *validate.Cluster) (*reconciler.Desired, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("cluster %s: %w (%s; run vmo-cue vet)", c.Name, ErrInvalid, diag.Plural(len(c.Diags.Errors()), "error"))
	}
	objs, err := Objects(c)
	if err != nil {
		return nil, err
	}
	if err := checkPolicy(c, objs); err != nil { // policy.go
		return nil, err
	}
	d := &reconciler.Desired{
		Fleet: c.Fleet, Cluster: c.Name,
		Objects:     make([]*unstructured.Unstructured, len(objs)),
		DriftIgnore: DriftIgnore(c.Settings.Drift),
		Prune:       PrunePolicy(c.Settings.Prune),
		VMs:         VMOwners(c),
	}
	for i, o := range objs {
		d.Objects[i] = &unstructured.Unstructured{Object: o}
	}
	return d, nil
}

// Objects resolves a validated cluster (resolve.Cluster) and renders it: its objects in apply order.
// A cluster that does not validate is render.ErrInvalid.
func Objects(c *validate.Cluster) ([]render.Object, error) {
	b, err := engine.LoadBuiltin()
	if err != nil {
		return nil, err
	}
	rc, err := resolve.Cluster(c, b)
	if err != nil {
		return nil, err
	}
	return render.Cluster(rc)
}

// DriftIgnore turns a cluster's drift.ignore setting into paths per kind.
func DriftIgnore(drift settings.Drift) map[string][][]string {
	out := map[string][][]string{}
	for kind, list := range drift.Ignore {
		for _, p := range list {
			out[kind] = append(out[kind], strings.Split(p, "."))
		}
	}
	return out
}

// PrunePolicy reads a cluster's prune setting.
func PrunePolicy(prune settings.Prune) reconciler.PrunePolicy {
	p := reconciler.PrunePolicy{MaxShare: reconciler.DefaultMaxPruneShare,
		VirtualMachines: prune.VirtualMachines, DataVolumes: prune.DataVolumes,
		PersistentVolumeClaims: prune.PersistentVolumeClaims, Namespaces: prune.Namespaces}
	if prune.MaxShare != nil {
		p.MaxShare = *prune.MaxShare
	}
	return p
}

// PowerAnnotation, on a VM, says who owns its power state ("git" or "operators"), over the cluster's
// powerState setting.
const PowerAnnotation = "vmo-cue.dev/power-state"

// VMOwners says, per VM of a validated cluster, what git leaves to others: the MACs vmo-cue derived
// (applied only to a VM that has none of its own there) and the owner of its power state (the VM's
// annotation, else the cluster's powerState, else git).
func VMOwners(c *validate.Cluster) map[string]reconciler.VMOwners {
	out := make(map[string]reconciler.VMOwners, len(c.VMs))
	def := reconciler.PowerGit
	if s := c.Settings.PowerState; s != "" {
		def = reconciler.PowerOwner(s)
	}
	for _, vm := range c.VMs {
		o := reconciler.VMOwners{Power: def}
		md, _ := vm.Object["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		if s, _ := ann[PowerAnnotation].(string); s != "" {
			o.Power = reconciler.PowerOwner(s)
		}
		for _, ifc := range vm.Interfaces {
			if ifc.Assigned != "" {
				if o.DerivedMACs == nil {
					o.DerivedMACs = map[string]string{}
				}
				o.DerivedMACs[ifc.Name] = ifc.Assigned
			}
		}
		out[reconciler.VMKey(vm.Namespace, vm.Name)] = o
	}
	return out
}
