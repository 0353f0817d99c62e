package v1alpha1

import (
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels, finalizer and Secret keys the controller and its users agree on.
const (
	// ClusterLabel marks a Secret in a Fleet's namespace as the credentials of one target cluster: its
	// value is the cluster's name as declared in the fleet repository. The controller also sets it on
	// every FleetCluster.
	ClusterLabel = "fleet.vmo-cue.dev/cluster"
	// FleetLabel is set on every FleetCluster to the name of its Fleet, so a fleet's clusters can be
	// listed by label.
	FleetLabel = "fleet.vmo-cue.dev/fleet"
	// KubeconfigKey is the key of a cluster Secret that holds the kubeconfig of the cluster. When the
	// kubeconfig has several contexts, the one the cluster declares (cluster.context) is used.
	KubeconfigKey = "kubeconfig"

	// FleetFinalizer is the finalizer the controller puts on a Fleet so that spec.deletionPolicy is
	// honoured when the Fleet is deleted.
	FleetFinalizer = "fleet.vmo-cue.dev/finalizer"

	// DefaultInterval is the interval of a Fleet that gives none (the CRD's default).
	DefaultInterval = 5 * time.Minute

	// Keys of the Secret named by spec.source.secretRef, after Flux's GitRepository.
	//
	// https: UsernameKey (default "git") and PasswordKey (the password or token), and CACertKey (PEM
	// certificates trusted in addition to the system roots). ssh: IdentityKey (the private key, OpenSSH or
	// PEM), KnownHostsKey (required: the server's host key is checked against it), and PasswordKey
	// (the private key's passphrase, if it has one).
	UsernameKey   = "username"
	PasswordKey   = "password"
	CACertKey     = "ca.crt"
	IdentityKey   = "identity"
	KnownHostsKey = "known_hosts"
)

// DriftMode says what the controller does when a target cluster drifted from git.
// +kubebuilder:validation:Enum=correct;report
type DriftMode string

const (
	// DriftCorrect re-applies what drifted.
	DriftCorrect DriftMode = "correct"
	// DriftReport changes nothing that exists: objects new in git are created, drift is only reported.
	DriftReport DriftMode = "report"
)

// DeletionPolicy says what happens to the objects a Fleet applied when the Fleet is deleted.
// +kubebuilder:validation:Enum=Orphan;Delete
type DeletionPolicy string

const (
	// DeletionOrphan leaves everything the Fleet applied in place (and its inventory in each cluster).
	DeletionOrphan DeletionPolicy = "Orphan"
	// DeletionDelete deletes what the Fleet applied in every reachable target cluster, within each
	// cluster's prune policy: VMs, their disks and the namespaces holding them are kept unless the
	// fleet's prune policy allows deleting them.
	DeletionDelete DeletionPolicy = "Delete"
)

// FleetSpec is the desired state of a Fleet: where its repository is, which of its clusters to sync,
// and how.
type FleetSpec struct {
	// Source is the git repository of the fleet.
	// +required
	Source GitSource `json:"source"`

	// Interval between two reconciliations: the repository is fetched and every selected cluster is
	// checked for drift at this interval (a webhook or the reconcile.fluxcd.io/requestedAt
	// annotation triggers one at once).
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="must be at least 1s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Timeout bounds one reconciliation (fetch, vet and the sync of every cluster). Default: the
	// interval.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="must be at least 1s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// ClusterSelector selects, by the labels clusters declare in the fleet repository (cluster.labels),
	// the clusters this Fleet syncs. Empty or absent: every cluster of the fleet.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`

	// Drift: correct re-applies what drifted; report only reports it (objects new in git are still
	// created).
	// +kubebuilder:default=correct
	// +optional
	Drift DriftMode `json:"drift,omitempty"`

	// Prune deletes objects that left git, within each cluster's prune policy (the fleet repository's
	// prune settings: VMs, DataVolumes, PVCs and namespaces holding them are kept unless allowed).
	// +kubebuilder:default=false
	// +optional
	Prune bool `json:"prune,omitempty"`

	// DeletionPolicy: what happens to what the Fleet applied when the Fleet is deleted. Orphan (the
	// default) leaves it in place; Delete removes it from every reachable cluster, within each cluster's
	// prune policy.
	// +kubebuilder:default=Orphan
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Suspend stops reconciliation: nothing is fetched or applied until it is unset. A running
	// reconciliation finishes.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// GitSource is a git repository and the revision to follow.
type GitSource struct {
	// URL of the repository: https://, http://, ssh://, user@host:path (scp-like ssh), or file:// (a
	// repository on the controller's filesystem, for tests and local development).
	// +kubebuilder:validation:Pattern="^((https?|ssh|file)://.+|[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:.+)$"
	// +required
	URL string `json:"url"`

	// Ref is the branch, tag or commit to follow. Absent: the branch the remote's HEAD points to.
	// +optional
	Ref *GitRef `json:"ref,omitempty"`

	// SecretRef names a Secret in the Fleet's namespace with the credentials of the repository: for
	// https, "username" and "password" (a token goes in password), and "ca.crt" for a private CA; for
	// ssh, "identity" (the private key), "known_hosts" (required: host keys are always checked) and
	// "password" (the key's passphrase, if any).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Verify requires the commit to carry a valid OpenPGP signature by one of the given keys.
	// +optional
	Verify *GitVerification `json:"verify,omitempty"`
}

// GitRef selects the revision to follow: exactly one of a branch, a tag or a commit.
// +kubebuilder:validation:XValidation:rule="(has(self.branch) ? 1 : 0) + (has(self.tag) ? 1 : 0) + (has(self.commit) ? 1 : 0) == 1",message="give exactly one of branch, tag and commit"
type GitRef struct {
	// Branch to follow, e.g. main.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=250
	// +optional
	Branch string `json:"branch,omitempty"`

	// Tag to follow, e.g. v1.2.0. A moved tag is followed.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=250
	// +optional
	Tag string `json:"tag,omitempty"`

	// Commit pins a revision: the full 40-hex SHA-1.
	// +kubebuilder:validation:Pattern="^[0-9a-f]{40}$"
	// +optional
	Commit string `json:"commit,omitempty"`
}

// GitVerification is the OpenPGP verification of the commit to sync.
type GitVerification struct {
	// SecretRef names a Secret in the Fleet's namespace whose every value is an armored OpenPGP public
	// key (-----BEGIN PGP PUBLIC KEY BLOCK-----). A commit not signed by one of them is refused and the
	// clusters stay on the last good revision.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// FleetStatus is the observed state of a Fleet.
type FleetStatus struct {
	// ObservedGeneration is the last generation of the spec reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (the last revision is applied to every reachable selected cluster), Reconciling
	// and Stalled, Flux style.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`

	// LastAppliedRevision is the last revision applied to every reachable selected cluster, e.g.
	// "main@sha1:<commit>".
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastAttemptedRevision is the revision of the last reconciliation, whether it succeeded or not.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// Clusters counts the Fleet's clusters per state; each cluster's details are in its FleetCluster.
	// +optional
	Clusters ClusterCounts `json:"clusters,omitempty"`
}

// ClusterCounts counts clusters per ClusterState.
type ClusterCounts struct {
	// Total is the number of selected clusters.
	// +kubebuilder:default=0
	Total int32 `json:"total"`
	// +kubebuilder:default=0
	// +optional
	InSync int32 `json:"inSync"`
	// +kubebuilder:default=0
	// +optional
	Drifted int32 `json:"drifted"`
	// +kubebuilder:default=0
	// +optional
	Syncing int32 `json:"syncing"`
	// +kubebuilder:default=0
	// +optional
	Failed int32 `json:"failed"`
	// +kubebuilder:default=0
	// +optional
	Offline int32 `json:"offline"`
	// +kubebuilder:default=0
	// +optional
	Pending int32 `json:"pending"`
	// +kubebuilder:default=0
	// +optional
	Interrupted int32 `json:"interrupted"`
}

// Add counts one cluster in the given state (and in Total). A state not listed counts only in Total.
func (c *ClusterCounts) Add(s ClusterState) {
	c.Total++
	switch s {
	case StateInSync:
		c.InSync++
	case StateDrifted:
		c.Drifted++
	case StateSyncing:
		c.Syncing++
	case StateFailed:
		c.Failed++
	case StateOffline:
		c.Offline++
	case StatePending:
		c.Pending++
	case StateInterrupted:
		c.Interrupted++
	}
}

// Fleet is a fleet repository synced to the clusters it declares. Target clusters' credentials are
// Secrets in the Fleet's namespace labelled fleet.vmo-cue.dev/cluster=<cluster name>, with the
// kubeconfig under the key "kubeconfig".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fl,categories=vmo-cue
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.lastAppliedRevision`
// +kubebuilder:printcolumn:name="Clusters",type=integer,JSONPath=`.status.clusters.total`
// +kubebuilder:printcolumn:name="In Sync",type=integer,JSONPath=`.status.clusters.inSync`
// +kubebuilder:printcolumn:name="Drifted",type=integer,JSONPath=`.status.clusters.drifted`,priority=1
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.clusters.failed`,priority=1
// +kubebuilder:printcolumn:name="Offline",type=integer,JSONPath=`.status.clusters.offline`,priority=1
// +kubebuilder:printcolumn:name="Interrupted",type=integer,JSONPath=`.status.clusters.interrupted`,priority=1
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Fleet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec FleetSpec `json:"spec"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status FleetStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions (conditions.Getter of fluxcd/pkg/runtime).
func (in *Fleet) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions (conditions.Setter of fluxcd/pkg/runtime).
func (in *Fleet) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetRequeueAfter is the interval: when the next reconciliation is due after a successful one.
func (in *Fleet) GetRequeueAfter() time.Duration {
	if in.Spec.Interval == nil {
		return DefaultInterval
	}
	return in.Spec.Interval.Duration
}

// GetTimeout bounds one reconciliation: spec.timeout, else the interval.
func (in *Fleet) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return in.GetRequeueAfter()
}

// GetLastHandledReconcileRequest returns the last reconcile.fluxcd.io/requestedAt value handled.
func (in *Fleet) GetLastHandledReconcileRequest() string {
	return in.Status.GetLastHandledReconcileRequest()
}

// +kubebuilder:object:root=true

// FleetList is a list of Fleets.
type FleetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Fleet `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Fleet{}, &FleetList{})
}
