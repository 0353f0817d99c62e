package reconciler

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// live is what one LIST per kind returned: object metadata (labels, annotations, managedFields) by key.
type live struct {
	objects map[string]*metav1.PartialObjectMetadata
}

// observe lists the metadata of every object of the given kinds (all namespaces): one request per kind.
func (c *Cluster) observe(ctx context.Context, kinds []schema.GroupVersionKind) (*live, error) {
	l := &live{objects: map[string]*metav1.PartialObjectMetadata{}}
	for _, gvk := range kinds {
		if _, ok := c.Mapping(gvk); !ok {
			continue // not served (yet): nothing of it lives
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
