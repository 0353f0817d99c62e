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
	// VMs says, per VirtualMachine (VMKey), which of its fields belong to others: MACs on interfaces
	// git leaves without one, and the power state. A VM not listed is git's but for those MACs.
	VMs map[string]VMOwners
}

// PowerOwner says who owns a VM's power state (spec.runStrategy, or the deprecated spec.running).
type PowerOwner string

const (
	// PowerGit: git's value is applied like any other field; another value is drift (correct mode
	// sets it back) naming the manager that wrote it (virt-api for virtctl stop/start).
	PowerGit PowerOwner = "git"
	// PowerOperators: git's value is applied when the VM is created, never again: vmo-cue sends the
	// live value back with every apply (so that server-side apply neither changes nor deletes it), and
	// a change by others is never drift.
	PowerOperators PowerOwner = "operators"
)

// VMOwners says what of one VirtualMachine git leaves to others.
type VMOwners struct {
	// DerivedMACs are the MACs vmo-cue derived (by interface name) for interfaces git writes no MAC
	// for: applied to a VM vmo-cue creates; a VM adopted with MACs of its own keeps them.
	DerivedMACs map[string]string
	// Power owns the VM's power state (PowerGit if empty).
	Power PowerOwner
}

// VMKey is the key of Desired.VMs: "namespace/name".
func VMKey(namespace, name string) string { return namespace + "/" + name }
