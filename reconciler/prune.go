package reconciler

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// PruneAnnotation on a live object opts it in to pruning.
const PruneAnnotation = "vmo-cue.dev/prune"

// DefaultMaxPruneShare is the largest share of the inventory one sync deletes unless forced: a copy of
// schemas.SettingsDefaults.prune.maxShare (defaults.cue) for callers without an evaluated cluster,
// held equal to it by TestDefaultsAreTheCUEDefaults (reconciler/fleet).
const DefaultMaxPruneShare = 0.25

// PrunePolicy says what may be deleted.
type PrunePolicy struct {
	VirtualMachines, DataVolumes, PersistentVolumeClaims, Namespaces bool
	MaxShare                                                         float64
	// Force allows deleting more than MaxShare.
	Force bool
}

// protectedKind reports kinds that hold VM data and need an opt-in.
func (p PrunePolicy) protectedKind(id inventory.ID) (protected bool, optedIn bool) {
	switch {
	case id.Group == "kubevirt.io" && id.Kind == "VirtualMachine":
		return true, p.VirtualMachines
	case id.Group == "cdi.kubevirt.io" && id.Kind == "DataVolume":
		return true, p.DataVolumes
	case id.Group == "instancetype.kubevirt.io":
		// Instance types and preferences define VMs (a VM made from one keeps needing it): kept
		// like the VMs themselves.
		return true, p.VirtualMachines
	case id.Group == "" && id.Kind == "PersistentVolumeClaim":
		return true, p.PersistentVolumeClaims
	case id.Group == "apiextensions.k8s.io" && id.Kind == "CustomResourceDefinition":
		// Deleting a CRD deletes every object of its kind in the cluster, vmo-cue's or not
		// (VolumeSnapshots, NetworkAttachmentDefinitions, VMs...): only by annotation, one by one.
		return true, false
	}
	return false, false
}

// ShareGuardError says a prune was refused, nothing deleted: it would delete more than the policy's
// maximum share of the inventory (a folder removed by mistake, a broken render) and was not forced.
type ShareGuardError struct {
	Prune, Inventory int
	MaxShare         float64
}

func (e *ShareGuardError) Error() string {
	return fmt.Sprintf("pruning %d of %d inventory objects is over the limit of %.0f%%", e.Prune, e.Inventory, e.MaxShare*100)
}

// Orphan is an object that left git.
type Orphan struct {
	ID inventory.ID
	// Kept says why it was not deleted ("" if it was, or would be with --prune).
	Kept string
}

// prune decides, for every orphan, whether it may be deleted, and deletes if do is true. Orphans are
// read from the sync's LISTs (l); one that no longer exists is dropped and counted in vanished. Only
// objects that prove to be vmo-cue's are deleted (notOurs: the marks of this fleet and cluster,
// vmo-cue's managedFields entry, the UID recorded at its apply), never a system object: the
// inventory alone proves nothing.
func (c *Cluster) prune(ctx context.Context, orphans []inventory.Entry, l *live, inventorySize int, pol PrunePolicy, do bool, fleet, cluster string) (deleted []inventory.ID, kept []Orphan, vanished int, err error) {
	type candidate struct {
		e   inventory.Entry
		obj *metav1.PartialObjectMetadata
	}
	var cands []candidate
	for _, e := range orphans {
		obj := l.objects[e.Key()]
		if obj == nil {
			vanished++ // already gone (or its kind is)
			continue
		}
		if why := systemObject(e.ID); why != "" {
			kept = append(kept, Orphan{ID: e.ID, Kept: "system object, never pruned: kept (" + why + ")"})
			continue
		}
		if why := notOurs(obj, e, fleet, cluster); why != "" {
			kept = append(kept, Orphan{ID: e.ID, Kept: "in inventory but not ours: kept (" + why + ")"})
			continue
		}
		optIn := obj.GetAnnotations()[PruneAnnotation] == "true"
		if protected, allowed := pol.protectedKind(e.ID); protected && !allowed && !optIn {
			how := "cluster prune settings or annotation " + PruneAnnotation
			if e.Kind == "CustomResourceDefinition" {
				how = "annotation " + PruneAnnotation + ": deleting a CRD deletes every object of its kind"
			}
			kept = append(kept, Orphan{ID: e.ID, Kept: "orphaned, kept: " + e.Kind + "s are pruned only with an opt-in (" + how + ")"})
			continue
		}
		if e.Kind == "Namespace" && e.Group == "" {
			holds, err := c.holdsVMData(ctx, e.Name)
			if err != nil {
				return nil, nil, vanished, err
			}
			if holds != "" && !pol.Namespaces && !optIn {
				kept = append(kept, Orphan{ID: e.ID, Kept: "orphaned, kept: the namespace holds " + holds})
				continue
			}
		}
		cands = append(cands, candidate{e: e, obj: obj})
	}
	if inventorySize > 0 && len(cands) > 0 && float64(len(cands))/float64(inventorySize) > pol.MaxShare && !pol.Force {
		guard := &ShareGuardError{Prune: len(cands), Inventory: inventorySize, MaxShare: pol.MaxShare}
		for _, cd := range cands {
			kept = append(kept, Orphan{ID: cd.e.ID, Kept: "orphaned, kept: " + guard.Error() + " (force to allow)"})
		}
		return nil, kept, vanished, guard
	}
	for _, cd := range cands {
		if !do {
			kept = append(kept, Orphan{ID: cd.e.ID})
			continue
		}
		u := cd.obj.DeepCopy()
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: cd.e.Group, Version: cd.e.Version, Kind: cd.e.Kind})
		// Only the object the LIST saw: one recreated under its name since is someone else's.
		uid := cd.obj.GetUID()
		err := c.client().Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
		if err != nil && !apierrors.IsNotFound(err) {
			return deleted, kept, vanished, fmt.Errorf("pruning %s: %w", cd.e.ID, err)
		}
		deleted = append(deleted, cd.e.ID)
	}
	return deleted, kept, vanished, nil
}

// holdsVMData names what VM data a namespace holds ("" if none): VMs, DataVolumes or PVCs.
func (c *Cluster) holdsVMData(ctx context.Context, ns string) (string, error) {
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"},
		{Group: "cdi.kubevirt.io", Version: "v1beta1", Kind: "DataVolume"},
		{Version: "v1", Kind: "PersistentVolumeClaim"},
	} {
		if _, ok := c.Mapping(gvk); !ok {
			continue
		}
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.client().List(ctx, list, client.InNamespace(ns), client.Limit(1)); err != nil {
			return "", fmt.Errorf("listing %ss in %s: %w", gvk.Kind, ns, err)
		}
		if len(list.Items) > 0 {
			return gvk.Kind + "s", nil
		}
	}
	return "", nil
}
