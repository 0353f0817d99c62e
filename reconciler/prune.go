package reconciler

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmschema "github.com/vmo-cue/vmo-cue/internal/schema"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// PruneAnnotation on a live object opts it in to pruning.
const PruneAnnotation = "vmo-cue.dev/prune"

// DefaultMaxPruneShare is the largest share of the inventory one sync deletes unless forced.
const DefaultMaxPruneShare = 0.25

// PrunePolicy says what may be deleted.
type PrunePolicy struct {
	VirtualMachines, DataVolumes, PersistentVolumeClaims, Namespaces bool
	MaxShare                                                         float64
	// Force allows deleting more than MaxShare.
	Force bool
}

func prunePolicy(settings map[string]any) PrunePolicy {
	p := PrunePolicy{MaxShare: DefaultMaxPruneShare}
	m, _ := settings["prune"].(map[string]any)
	b := func(k string) bool { v, _ := m[k].(bool); return v }
	p.VirtualMachines, p.DataVolumes = b("virtualMachines"), b("dataVolumes")
	p.PersistentVolumeClaims, p.Namespaces = b("persistentVolumeClaims"), b("namespaces")
	if s, ok := vmschema.Number(m["maxShare"]); ok {
		p.MaxShare = s
	}
	return p
}

// protectedKind reports kinds that hold VM data and need an opt-in.
func (p PrunePolicy) protectedKind(id inventory.ID) (protected bool, optedIn bool) {
	switch {
	case id.Group == "kubevirt.io" && id.Kind == "VirtualMachine":
		return true, p.VirtualMachines
	case id.Group == "cdi.kubevirt.io" && id.Kind == "DataVolume":
		return true, p.DataVolumes
	case id.Group == "" && id.Kind == "PersistentVolumeClaim":
		return true, p.PersistentVolumeClaims
	case id.Group == "apiextensions.k8s.io" && id.Kind == "CustomResourceDefinition":
		// Deleting a CRD deletes every object of its kind in the cluster, vmo-cue's or not
		// (VolumeSnapshots, NetworkAttachmentDefinitions, VMs...): only by annotation, one by one.
		return true, false
	}
	return false, false
}

// Orphan is an object that left git.
type Orphan struct {
	ID inventory.ID
	// Kept says why it was not deleted ("" if it was, or would be with --prune).
	Kept string
}

// prune decides, for every orphan, whether it may be deleted, and deletes if do is true. An orphan
// that no longer exists is dropped.
func (c *Cluster) prune(ctx context.Context, orphans []inventory.Entry, inventorySize int, pol PrunePolicy, do bool) (deleted []inventory.ID, kept []Orphan, err error) {
	type candidate struct {
		e   inventory.Entry
		obj *metav1.PartialObjectMetadata
	}
	var cands []candidate
	for _, e := range orphans {
		obj, err := c.getMeta(ctx, e.ID)
		if err != nil {
			return nil, nil, err
		}
		if obj == nil {
			continue // already gone
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
				return nil, nil, err
			}
			if holds != "" && !pol.Namespaces && !optIn {
				kept = append(kept, Orphan{ID: e.ID, Kept: "orphaned, kept: the namespace holds " + holds})
				continue
			}
		}
		cands = append(cands, candidate{e: e, obj: obj})
	}
	if inventorySize > 0 && len(cands) > 0 && float64(len(cands))/float64(inventorySize) > pol.MaxShare && !pol.Force {
		for _, cd := range cands {
			kept = append(kept, Orphan{ID: cd.e.ID, Kept: fmt.Sprintf("orphaned, kept: pruning %d of %d inventory objects is over the limit of %.0f%% (force to allow)",
				len(cands), inventorySize, pol.MaxShare*100)})
		}
		return nil, kept, nil
	}
	for _, cd := range cands {
		if !do {
			kept = append(kept, Orphan{ID: cd.e.ID})
			continue
		}
		u := cd.obj.DeepCopy()
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: cd.e.Group, Version: cd.e.Version, Kind: cd.e.Kind})
		if err := c.client().Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return deleted, kept, fmt.Errorf("pruning %s: %w", cd.e.ID, err)
		}
		deleted = append(deleted, cd.e.ID)
	}
	return deleted, kept, nil
}

func (c *Cluster) getMeta(ctx context.Context, id inventory.ID) (*metav1.PartialObjectMetadata, error) {
	gvk := schema.GroupVersionKind{Group: id.Group, Version: id.Version, Kind: id.Kind}
	if _, ok := c.Mapping(gvk); !ok {
		return nil, nil
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	err := c.client().Get(ctx, client.ObjectKey{Namespace: id.Namespace, Name: id.Name}, obj)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", id, err)
	}
	return obj, nil
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
