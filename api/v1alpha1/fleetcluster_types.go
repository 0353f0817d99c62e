package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HeldAnnotation, on a pull cluster's FleetCluster, is why the controller holds the current revision
// back from it ("rollout stopped: wave canary failed"), written by the controller with the spec and
// removed when the revision is released: the agent, which may read only its own FleetCluster,
// reports it in its Pending status.
const HeldAnnotation = "fleet.vmo-cue.dev/held"

// ClusterState is where one cluster of a fleet stands.
// +kubebuilder:validation:Enum=InSync;Drifted;Syncing;Failed;Offline;Pending;Interrupted
type ClusterState string

const (
	// StateInSync: the cluster runs the revision in git (after a sync that changed something too).
	StateInSync ClusterState = "InSync"
	// StateDrifted: objects in the cluster differ from git and were not corrected (drift: report, or a
	// correction still to come).
	StateDrifted ClusterState = "Drifted"
	// StateSyncing: a sync of the cluster is under way.
	StateSyncing ClusterState = "Syncing"
	// StateFailed: the last sync failed, or the cluster's own definitions do not validate (the message
	// says which, with file:line).
	StateFailed ClusterState = "Failed"
	// StateOffline: the cluster could not be reached; it keeps its last revision and is retried with
	// backoff.
	StateOffline ClusterState = "Offline"
	// StatePending: the cluster waits for its wave (an earlier wave is rolling out or failed).
	StatePending ClusterState = "Pending"
	// StateInterrupted: the cluster was lost after the sync's writes began; the revision is not proven
	// there. It counts as a failure (it holds later waves) and the next sync resumes it at once.
	StateInterrupted ClusterState = "Interrupted"
)

// ClusterMode says how a cluster is reached: pushed to by the controller through its kubeconfig Secret,
// or synced from inside by its own agent (pull), which reports into this FleetCluster.
// +kubebuilder:validation:Enum=push;pull
type ClusterMode string

const (
	// ModePush: the controller syncs the cluster through its kubeconfig Secret.
	ModePush ClusterMode = "push"
	// ModePull: an agent inside the cluster syncs it (vmo-cue agent) and writes this FleetCluster's
	// status; the controller releases revisions to it through spec.releasedRevision.
	ModePull ClusterMode = "pull"
)

// ContestedObject is an object another manager keeps changing: the agent stopped correcting it.
type ContestedObject struct {
	// Object is the object, as kind/namespace/name (kind/name when cluster-scoped).
	// +required
	Object string `json:"object"`
	// Manager is the field manager that kept changing it.
	// +optional
	Manager string `json:"manager,omitempty"`
	// Corrections is how many times it was corrected before vmo-cue gave up.
	// +optional
	Corrections int32 `json:"corrections,omitempty"`
}

// FleetClusterSpec says which cluster of which Fleet this is, and what the controller released to it.
// +kubebuilder:validation:XValidation:rule="self.fleet == oldSelf.fleet && self.cluster == oldSelf.cluster",message="fleet and cluster cannot be changed"
type FleetClusterSpec struct {
	// Fleet is the name of the Fleet, in the same namespace, this cluster belongs to.
	// +kubebuilder:validation:MinLength=1
	// +required
	Fleet string `json:"fleet"`

	// Cluster is the cluster's name as declared in the fleet repository.
	// +kubebuilder:validation:MinLength=1
	// +required
	Cluster string `json:"cluster"`

	// Wave is the rollout wave the controller placed the cluster in for the current revision
	// ("canary", a declared wave's name, or "rest").
	// +optional
	Wave string `json:"wave,omitempty"`

	// ReleasedRevision is the revision the controller released to this cluster: the one its wave may
	// apply now. An agent syncing the cluster from inside (pull mode) applies this revision and no
	// other.
	// +optional
	ReleasedRevision string `json:"releasedRevision,omitempty"`

	// Mode is how the cluster is reached, as the fleet repository declares it (push by default).
	// +optional
	Mode ClusterMode `json:"mode,omitempty"`
}

// FleetClusterStatus is the sync state of one cluster.
type FleetClusterStatus struct {
	// ObservedGeneration is the last generation of the spec acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the cluster, Flux style (Ready).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// State of the cluster.
	// +optional
	State ClusterState `json:"state,omitempty"`

	// Revision the cluster was last synced to.
	// +optional
	Revision string `json:"revision,omitempty"`

	// LastSyncTime is when the cluster was last synced successfully.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// LastSeenTime is when the cluster last answered.
	// +optional
	LastSeenTime *metav1.Time `json:"lastSeenTime,omitempty"`

	// OfflineSince is when the controller first found the cluster unreachable, while it stays
	// Offline: its retries back off from then, after a restart too. (The Ready condition's transition
	// time moves whenever its message changes.)
	// +optional
	OfflineSince *metav1.Time `json:"offlineSince,omitempty"`

	// LastHeartbeatTime is when the cluster's agent (pull mode) last reported; the controller marks the
	// cluster Offline when it is older than its threshold.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`

	// Drifted names (kind/namespace/name) the objects that differed from git at the last sync, at most
	// 50 (DriftedObjects counts them all).
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Drifted []string `json:"drifted,omitempty"`

	// Contested lists objects another manager keeps changing, which vmo-cue stopped correcting.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Contested []ContestedObject `json:"contested,omitempty"`

	// DriftedObjects is the number of objects that differed from git at the last sync.
	// +kubebuilder:default=0
	// +optional
	DriftedObjects int32 `json:"driftedObjects"`

	// Orphans is the number of objects that left git but were kept (prune off, or kept by the prune
	// policy).
	// +kubebuilder:default=0
	// +optional
	Orphans int32 `json:"orphans"`

	// VMs is the number of VirtualMachines git declares for the cluster.
	// +kubebuilder:default=0
	// +optional
	VMs int32 `json:"vms"`

	// Message says what happened at the last sync, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// FleetCluster is the sync state of one cluster of a Fleet. The controller creates one per selected
// cluster, owned by the Fleet, and removes it when the cluster leaves the fleet.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fc,categories=vmo-cue
// +kubebuilder:printcolumn:name="Fleet",type=string,JSONPath=`.spec.fleet`
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,priority=1
// +kubebuilder:printcolumn:name="Wave",type=string,JSONPath=`.spec.wave`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Drifted",type=integer,JSONPath=`.status.driftedObjects`
// +kubebuilder:printcolumn:name="Orphans",type=integer,JSONPath=`.status.orphans`,priority=1
// +kubebuilder:printcolumn:name="VMs",type=integer,JSONPath=`.status.vms`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Last Seen",type=date,JSONPath=`.status.lastSeenTime`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FleetCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec FleetClusterSpec `json:"spec"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status FleetClusterStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions (conditions.Getter of fluxcd/pkg/runtime).
func (in *FleetCluster) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions (conditions.Setter of fluxcd/pkg/runtime).
func (in *FleetCluster) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// +kubebuilder:object:root=true

// FleetClusterList is a list of FleetClusters.
type FleetClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FleetCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FleetCluster{}, &FleetClusterList{})
}
