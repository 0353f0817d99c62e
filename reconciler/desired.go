package reconciler

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// Desired is one cluster's desired state as the reconciler takes it: rendered objects and the
// cluster's settings for drift and prune, already typed. The CLI, the controller and the agent build
// it the same way (internal/desired.Render); the reconciler knows nothing of CUE or validation.
type Desired struct {
	// Fleet and Cluster name the cluster: they are recorded in its identity and inventory and put
	// on every object as vmo-cue's ownership marks.
	Fleet, Cluster string
	// Objects are applied in their order within each stage. The reconciler adds its ownership
	// labels to them.
	Objects []*unstructured.Unstructured
	// DriftIgnore lists, per kind, the field paths (split at dots) that are never drift.
	DriftIgnore map[string][][]string
	// Prune says what may be deleted when the objects leave git (Force comes from Options).
	Prune PrunePolicy
}
