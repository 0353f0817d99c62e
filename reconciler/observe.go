package reconciler

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// live is what one LIST per kind returned: object metadata (labels, annotations, managedFields) by key,
// and the whole objects of the kinds whose values vmo-cue reads (VirtualMachines: their MACs, power
// state and health).
type live struct {
	objects map[string]*metav1.PartialObjectMetadata
	full    map[string]*unstructured.Unstructured
}

// fullKinds are listed whole rather than as metadata.
var fullKinds = map[schema.GroupKind]bool{{Group: "kubevirt.io", Kind: "VirtualMachine"}: true}

// observe lists the metadata of every object of the given kinds (all namespaces): one request per kind.
func (c *Cluster) observe(ctx context.Context, kinds []schema.GroupVersionKind) (*live, error) {
	l := &live{objects: map[string]*metav1.PartialObjectMetadata{}, full: map[string]*unstructured.Unstructured{}}
	for _, gvk := range kinds {
		if _, ok := c.Mapping(gvk); !ok {
			continue // not served (yet): nothing of it lives
		}
		if fullKinds[gvk.GroupKind()] {
			if err := c.observeFull(ctx, gvk, l); err != nil {
				return nil, err
			}
			continue
		}
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.client().List(ctx, list); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("listing %s: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			l.objects[inventory.ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: o.Namespace, Name: o.Name}.Key()] = o
		}
	}
	return l, nil
}

// observeFull lists whole objects of a kind (one request) and records their metadata as observe does.
func (c *Cluster) observeFull(ctx context.Context, gvk schema.GroupVersionKind, l *live) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := c.client().List(ctx, list); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("listing %s: %w", gvk.Kind, err)
	}
	for i := range list.Items {
		u := &list.Items[i]
		key := inventory.ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}.Key()
		l.full[key] = u
		o := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: u.GetAPIVersion(), Kind: u.GetKind()}}
		o.ObjectMeta = metav1.ObjectMeta{
			Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion(),
			Generation: u.GetGeneration(), Labels: u.GetLabels(), Annotations: u.GetAnnotations(),
			OwnerReferences: u.GetOwnerReferences(), Finalizers: u.GetFinalizers(), ManagedFields: u.GetManagedFields(),
			DeletionTimestamp: u.GetDeletionTimestamp(), CreationTimestamp: u.GetCreationTimestamp(),
		}
		l.objects[key] = o
	}
	return nil
}
