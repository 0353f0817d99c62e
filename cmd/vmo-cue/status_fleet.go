package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// fleetStatuses reads the FleetClusters of the Fleet ns/name from a management cluster (the
// kubeconfig's current context, or ctxName): the controller's record of each cluster, in the same
// shape as the status vmo-cue records in each cluster.
func fleetStatuses(kubeconfig, ctxName, ref string, timeout time.Duration) ([]clusterstatus.ClusterStatus, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("--fleet %s: want NAMESPACE/NAME", ref)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: ctxName}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	cfg.Timeout = timeout
	scheme := runtime.NewScheme()
	if err := fleetv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var f fleetv1.Fleet
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &f); err != nil {
		return nil, fmt.Errorf("fleet %s/%s: %w", ns, name, err)
	}
	var list fleetv1.FleetClusterList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{fleetv1.FleetLabel: name}); err != nil {
		return nil, fmt.Errorf("fleet %s/%s: listing its FleetClusters: %w", ns, name, err)
	}
	out := make([]clusterstatus.ClusterStatus, 0, len(list.Items))
	for _, fc := range list.Items {
		st := fc.Status
		s := clusterstatus.ClusterStatus{
			Cluster: fc.Spec.Cluster, State: clusterstatus.State(st.State), Revision: st.Revision,
			Drifted: int(st.DriftedObjects), Orphans: int(st.Orphans), VMs: int(st.VMs), Message: st.Message,
		}
		if st.LastSyncTime != nil {
			s.Synced = st.LastSyncTime.Time
		}
		if st.LastSeenTime != nil {
			s.LastSeen = st.LastSeenTime.Time
		}
		if fc.Spec.Mode == fleetv1.ModePull {
			// Its agent's report: what was released to it, drifted and contested objects.
			s.Agent, s.Released, s.DriftedObjects = ref, fc.Spec.ReleasedRevision, st.Drifted
			for _, c := range st.Contested {
				s.Contested = append(s.Contested, fmt.Sprintf("%s by %s after %d corrections", c.Object, c.Manager, c.Corrections))
			}
		}
		out = append(out, s)
	}
	return out, nil
}
