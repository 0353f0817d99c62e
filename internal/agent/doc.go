// Package agent is `vmo-cue agent`: vmo-cue inside one cluster, pulling. It fetches the fleet
// repository itself (internal/source, cached), renders and validates only its own cluster (the whole
// fleet only when the cluster shares a layer-2 domain, whose MACs span clusters), applies it with the
// reconciler, and then watches what it applied (metadata-only informers, one per applied kind,
// filtered by vmo-cue's ownership labels) so that drift is seen within seconds: an object whose
// vmo-cue managed-fields entry no longer matches the inventory, or that was deleted, is re-planned,
// and reported or corrected. A fight guard stops correcting an object another manager keeps changing
// and reports it Contested.
//
// Standalone, the agent follows a ref. Joined to a hub (a management cluster running `vmo-cue
// controller`), it applies only the revision the controller released to its FleetCluster and writes
// that FleetCluster's status: a merge patch of the status subresource on every change and on every
// heartbeat, the latest status winning while the hub cannot be reached. What it must remember to work
// on alone (the released revision, its state) is recorded in its own cluster (vmo-cue-system), so a
// restart while cut off resumes from there, not from memory.
package agent
