// Package reconciler applies one cluster's desired state: it observes what is live with one LIST per
// kind, plans against the in-cluster inventory (what changed in git, what drifted, what is missing,
// what left git), dry-runs every change on the server before the first write, applies in stages with
// server-side apply (CRDs and cluster-wide objects first, then the stack, then VMs, whose kinds may
// appear only once virt-operator runs), prunes only what may safely go, and records the new inventory.
//
// Files follow the verbs: observe.go, plan.go, apply.go, prune.go, diff.go; reconcile.go runs them.
package reconciler

// FieldManager is the server-side apply field manager of vmo-cue.
const FieldManager = "vmo-cue"
