package reconciler

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// The write requests of a sync go through client-go's metadata client (applies and dry-run applies)
// and its dynamic client (dry-run creates). An apply sends the object's bytes as they were encoded
// once (the bytes its desired hash is taken of), and the server answers with the object's metadata
// only (a PartialObjectMetadata, in protobuf): nothing of the object is encoded again or decoded. On
// a first apply of 1,000 objects this halved the client's CPU (measured: ~1 ms per object through
// controller-runtime's unstructured client, which encodes the object for each request and decodes
// every answer into maps).
//
// Field validation: a dry-run asks for Strict, so that a field the cluster's API does not know (a
// KubeVirt older than the schemas vmo-cue checked against) fails before anything is written instead
// of being dropped without a word; the local check (check.go) reports such a field as the server
// would. The apply that follows sends the same bytes with Ignore: they were checked, and Warn or
// Strict would parse every apply's YAML body a second time.

// writeKind is the request a write makes.
type writeKind int

const (
	// dryRunApply: a server-side apply, dry-run, for an object that may exist.
	dryRunApply writeKind = iota
	// dryRunCreate: a create, dry-run, for an object that does not exist (cheaper for the server than an
	// apply: no YAML to parse, no merge with a live object).
	dryRunCreate
	// apply: the server-side apply itself.
	apply
)

// write sends one request for it: body is the object's JSON (it.body) for an apply; a dry-run create
// sends obj (it.Object, or a copy of it in another namespace ns).
func (c *Cluster) write(ctx context.Context, it *Item, kind writeKind, ns string, obj *unstructured.Unstructured) error {
	mapping, ok := c.Mapping(it.Object.GroupVersionKind())
	if !ok {
		return fmt.Errorf("the cluster does not serve %s", it.Object.GroupVersionKind())
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		ns = ""
	}
	if kind == dryRunCreate {
		_, err := c.dynamic().Resource(mapping.Resource).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{
			DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager, FieldValidation: metav1.FieldValidationStrict,
		})
		return err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force, FieldValidation: metav1.FieldValidationIgnore}
	if kind == dryRunApply {
		opts.DryRun, opts.FieldValidation = []string{metav1.DryRunAll}, metav1.FieldValidationStrict
	}
	m, err := c.metadata().Resource(mapping.Resource).Namespace(ns).Patch(ctx, it.ID.Name, types.ApplyPatchType, it.body, opts)
	if err != nil || kind != apply {
		return err
	}
	it.appliedFields, it.appliedUID, it.wasApplied = m.ManagedFields, string(m.UID), true
	return nil
}
