package dashboard

import (
	"context"
	"time"
)

// Source is where the dashboard reads the clusters' side of the fleet.
type Source interface {
	// Clusters returns every cluster's status, as last recorded.
	Clusters(ctx context.Context) ([]ClusterRow, error)
	// Live reads one cluster's live VMs, drift and orphans; gc is what git declares of it (nil if
	// nothing).
	Live(ctx context.Context, cluster string, git *GitView) (*Live, error)
}

// ClusterRow is one cluster's recorded status.
type ClusterRow struct {
	Name     string
	State    string
	Revision string
	Wave     string
	Synced   time.Time
	LastSeen time.Time
	Drifted  int
	Orphans  int
	VMs      int
	Message  string
	Labels   map[string]string
}

// Live is what a cluster says now.
type Live struct {
	Reachable bool
	Message   string
	// VMs by "namespace/name".
	VMs     map[string]*LiveVM
	Drift   []Drift
	Orphans []string
	// DiffsKnown is false when the source knows which objects drifted but not how (the controller).
	DiffsKnown bool
}

// LiveVM is a VM's live status.
type LiveVM struct {
	Namespace, Name string
	PrintableStatus string
	Ready           bool
	Node            string
	Interfaces      []LiveInterface
}

// LiveInterface is an interface the VMI reports.
type LiveInterface struct {
	Name, MAC, IP string
}

// Drift is one object that differs from git, with the same diff as `vmo-cue diff`.
type Drift struct {
	ID        string
	Kind      string
	Namespace string
	Name      string
	Action    string
	Diff      string
}
