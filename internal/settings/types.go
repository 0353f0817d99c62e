// Package settings holds a cluster's settings as Go types (schemas.#Settings and #Stack, the one
// source: TestTypesMatchSchema holds every Go field to a CUE field and back) and decodes a cluster's
// resolved settings into them once, keeping where each setting was written.
package settings

// Settings are schemas.#Settings: what a cluster takes from the fleet's defaults or sets itself.
// The parts only Go reads (policy, drift, prune) are values; the stack, which the render templates
// take, keeps every field's presence (pointers where the zero value could be written).
type Settings struct {
	Stack      Stack  `json:"stack,omitempty,omitzero"`
	Policy     Policy `json:"policy,omitempty,omitzero"`
	Namespace  string `json:"namespace,omitempty"`
	L2Domain   string `json:"l2Domain,omitempty"`
	Drift      Drift  `json:"drift,omitempty,omitzero"`
	PowerState string `json:"powerState,omitempty"`
	Prune      Prune  `json:"prune,omitempty,omitzero"`
}

// Drift is #Settings.drift.
type Drift struct {
	// Ignore lists, per kind, dot-separated field paths whose changes by others are not drift.
	Ignore map[string][]string `json:"ignore,omitempty"`
}

// Prune is #Settings.prune.
type Prune struct {
	VirtualMachines        bool     `json:"virtualMachines,omitempty"`
	DataVolumes            bool     `json:"dataVolumes,omitempty"`
	PersistentVolumeClaims bool     `json:"persistentVolumeClaims,omitempty"`
	Namespaces             bool     `json:"namespaces,omitempty"`
	MaxShare               *float64 `json:"maxShare,omitempty"`
}

// Policy is #Policy.
type Policy struct {
	MAC        MACPolicy        `json:"mac,omitempty,omitzero"`
	Namespaces NamespacesPolicy `json:"namespaces,omitempty,omitzero"`
	Apply      ApplyPolicy      `json:"apply,omitempty,omitzero"`
}

// MACPolicy is policies.#MACPolicy.
type MACPolicy struct {
	Allow    string   `json:"allow,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
}

// NamespacesPolicy is #Policy.namespaces.
type NamespacesPolicy struct {
	AllowSystem []string `json:"allowSystem,omitempty"`
}

// ApplyPolicy is #ApplyPolicy.
type ApplyPolicy struct {
	Kinds      []string `json:"kinds,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
	Secrets    bool     `json:"secrets,omitempty"`
	Registries []string `json:"registries,omitempty"`
}

// Stack is #Stack. Every field keeps its presence, so the stack encodes to CUE as the value it was
// decoded from (the render templates test `field != _|_`): TestTypedStackRoundTrips.
type Stack struct {
	KubeVirt                 KubeVirt                 `json:"kubevirt,omitempty,omitzero"`
	CDI                      CDI                      `json:"cdi,omitempty,omitzero"`
	Multus                   Multus                   `json:"multus,omitempty,omitzero"`
	Descheduler              Descheduler              `json:"descheduler,omitempty,omitzero"`
	SnapshotController       SnapshotController       `json:"snapshotController,omitempty,omitzero"`
	VolumeSnapshotController VolumeSnapshotController `json:"volumeSnapshotController,omitempty,omitzero"`
	Dashboard                Dashboard                `json:"dashboard,omitempty,omitzero"`
	VLANFiltering            VLANFiltering            `json:"vlanFiltering,omitempty,omitzero"`
}

// Switch is a component's `enabled`.
type Switch struct {
	Enabled *bool `json:"enabled,omitempty"`
}

// On reports whether the component is enabled.
func (s Switch) On() bool { return s.Enabled != nil && *s.Enabled }

// Operator is #Operator.
type Operator struct {
	Image    string `json:"image,omitempty"`
	Replicas *int64 `json:"replicas,omitempty"`
}

// KubeVirt is #KubeVirt.
type KubeVirt struct {
	Switch
	Version               string          `json:"version,omitempty"`
	FeatureGates          map[string]bool `json:"featureGates,omitempty"`
	CPUHotplug            *bool           `json:"cpuHotplug,omitempty"`
	EvictionStrategy      string          `json:"evictionStrategy,omitempty"`
	VMRolloutStrategy     string          `json:"vmRolloutStrategy,omitempty"`
	WorkloadUpdateMethods []string        `json:"workloadUpdateMethods,omitempty"`
	WorkloadUpdate        *WorkloadUpdate `json:"workloadUpdate,omitempty"`
	Migrations            *Migrations     `json:"migrations,omitempty"`
	LiveUpdate            *LiveUpdate     `json:"liveUpdate,omitempty"`
	Operator              *Operator       `json:"operator,omitempty"`
}

// WorkloadUpdate is #KubeVirt.workloadUpdate.
type WorkloadUpdate struct {
	BatchEvictionSize     *int64 `json:"batchEvictionSize,omitempty"`
	BatchEvictionInterval string `json:"batchEvictionInterval,omitempty"`
}

// Migrations is #KubeVirt.migrations.
type Migrations struct {
	ParallelMigrationsPerCluster      *int64 `json:"parallelMigrationsPerCluster,omitempty"`
	ParallelOutboundMigrationsPerNode *int64 `json:"parallelOutboundMigrationsPerNode,omitempty"`
	BandwidthPerMigration             string `json:"bandwidthPerMigration,omitempty"`
	CompletionTimeoutPerGiB           *int64 `json:"completionTimeoutPerGiB,omitempty"`
	ProgressTimeout                   *int64 `json:"progressTimeout,omitempty"`
	AllowAutoConverge                 *bool  `json:"allowAutoConverge,omitempty"`
	AllowPostCopy                     *bool  `json:"allowPostCopy,omitempty"`
	UnsafeMigrationOverride           *bool  `json:"unsafeMigrationOverride,omitempty"`
}

// LiveUpdate is #KubeVirt.liveUpdate.
type LiveUpdate struct {
	MaxHotplugRatio *int64 `json:"maxHotplugRatio,omitempty"`
	MaxCPUSockets   *int64 `json:"maxCpuSockets,omitempty"`
	MaxGuest        string `json:"maxGuest,omitempty"`
}

// CDI is #CDI.
type CDI struct {
	Switch
	Version            string              `json:"version,omitempty"`
	FeatureGates       map[string]bool     `json:"featureGates,omitempty"`
	FilesystemOverhead *FilesystemOverhead `json:"filesystemOverhead,omitempty"`
	Operator           *Operator           `json:"operator,omitempty"`
}

// FilesystemOverhead is #CDI.filesystemOverhead.
type FilesystemOverhead struct {
	Global       string            `json:"global,omitempty"`
	StorageClass map[string]string `json:"storageClass,omitempty"`
}

// Multus is #Multus.
type Multus struct {
	Switch
	Version  string             `json:"version,omitempty"`
	Networks map[string]Network `json:"networks,omitempty"`
	Operator *Operator          `json:"operator,omitempty"`
}

// Network is #Network: the fields of every `type` (each type's own are set only for it).
type Network struct {
	Type      string `json:"type,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// bridge (#VLANNetwork)
	Bridge              string `json:"bridge,omitempty"`
	VLAN                *int64 `json:"vlan,omitempty"`
	MTU                 *int64 `json:"mtu,omitempty"`
	MACSpoofChk         *bool  `json:"macspoofchk,omitempty"`
	PreserveDefaultVlan *bool  `json:"preserveDefaultVlan,omitempty"`
	// IPAM is the CNI plugin's ipam section as written (an open struct).
	IPAM map[string]any `json:"ipam,omitempty"`
	// sriov, macvtap
	ResourceName string `json:"resourceName,omitempty"`
	VLANQoS      *int64 `json:"vlanQoS,omitempty"`
	SpoofChk     string `json:"spoofchk,omitempty"`
	Trust        string `json:"trust,omitempty"`
	LinkState    string `json:"linkState,omitempty"`
	MinTxRate    *int64 `json:"minTxRate,omitempty"`
	MaxTxRate    *int64 `json:"maxTxRate,omitempty"`
	// macvlan, macvtap
	Master string `json:"master,omitempty"`
	Mode   string `json:"mode,omitempty"`
	// ovn-k8s-cni-overlay
	Topology            string  `json:"topology,omitempty"`
	Subnets             *string `json:"subnets,omitempty"`
	ExcludeSubnets      *string `json:"excludeSubnets,omitempty"`
	PhysicalNetworkName *string `json:"physicalNetworkName,omitempty"`
	VLANID              *int64  `json:"vlanID,omitempty"`
}

// Kind is the network's CNI type ("bridge" unless it says otherwise).
func (n Network) Kind() string {
	if n.Type == "" {
		return "bridge"
	}
	return n.Type
}

// Descheduler is #Descheduler.
type Descheduler struct {
	Switch
	Version  string             `json:"version,omitempty"`
	Schedule string             `json:"schedule,omitempty"`
	Policy   *DeschedulerPolicy `json:"policy,omitempty"`
	Operator *Operator          `json:"operator,omitempty"`
}

// DeschedulerPolicy is #Descheduler.policy.
type DeschedulerPolicy struct {
	RemovePodsViolatingNodeTaints *bool               `json:"removePodsViolatingNodeTaints,omitempty"`
	LowNodeUtilization            *LowNodeUtilization `json:"lowNodeUtilization,omitempty"`
	EvictVMs                      *bool               `json:"evictVMs,omitempty"`
}

// LowNodeUtilization is #Descheduler.policy.lowNodeUtilization.
type LowNodeUtilization struct {
	Enabled          *bool       `json:"enabled,omitempty"`
	Thresholds       *Thresholds `json:"thresholds,omitempty"`
	TargetThresholds *Thresholds `json:"targetThresholds,omitempty"`
}

// Thresholds are percentages of a node's resources.
type Thresholds struct {
	CPU    *int64 `json:"cpu,omitempty"`
	Memory *int64 `json:"memory,omitempty"`
	Pods   *int64 `json:"pods,omitempty"`
}

// SnapshotController is #SnapshotController.
type SnapshotController struct {
	Switch
	Version  string    `json:"version,omitempty"`
	Operator *Operator `json:"operator,omitempty"`
}

// VolumeSnapshotController is #VolumeSnapshotController.
type VolumeSnapshotController struct {
	Switch
	Classes map[string]SnapshotClass `json:"classes,omitempty"`
}

// SnapshotClass is a VolumeSnapshotClass of #VolumeSnapshotController.classes.
type SnapshotClass struct {
	Driver         string            `json:"driver,omitempty"`
	DeletionPolicy string            `json:"deletionPolicy,omitempty"`
	Default        *bool             `json:"default,omitempty"`
	Parameters     map[string]string `json:"parameters,omitempty"`
}

// Dashboard is #Dashboard.
type Dashboard struct {
	Switch
	Version  string    `json:"version,omitempty"`
	Operator *Operator `json:"operator,omitempty"`
}

// VLANFiltering is #VLANFiltering.
type VLANFiltering struct {
	Switch
	Bridge       string    `json:"bridge,omitempty"`
	AllowedVlans []VLAN    `json:"allowedVlans,omitempty"`
	Host         *VLANHost `json:"host,omitempty"`
	Operator     *Operator `json:"operator,omitempty"`
}

// VLANHost is #VLANFiltering.host.
type VLANHost struct {
	Enabled      *bool  `json:"enabled,omitempty"`
	AllowedVlans []VLAN `json:"allowedVlans,omitempty"`
}
