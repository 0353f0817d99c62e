// Package controller is the fleet controller (`vmo-cue controller`): a controller-runtime reconciler
// of Fleets (api/v1alpha1) that fetches each Fleet's repository (internal/source), syncs its clusters
// from one revision in a rollout (reconciler/fleet), and reports as Flux controllers do, with
// fluxcd/pkg/runtime: conditions and the patch helper, events, gotk_reconcile_duration_seconds.
//
// fleet_controller.go is the reconcile loop, clusters.go the FleetCluster objects (one per cluster),
// credentials.go the Secrets (git credentials and target clusters' kubeconfigs), webhook.go the
// receiver of git push webhooks, metrics.go the controller's own Prometheus metrics.
package controller

import (
	"context"
	"fmt"
	"github.com/vmo-cue/vmo-cue/internal/dashboard"
	"os"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	fluxcontroller "github.com/fluxcd/pkg/runtime/controller"
	"github.com/fluxcd/pkg/runtime/patch"
	"github.com/fluxcd/pkg/runtime/predicates"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	kuberecorder "k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/evalworker"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// Name is the controller's name: its field manager, event source and the prefix of its Lease.
const Name = "vmo-cue-controller"

// fleetIndex indexes FleetClusters by spec.fleet.
const fleetIndex = "spec.fleet"

// Options tune the controller.
type Options struct {
	// CacheDir holds the git cache (and, briefly, credential files in a private folder).
	CacheDir string
	// ConnectTimeout bounds reaching a target cluster: an unreachable one is Offline after it.
	ConnectTimeout time.Duration
	// PendingTimeout is how long objects wait for their kind to exist in a target cluster.
	PendingTimeout time.Duration
	// MaxFileSize bounds the files read from a fleet repository (fleetfs' default if 0).
	MaxFileSize int64
	// Budget bounds each cluster's evaluation when it runs in this process (no Worker; without a
	// re-execution hook, the runaway goroutine runs on: see engine.Budget). A worker gets its budget
	// as flags (Worker.Args).
	Budget engine.Budget
	// Concurrent is the number of Fleets reconciled at once.
	Concurrent int
	// AgentOfflineAfter: a pull cluster whose agent's heartbeat is older is Offline
	// (DefaultAgentOfflineAfter if 0).
	AgentOfflineAfter time.Duration
	// DeletionTimeout bounds how long a Fleet deleted with deletionPolicy Delete retries the clusters
	// it could not clean (DefaultDeletionTimeout if 0); then what is left there stays.
	DeletionTimeout time.Duration
	// KubeAPIQPS is the client's limit of requests per second to the management cluster (its
	// rest.Config's QPS; Run sets it): the deadline of a pass's FleetCluster writes grows with the
	// time the limit needs for them.
	KubeAPIQPS float32
	// Worker, when its Binary is set, loads each revision in an evaluation worker process the
	// controller ends (worker.go); else the revision is evaluated in the controller's process.
	Worker evalworker.Options
}

// FleetReconciler reconciles Fleets.
type FleetReconciler struct {
	// Client reads through the manager's cache (Fleets, FleetClusters) and writes.
	client.Client
	// APIReader reads straight from the API server: Secrets (never cached) and objects the cache
	// may not hold yet.
	APIReader client.Reader
	// EventRecorder records Kubernetes events (fluxcd/pkg/runtime's events.Recorder).
	EventRecorder kuberecorder.EventRecorder
	// Metrics records gotk_reconcile_duration_seconds and Flux's condition gauges.
	fluxcontroller.Metrics
	// Stats are the controller's own metrics (vmocue_*).
	Stats *Metrics
	Options
	// Checkouts, when the dashboard runs, learns each Fleet's last fetched revision (its git view);
	// dashboardNamespace is the namespace served.
	Checkouts          *dashboard.Checkouts
	dashboardNamespace string

	hooks   chan event.GenericEvent
	elected <-chan struct{}

	mu     sync.Mutex
	states map[types.NamespacedName]*fleet.LocalState
}

// SetupWithManager registers the reconciler, its watches and its FleetCluster index.
func (r *FleetReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.ConnectTimeout == 0 {
		r.ConnectTimeout = 5 * time.Second
	}
	if r.PendingTimeout == 0 {
		r.PendingTimeout = reconciler.DefaultPendingTimeout
	}
	if r.Concurrent <= 0 {
		r.Concurrent = 4
	}
	r.hooks = make(chan event.GenericEvent, 1024)
	r.elected = mgr.Elected()
	r.states = map[types.NamespacedName]*fleet.LocalState{}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &fleetv1.FleetCluster{}, fleetIndex, func(o client.Object) []string {
		return []string{o.(*fleetv1.FleetCluster).Spec.Fleet}
	}); err != nil {
		return fmt.Errorf("indexing FleetClusters by fleet: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&fleetv1.Fleet{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequestedPredicate{}))).
		// A FleetCluster deleted by hand comes back at once; an agent reporting a new state or
		// revision moves its Fleet's rollout on; a take-over asked for (AdoptAnnotation) is done now. The controller's own writes of FleetClusters and
		// agents' mere heartbeats do not trigger reconciliations.
		Watches(&fleetv1.FleetCluster{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &fleetv1.Fleet{}, handler.OnlyControllerOwner()),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(e event.UpdateEvent) bool { return agentReported(e) || adoptRequested(e) },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		// The webhook receiver's requests.
		WatchesRawSource(source.Channel(r.hooks, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Concurrent}).
		Complete(r)
}

// liveClient is the client with reads from the API server: fluxcd/pkg/runtime's patch helper reads
// the object before patching its conditions (with an optimistic lock), and the cache may not hold an
// object just created, or the last patch of one, yet.
type liveClient struct {
	client.Client
	reader client.Reader
}

func (c liveClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.reader.Get(ctx, key, obj, opts...)
}

// patcher is fluxcd/pkg/runtime's serial patch helper for obj, reading from the API server.
func (r *FleetReconciler) patcher(obj client.Object) *patch.SerialPatcher {
	return patch.NewSerialPatcher(obj, liveClient{Client: r.Client, reader: r.APIReader})
}

// state is the in-memory record of a Fleet's clusters (last seen, offline backoff). Made anew (a
// restart, a new leader), it starts from the FleetClusters: a cluster Offline there keeps its backoff,
// counted from when it went Offline (its offlineSince), so a restart does not retry
// every offline site at once.
func (r *FleetReconciler) state(key types.NamespacedName, existing map[string]*fleetv1.FleetCluster) *fleet.LocalState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.states[key]
	if !ok {
		s, _ = fleet.OpenState("") // in memory: cannot fail
		now := time.Now()
		for name, fc := range existing {
			st := fc.Status
			ready := apimeta.FindStatusCondition(st.Conditions, meta.ReadyCondition)
			if fc.Spec.Mode == fleetv1.ModePull || st.State != fleetv1.StateOffline || ready == nil {
				continue
			}
			var seen time.Time
			if st.LastSeenTime != nil {
				seen = st.LastSeenTime.Time
			}
			since := ready.LastTransitionTime.Time // recorded before offlineSince was
			if st.OfflineSince != nil {
				since = st.OfflineSince.Time
			}
			s.RestoreOffline(name, since, seen, st.Revision, int(st.VMs), now)
		}
		r.states[key] = s
	}
	return s
}

func (r *FleetReconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	delete(r.states, key)
	r.mu.Unlock()
	r.Stats.forget(key.Namespace, key.Name)
	forgetWorker(key.Namespace, key.Name)
	if r.CacheDir != "" {
		_ = os.RemoveAll(r.evalDir(key.Namespace, key.Name))
	}
}
