// Package v1alpha1 is the API of the vmo-cue fleet controller, group fleet.vmo-cue.dev: a Fleet (a git
// repository of a fleet, the clusters it selects, and how to sync them) and one FleetCluster per
// cluster of a fleet (that cluster's sync state). The CRDs in deploy/crds and zz_generated.deepcopy.go
// are generated from these types by controller-gen (make generate); a test fails when they are stale.
//
// Both kinds follow Flux's conventions: status.conditions as []metav1.Condition with Ready,
// Reconciling and Stalled (github.com/fluxcd/pkg/apis/meta), observedGeneration, and the
// reconcile.fluxcd.io/requestedAt annotation answered in status.lastHandledReconcileAt. They implement
// the conditions.Setter interface of github.com/fluxcd/pkg/runtime, so its conditions and patch
// packages work on them.
//
// +kubebuilder:object:generate=true
// +groupName=fleet.vmo-cue.dev
package v1alpha1
