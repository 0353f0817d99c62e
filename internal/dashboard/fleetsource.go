package dashboard

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// FleetSource reads the controller's record of a Fleet from the management cluster: its
// FleetClusters (state, revision, times, counts, drifted object names). It never reaches the target
// clusters: drift is named, not diffed.
type FleetSource struct {
	Client    client.Reader
	Namespace string
	// Fleet, if set, narrows to one Fleet's clusters.
	Fleet string
}

func (f *FleetSource) list(ctx context.Context) ([]fleetv1.FleetCluster, error) {
	opts := []client.ListOption{client.InNamespace(f.Namespace)}
	if f.Fleet != "" {
		opts = append(opts, client.MatchingLabels{fleetv1.FleetLabel: f.Fleet})
	}
	var list fleetv1.FleetClusterList
	if err := f.Client.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing the FleetClusters of %s: %w", f.Namespace, err)
	}
	return list.Items, nil
}

// Clusters maps each FleetCluster to a row.
func (f *FleetSource) Clusters(ctx context.Context) ([]ClusterRow, error) {
	items, err := f.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ClusterRow, 0, len(items))
	for _, fc := range items {
		st := fc.Status
		r := ClusterRow{Name: fc.Spec.Cluster, Wave: fc.Spec.Wave, State: string(st.State), Revision: st.Revision,
			Drifted: int(st.DriftedObjects), Orphans: int(st.Orphans), VMs: int(st.VMs), Message: st.Message}
		if st.LastSyncTime != nil {
			r.Synced = st.LastSyncTime.Time
		}
		if st.LastSeenTime != nil {
			r.LastSeen = st.LastSeenTime.Time
		}
		out = append(out, r)
	}
	return out, nil
}

// Live gives the drifted objects the controller named in the cluster's FleetCluster.
func (f *FleetSource) Live(ctx context.Context, cluster string, _ *GitView) (*Live, error) {
	items, err := f.list(ctx)
	if err != nil {
		return nil, err
	}
	l := &Live{VMs: map[string]*LiveVM{}}
	for _, fc := range items {
		if fc.Spec.Cluster != cluster {
			continue
		}
		l.Reachable = fc.Status.State != fleetv1.StateOffline
		l.Message = fc.Status.Message
		for _, d := range fc.Status.Drifted {
			l.Drift = append(l.Drift, Drift{ID: d, Action: "drifted"})
		}
	}
	return l, nil
}
