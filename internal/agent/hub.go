package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// hub is the agent's link to the management cluster: it reads its own FleetCluster (the released
// revision) and writes that FleetCluster's status. The status to send is a single slot: a newer one
// replaces one not sent yet (the latest wins), and it is sent on every change and every heartbeat,
// retried while the hub does not answer.
type hub struct {
	c                   client.Client
	namespace, name     string
	heartbeat, maxRetry time.Duration
	logf                func(string, ...any)

	mu      sync.Mutex
	latest  *fleetv1.FleetClusterStatus
	pending bool // latest not delivered yet
	changed chan struct{}
	// reachable is false from a failed request until one succeeds.
	reachable bool
}

func newHub(cfg *rest.Config, namespace, fleet, cluster string, heartbeat time.Duration, logf func(string, ...any)) (*hub, error) {
	s := runtime.NewScheme()
	if err := fleetv1.AddToScheme(s); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 10 * time.Second
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	return &hub{c: c, namespace: namespace, name: fleet + "." + cluster, heartbeat: heartbeat, maxRetry: 5 * time.Second,
		logf: logf, changed: make(chan struct{}, 1), reachable: true}, nil
}

// ref names the FleetCluster.
func (h *hub) ref() string { return h.namespace + "/" + h.name }

// released reads the revision the controller released to this cluster ("" if none yet) and why the
// controller holds the current one back from it ("" if it does not).
func (h *hub) released(ctx context.Context) (released, held string, err error) {
	var fc fleetv1.FleetCluster
	if err := h.c.Get(ctx, client.ObjectKey{Namespace: h.namespace, Name: h.name}, &fc); err != nil {
		h.markReachable(false, err)
		return "", "", fmt.Errorf("reading FleetCluster %s: %w", h.ref(), err)
	}
	h.markReachable(true, nil)
	return fc.Spec.ReleasedRevision, fc.Annotations[fleetv1.HeldAnnotation], nil
}

// set replaces the status to send.
func (h *hub) set(st fleetv1.FleetClusterStatus) {
	h.mu.Lock()
	h.latest, h.pending = &st, true
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// run sends the status on every change and every heartbeat until ctx ends; a failed send is retried
// with backoff (at most maxRetry, never more often than a change comes).
func (h *hub) run(ctx context.Context) {
	tick := time.NewTicker(h.heartbeat)
	defer tick.Stop()
	retry := h.retryBackoff()
	var retryC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-h.changed:
		case <-retryC:
		}
		retryC = nil
		if err := h.send(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			retryC = time.After(retry.Step())
			continue
		}
		retry = h.retryBackoff()
	}
}

// retryBackoff is the schedule of a failed send's retries: 500 ms doubling, at most maxRetry.
func (h *hub) retryBackoff() wait.Backoff {
	return wait.Backoff{Duration: min(500*time.Millisecond, h.maxRetry), Factor: 2, Cap: h.maxRetry, Steps: math.MaxInt32}
}

func (h *hub) markReachable(ok bool, err error) {
	h.mu.Lock()
	was := h.reachable
	h.reachable = ok
	h.mu.Unlock()
	switch {
	case was && !ok:
		h.logf("hub: FleetCluster %s unreachable, carrying on alone (status queued, the latest wins): %v", h.ref(), err)
	case !was && ok:
		h.logf("hub: FleetCluster %s reachable again", h.ref())
	}
}

// send writes the latest status with the heartbeat time now: one merge patch of the status subresource.
func (h *hub) send(ctx context.Context) error {
	h.mu.Lock()
	if h.latest == nil {
		h.mu.Unlock()
		return nil
	}
	st := *h.latest
	h.mu.Unlock()
	now := metav1.Now()
	st.LastHeartbeatTime, st.LastSeenTime = &now, &now
	body, err := json.Marshal(map[string]any{"status": statusPatch(st)})
	if err != nil {
		return err
	}
	fc := &fleetv1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Namespace: h.namespace, Name: h.name}}
	if err := h.c.Status().Patch(ctx, fc, client.RawPatch(types.MergePatchType, body)); err != nil {
		h.markReachable(false, err)
		return fmt.Errorf("writing the status of FleetCluster %s: %w", h.ref(), err)
	}
	h.markReachable(true, nil)
	h.mu.Lock()
	if h.latest != nil && equalStatus(*h.latest, st) {
		h.pending = false
	}
	h.mu.Unlock()
	return nil
}

func equalStatus(a, b fleetv1.FleetClusterStatus) bool {
	a.LastHeartbeatTime, a.LastSeenTime, b.LastHeartbeatTime, b.LastSeenTime = nil, nil, nil, nil
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// statusPatch is the merge patch of a status: every field the agent owns is set, empty ones to null,
// so that nothing of an earlier status (or of the controller's Offline) lingers.
func statusPatch(st fleetv1.FleetClusterStatus) map[string]any {
	orNull := func(v any, empty bool) any {
		if empty {
			return nil
		}
		return v
	}
	return map[string]any{
		"state":             st.State,
		"revision":          orNull(st.Revision, st.Revision == ""),
		"lastSyncTime":      orNull(st.LastSyncTime, st.LastSyncTime == nil),
		"lastSeenTime":      st.LastSeenTime,
		"lastHeartbeatTime": st.LastHeartbeatTime,
		"driftedObjects":    st.DriftedObjects,
		"drifted":           orNull(st.Drifted, len(st.Drifted) == 0),
		"contested":         orNull(st.Contested, len(st.Contested) == 0),
		"orphans":           st.Orphans,
		"vms":               st.VMs,
		"message":           orNull(st.Message, st.Message == ""),
		"conditions":        st.Conditions,
	}
}

// readyCondition is the FleetCluster's Ready condition for a state.
func readyCondition(state fleetv1.ClusterState, message string, generation int64) metav1.Condition {
	c := metav1.Condition{Type: meta.ReadyCondition, Status: metav1.ConditionFalse, Reason: string(state), Message: message,
		LastTransitionTime: metav1.Now(), ObservedGeneration: generation}
	if c.Message == "" {
		c.Message = string(state)
	}
	if state == fleetv1.StateInSync {
		c.Status, c.Reason = metav1.ConditionTrue, meta.ReconciliationSucceededReason
	}
	return c
}
