package reconciler

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// live is what one LIST per kind returned: object metadata (labels, annotations, managedFields) by key.
type live struct {
	objects map[string]*metav1.PartialObjectMetadata
	// absentKinds are kinds the cluster does not serve.
	absentKinds map[schema.GroupKind]bool
}

// observe lists the metadata of every object of the given kinds (all namespaces): one request per kind.
func (c *Cluster) observe(ctx context.Context, kinds []schema.GroupVersionKind) (*live, error) {
	l := &live{objects: map[string]*metav1.PartialObjectMetadata{}, absentKinds: map[schema.GroupKind]bool{}}
	for _, gvk := range kinds {
		if _, ok := c.Mapping(gvk); !ok {
			l.absentKinds[gvk.GroupKind()] = true
			continue
		}
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.client().List(ctx, list); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				l.absentKinds[gvk.GroupKind()] = true
				continue
			}
			return nil, fmt.Errorf("listing %s: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			l.objects[key(gvk.Group, gvk.Kind, o.Namespace, o.Name)] = o
		}
	}
	return l, nil
}

func key(group, kind, namespace, name string) string {
	return group + "/" + kind + "/" + namespace + "/" + name
}
