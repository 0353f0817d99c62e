package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	fluxcontroller "github.com/fluxcd/pkg/runtime/controller"
	"github.com/fluxcd/pkg/runtime/events"
	"github.com/fluxcd/pkg/runtime/jitter"
	fluxmetrics "github.com/fluxcd/pkg/runtime/metrics"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/dashboard"
)

// RunOptions configure the manager of `vmo-cue controller`.
type RunOptions struct {
	Options
	// Namespace whose Fleets are served; the manager's cache holds nothing else.
	Namespace string
	// MetricsAddr serves /metrics, ProbeAddr /healthz and /readyz, WebhookAddr the receiver.
	MetricsAddr, ProbeAddr, WebhookAddr string
	// PprofAddr serves Go's /debug/pprof (empty or "0": off).
	PprofAddr string
	// WatchLabelSelector shards Fleets between controllers, as Flux's --watch-label-selector does
	// (e.g. "sharding.fluxcd.io/key in (shard1)"); each shard has its own Lease.
	WatchLabelSelector string
	// LeaderElect makes one replica (per shard) act at a time, through a Lease in Namespace.
	LeaderElect                               bool
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// JitterPercent spreads each Fleet's interval by ± this percentage.
	JitterPercent uint8
	Log           logr.Logger
	// DashboardAddr, if set, serves the read-only dashboard there (internal/dashboard), behind
	// TokenReview and SubjectAccessReview: the ClusterRole of deploy/controller-dashboard.
	DashboardAddr string
	// DashboardAllowCommits enables the dashboard's VM form for users who may update fleets: each
	// change is committed in a private clone of the Fleet's repository, pushed with the Fleet's
	// credentials as DashboardCommitter (name, email), and the Fleet reconciled.
	DashboardAllowCommits                           bool
	DashboardCommitterName, DashboardCommitterEmail string
}

// LeaderElectionID is the Lease of a shard: the controller's name, and a hash of the selector for a
// shard.
func LeaderElectionID(watchLabelSelector string) string {
	if watchLabelSelector == "" {
		return Name
	}
	sum := sha256.Sum256([]byte(watchLabelSelector))
	return Name + "-" + hex.EncodeToString(sum[:])[:10]
}

// Run builds the manager and runs it until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o RunOptions) error {
	if o.Namespace == "" {
		return errors.New("no namespace to serve: set --namespace or POD_NAMESPACE")
	}
	if o.JitterPercent >= 100 {
		return fmt.Errorf("--interval-jitter-percentage %d: want less than 100", o.JitterPercent)
	}
	jitter.SetGlobalIntervalJitter(float64(o.JitterPercent)/100, nil)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := fleetv1.AddToScheme(scheme); err != nil {
		return err
	}
	fleets := cache.ByObject{}
	if o.WatchLabelSelector != "" {
		ls, err := metav1.ParseToLabelSelector(o.WatchLabelSelector)
		if err != nil {
			return fmt.Errorf("--watch-label-selector %q: %w", o.WatchLabelSelector, err)
		}
		if fleets.Label, err = metav1.LabelSelectorAsSelector(ls); err != nil {
			return fmt.Errorf("--watch-label-selector %q: %w", o.WatchLabelSelector, err)
		}
	} else {
		fleets.Label = labels.Everything()
	}
	mopts := ctrl.Options{
		Scheme: scheme,
		Logger: o.Log,
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{o.Namespace: {}},
			ByObject:          map[client.Object]cache.ByObject{&fleetv1.Fleet{}: fleets},
			// Nothing reads managedFields: cached objects go without them.
			DefaultTransform: cache.TransformStripManagedFields(),
		},
		// Secrets are read from the API server when needed, never cached (nor watched).
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		PprofBindAddress:              o.PprofAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              LeaderElectionID(o.WatchLabelSelector),
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionResourceLock:    "leases",
		LeaderElectionReleaseOnCancel: true,
	}
	if o.LeaseDuration > 0 {
		mopts.LeaseDuration = &o.LeaseDuration
	}
	if o.RenewDeadline > 0 {
		mopts.RenewDeadline = &o.RenewDeadline
	}
	if o.RetryPeriod > 0 {
		mopts.RetryPeriod = &o.RetryPeriod
	}
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	recorder := fluxmetrics.NewRecorder()
	stats := NewMetrics()
	for _, c := range append(append(recorder.Collectors(), stats.Collectors()...), workerCollectors()...) {
		if err := ctrlmetrics.Registry.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	eventRecorder, err := events.NewRecorder(mgr, o.Log, "", Name)
	if err != nil {
		return fmt.Errorf("event recorder: %w", err)
	}
	r := &FleetReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		EventRecorder: eventRecorder,
		Metrics:       fluxcontroller.NewMetrics(mgr, recorder, fleetv1.FleetFinalizer),
		Stats:         stats,
		Options:       o.Options,
	}
	r.KubeAPIQPS = cfg.QPS
	if o.DashboardAddr != "" {
		r.Checkouts, r.dashboardNamespace = &dashboard.Checkouts{}, o.Namespace
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	if err := (&HeartbeatReconciler{Client: mgr.GetClient(), OfflineAfter: r.agentOfflineAfter()}).SetupWithManager(mgr); err != nil {
		return err
	}
	listening := make(chan struct{})
	if err := mgr.Add(&ReceiverServer{Addr: o.WebhookAddr, Handler: r.NewReceiver(o.Log.WithName("webhook")), Listening: listening}); err != nil {
		return err
	}
	if o.DashboardAddr != "" {
		d := &dashboard.ManagerServer{Addr: o.DashboardAddr, Namespace: o.Namespace, Reader: mgr.GetClient(), Client: mgr.GetClient(), Log: o.Log.WithName("dashboard"),
			GitView: r.Checkouts.View}
		if o.DashboardAllowCommits {
			d.Commits = &dashboard.CommitOptions{Name: o.DashboardCommitterName, Email: o.DashboardCommitterEmail, Remote: "origin",
				Workspace: r.Workspace, AfterCommit: r.afterCommit}
		}
		if err := mgr.Add(d); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook-receiver", func(*http.Request) error {
		select {
		case <-listening:
			return nil
		default:
			return errors.New("the webhook receiver is not listening yet")
		}
	}); err != nil {
		return err
	}
	o.Log.Info("starting", "namespace", o.Namespace, "watchLabelSelector", o.WatchLabelSelector, "leaderElection", o.LeaderElect,
		"lease", mopts.LeaderElectionID, "metrics", o.MetricsAddr, "probes", o.ProbeAddr, "webhook", o.WebhookAddr)
	return mgr.Start(ctx)
}
