package inventory

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplyObject writes a typed object (its TypeMeta set) with server-side apply, forcing ownership of
// its fields for fieldOwner, through client.Client.Apply: vmo-cue's own state (the inventory, the
// identity, the status) and the hub's objects are written this one way.
func ApplyObject(ctx context.Context, c client.Client, obj client.Object, fieldOwner string) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	ac := client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u})
	return c.Apply(ctx, ac, client.FieldOwner(fieldOwner), client.ForceOwnership)
}
