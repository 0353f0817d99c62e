package agent

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// maxNames bounds the object names in a status (the FleetCluster's lists hold at most 50).
const maxNames = 50

// report records the state: in the cluster (vmo-cue-system/vmo-cue-status, with the released
// revision, so that a restart resumes from it) and, with a hub, in the FleetCluster's status.
func (a *Agent) report(state fleetv1.ClusterState, msg string, res *reconciler.Result) {
	st := fleetv1.FleetClusterStatus{State: state, Message: msg, LastSyncTime: a.lastSync, Revision: a.applied}
	if a.cur != nil {
		st.VMs = int32(a.cur.vms)
	}
	if res != nil {
		st.DriftedObjects, st.Orphans = int32(len(res.Drifted)), int32(len(res.Orphans))
		for _, it := range res.Drifted {
			if len(st.Drifted) < maxNames {
				st.Drifted = append(st.Drifted, objectName(it.ID))
			}
		}
	} else {
		st.DriftedObjects, st.Orphans, st.Drifted = a.last.DriftedObjects, a.last.Orphans, a.last.Drifted
	}
	var contested []string
	for _, c := range a.guard.list() {
		name := objectName(c.id)
		if len(st.Contested) < maxNames {
			st.Contested = append(st.Contested, fleetv1.ContestedObject{Object: name, Manager: c.manager, Corrections: int32(c.corrections)})
		}
		// A contested object is drifted, and left so.
		if !slices.Contains(st.Drifted, name) {
			st.DriftedObjects++
			if len(st.Drifted) < maxNames {
				st.Drifted = append(st.Drifted, name)
			}
		}
		contested = append(contested, c.String())
	}
	if len(contested) > 0 && state == fleetv1.StateInSync {
		// Objects left as another manager keeps them differ from git.
		st.State = fleetv1.StateDrifted
	}
	if a.ready.Type == "" || a.ready.Reason != readyCondition(st.State, "", 0).Reason || a.ready.Message != msg {
		cond := readyCondition(st.State, msg, 0)
		if a.ready.Type != "" && a.ready.Status == cond.Status {
			cond.LastTransitionTime = a.ready.LastTransitionTime
		}
		a.ready = cond
	}
	st.Conditions = []metav1.Condition{a.ready}
	if st.State != a.last.State || st.State == fleetv1.StateFailed && st.Message != a.last.Message {
		a.logf("state %s: %s", st.State, msg)
	}
	a.last = st
	if a.hub != nil {
		a.hub.set(st)
	}
	if a.rc == nil {
		return
	}
	agentName := "standalone"
	if a.hub != nil {
		agentName = a.opts.HubNamespace + "/" + a.opts.HubFleet
	}
	local := clusterstatus.ClusterStatus{Cluster: a.opts.Cluster, State: clusterstatus.State(st.State), Revision: st.Revision, Drifted: int(st.DriftedObjects),
		Orphans: int(st.Orphans), VMs: int(st.VMs), Message: msg, Agent: agentName, Released: a.released, DriftedObjects: st.Drifted, Contested: contested}
	if a.lastSync != nil {
		local.Synced = a.lastSync.Time
	}
	if a.hub == nil && a.cur != nil {
		local.Released = a.cur.revision
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clusterstatus.Write(ctx, a.rc.Client, local); err != nil {
		a.logf("status: %v", err)
	}
}
