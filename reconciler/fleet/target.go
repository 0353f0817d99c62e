package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"

	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// clusterTarget is a real cluster reached through a kubeconfig context.
type clusterTarget struct {
	vc *LoadedCluster
	// render gives the cluster's desired state (Loaded.Render).
	render  func(ctx context.Context, cluster string) (*reconciler.Desired, error)
	opts    *Options
	health  string
	timeout time.Duration
	rc      *reconciler.Cluster
}

func (t *clusterTarget) Name() string { return t.vc.Name }

// restConfig loads the cluster's context. Errors name the file and context, never their contents.
func restConfig(kubeconfig, context string, connectTimeout time.Duration) (*rest.Config, error) {
	cfg, err := reconciler.RESTConfig(kubeconfig, context)
	if err != nil {
		return nil, err
	}
	cfg.Dial = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	cfg.Timeout = 2 * time.Minute
	return cfg, nil
}

// config is the cluster's connection: from Options.RESTConfig when set, else its kubeconfig context.
func (t *clusterTarget) config() (*rest.Config, error) {
	if t.opts.RESTConfig == nil {
		return restConfig(t.opts.Kubeconfig, t.vc.Context, t.opts.ConnectTimeout)
	}
	cfg, err := t.opts.RESTConfig(t.vc.Name, t.vc.Context)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Dial = (&net.Dialer{Timeout: t.opts.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	cfg.Timeout = 2 * time.Minute
	return cfg, nil
}

func (t *clusterTarget) Connect(ctx context.Context) error {
	if r := t.opts.State.Get(t.vc.Name); !t.opts.RetryOffline && r.State == clusterstatus.Offline && time.Now().Before(r.NextRetry) {
		return &OfflineError{Err: fmt.Errorf("offline since %s; next try after %s (backoff)",
			r.OfflineSince.UTC().Format(time.RFC3339), r.NextRetry.UTC().Format(time.RFC3339)), Backoff: true}
	}
	cfg, err := t.config()
	if err != nil {
		return err
	}
	// Discovery answers within the connect timeout or the cluster is offline; later requests keep
	// the ordinary timeout.
	rc, err := reconciler.ConnectWithin(cfg, t.opts.ConnectTimeout)
	if err != nil {
		return t.offline(err)
	}
	t.rc = rc
	return nil
}

// offline records an unreachable cluster and its backoff.
func (t *clusterTarget) offline(err error) error {
	t.opts.State.Update(t.vc.Name, func(r *Remembered) {
		if r.State != clusterstatus.Offline {
			r.OfflineSince = time.Now()
			r.Failures = 0
		}
		r.State = clusterstatus.Offline
		r.Failures++
		r.NextRetry = time.Now().Add(backoff(r.Failures))
	})
	return &OfflineError{Err: err}
}

func (t *clusterTarget) Sync(ctx context.Context) Outcome {
	// The connection (clients, discovery) goes with the sync: a pass over thousands of clusters keeps
	// none of them.
	defer func() { t.rc = nil }()
	o := Outcome{Cluster: t.vc.Name, VMs: t.vc.VMs}
	status := clusterstatus.ClusterStatus{Cluster: t.vc.Name, Revision: t.opts.Revision, VMs: t.vc.VMs}
	writing := false // set once anything may have been written
	d, err := t.render(ctx, t.vc.Name)
	if err != nil {
		o.State, o.Message = clusterstatus.Failed, err.Error()
		return o
	}
	res, err := t.rc.Reconcile(ctx, d, reconciler.Options{
		Revision: t.opts.Revision, Drift: t.opts.Drift, Prune: t.opts.Prune, PendingTimeout: t.opts.PendingTimeout,
		Adopt: t.opts.Adopt[t.vc.Name],
		BeforeWrite: func() {
			writing = true
			if t.opts.BeforeWrite != nil {
				t.opts.BeforeWrite(t.vc.Name)
			}
			s := status
			s.State, s.Synced = clusterstatus.Syncing, time.Now()
			_ = clusterstatus.Write(ctx, t.rc.Client, s)
		},
	})
	// Another fleet's or cluster's API server: nothing was done there, and not even the status is
	// written (the status there is the other's). A person takes it over with apply --adopt.
	foreign := errors.Is(err, reconciler.ErrIdentityMismatch)
	o.Foreign = foreign
	if err != nil && res != nil && len(res.Failed) > 0 {
		// The reconciler sums up refused objects in err; the causes are in res.Failed.
		err = objectsError(err, res.Failed)
	}
	if res != nil && (res.Written || len(res.Pruned) > 0) {
		writing = true
	}
	switch {
	case err != nil && isConnectionError(err) && writing:
		// Lost after the writes began: the cluster is partly at the new revision, which is not an
		// offline site. Its status cannot be recorded in it; the next sync resumes it.
		o.State = clusterstatus.Interrupted
		o.Message = fmt.Sprintf("interrupted: lost after the writes began, partly applied (the next sync resumes it): %v", err)
		t.opts.State.Update(t.vc.Name, func(r *Remembered) {
			r.LastSeen, r.State, r.Failures, r.NextRetry = time.Now(), clusterstatus.Interrupted, 0, time.Time{}
		})
		return o
	case err != nil && isConnectionError(err):
		// Not answering before anything was written: an offline site, as the connection check.
		o.State, o.Message = clusterstatus.Offline, t.offline(err).Error()
		return o
	case err != nil:
		o.State, o.Message = clusterstatus.Failed, err.Error()
	case res.Written:
		o.Changed, o.State = true, clusterstatus.Synced
	case len(res.Drifted) > 0 || len(res.OutOfSync) > 0:
		o.State = clusterstatus.Drifted
	default:
		o.State = clusterstatus.InSync
	}
	if err == nil && t.health == reconciler.HealthKStatus && len(res.Pending) == 0 {
		// Healthy at this revision, whether or not this run wrote anything: a second run of a revision
		// that failed its health check must fail it again, not call the cluster in sync and release
		// the waves it held.
		hrep, herr := t.rc.WaitHealthy(ctx, res.Objects, t.timeout)
		switch {
		case herr != nil:
			o.State, o.Message = clusterstatus.Failed, herr.Error()
			var he *reconciler.HealthError
			o.HealthTimedOut = errors.As(herr, &he) && he.TimedOut
		case hrep.Warning() != "":
			o.Message = hrep.Warning()
		}
	}
	if res != nil && !foreign {
		if res.PruneRefused != "" && o.State != clusterstatus.Failed {
			// The share guard kept every orphan: the cluster is not what git says, and a revision
			// that removes this much stops the rollout until a person looks.
			o.State, o.Message = clusterstatus.Failed, "prune refused, nothing pruned: "+res.PruneRefused
		}
		o.Message = summary(res, o.Message)
		status.Drifted = len(res.Drifted)
		status.Orphans = len(res.Orphans)
		o.Drifted, o.Corrected, o.Pruned, o.Orphans = len(res.Drifted), len(res.Corrected), len(res.Pruned), len(res.Orphans)
		if len(res.Pending) > 0 && o.State != clusterstatus.Failed {
			o.State = clusterstatus.Syncing
		}
	}
	status.State, status.Message, status.Synced = o.State, o.Message, time.Now()
	if o.State == clusterstatus.Synced {
		status.State = clusterstatus.InSync
	}
	if !foreign {
		if werr := clusterstatus.Write(ctx, t.rc.Client, status); werr != nil && o.State != clusterstatus.Failed {
			o.Message += "; status not recorded: " + werr.Error()
		}
	}
	t.opts.State.Update(t.vc.Name, func(r *Remembered) {
		r.LastSeen, r.State, r.Failures, r.NextRetry = time.Now(), o.State, 0, time.Time{}
		if o.State != clusterstatus.Failed {
			r.Revision, r.VMs = t.opts.Revision, status.VMs
		}
	})
	return o
}

func summary(r *reconciler.Result, prefix string) string {
	s := fmt.Sprintf("%d applied, %d corrected, %d drifted, %d unchanged", len(r.Applied), len(r.Corrected), len(r.Drifted), r.Unchanged)
	if len(r.Pending) > 0 {
		s += fmt.Sprintf(", %d pending", len(r.Pending))
	}
	if len(r.Pruned)+len(r.Orphans) > 0 {
		s += fmt.Sprintf(", %d pruned, %d orphans", len(r.Pruned), len(r.Orphans))
	}
	if prefix != "" {
		return prefix + " (" + s + ")"
	}
	return s
}

// objectsError names the first refused object and its cause after the reconciler's summary. When
// every object failed because the cluster could not be reached (it went away in the middle of the
// apply), the error wraps that cause, so that the cluster is Interrupted (or Offline if nothing was
// written yet), not Failed.
func objectsError(summary error, fails []reconciler.ObjectError) error {
	for _, f := range fails {
		if !isConnectionError(f.Err) {
			return fmt.Errorf("%w: %s", summary, f.Error())
		}
	}
	return fmt.Errorf("%v: %s: %w", summary, fails[0].Item.ID, fails[0].Err)
}

func isConnectionError(err error) bool {
	var ne net.Error
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) ||
		utilnet.IsProbableEOF(err) || (errors.As(err, &ne) && ne.Timeout()) ||
		// A server gone in the middle of an answer: client-go wraps the EOF ("unexpected error when
		// reading response body"), which IsProbableEOF, comparing with ==, does not see.
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
