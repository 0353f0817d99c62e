// Package fleet syncs a whole fleet from one revision: it renders and validates every targeted
// cluster, orders them in waves (canary first), syncs each wave with a bound on clusters changed at
// once, stops when a wave fails, and keeps offline sites in a state of their own that never holds the
// rest of the fleet back by more than their connection timeout.
//
// rollout.go schedules (it knows nothing of Kubernetes: a Target connects and syncs), waves.go assigns
// clusters to waves, target.go is a real cluster, status.go records and reads what happened.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// Outcome is what syncing one cluster gave.
type Outcome struct {
	Cluster string
	Wave    string
	State   clusterstatus.State
	// Changed is true when something was written.
	Changed bool
	Message string
	Started time.Time
	Took    time.Duration
	// Awaiting: the cluster was released the revision but has not proven it yet (a pull cluster whose
	// agent has not reported it): the wave is not done, later waves are Held without a failure.
	Awaiting bool
	// Foreign: the API server is recorded for another fleet or cluster; nothing was done (see
	// reconciler.ErrIdentityMismatch and Options.Adopt).
	Foreign bool
	// Backoff: an offline cluster not tried this pass, its backoff not over (nothing new is known of
	// it: a record of the last try may stay as it is).
	Backoff bool
	// HealthTimedOut: the health check waited its whole timeout (reconciler.HealthError.TimedOut):
	// on API servers that run no operators it always does.
	HealthTimedOut bool
	// What a real cluster's sync found: the VMs git declares for it, objects left drifted (drift
	// report), drifted objects corrected, objects pruned, and orphans (left git, kept).
	VMs, Drifted, Corrected, Pruned, Orphans int
}

// Target is one cluster as the scheduler sees it.
type Target interface {
	Name() string
	// Connect checks the cluster can be reached, within its connection timeout.
	Connect(ctx context.Context) error
	// Sync applies the desired state and waits for health; Changed says whether it wrote anything.
	Sync(ctx context.Context) Outcome
}

// OfflineError says a cluster could not be reached: its own state, never Ready, never Failed.
// Backoff says it was not tried (its backoff not over).
type OfflineError struct {
	Err     error
	Backoff bool
}

func (e *OfflineError) Error() string { return "unreachable: " + e.Err.Error() }
func (e *OfflineError) Unwrap() error { return e.Err }

// IsOffline reports whether err says a cluster could not be reached.
func IsOffline(err error) bool {
	var o *OfflineError
	return errors.As(err, &o)
}

// Wave is a group of targets synced together.
type Wave struct {
	Name    string
	Targets []Target
}

// Schedule tunes a rollout.
type Schedule struct {
	// MaxConcurrent bounds the clusters being changed at once.
	MaxConcurrent int
	// ConnectConcurrency bounds connection checks in flight (DefaultConnectConcurrency if 0): checks are cheap and run
	// apart from changes, so unreachable sites cost at most their timeout, in parallel.
	ConnectConcurrency int
	// Progress is told of every state change (may be nil; called from several goroutines).
	Progress func(Outcome)
}

// DefaultConnectConcurrency is how many clusters are reached at once (a sync's connection checks, the
// reads of `vmo-cue status` and the dashboard).
const DefaultConnectConcurrency = 64

// Run syncs the waves in order and returns every cluster's outcome. A wave with a Failed or Interrupted
// cluster stops the rollout: later waves are Held. A wave with an Awaiting cluster (released, not yet
// reported by its agent) holds later waves too, without failing. Offline and Invalid clusters do not
// fail a wave.
func Run(ctx context.Context, waves []Wave, s Schedule) []Outcome {
	if s.MaxConcurrent <= 0 {
		s.MaxConcurrent = DefaultMaxConcurrent
	}
	if s.ConnectConcurrency <= 0 {
		s.ConnectConcurrency = DefaultConnectConcurrency
	}
	progress := s.Progress
	if progress == nil {
		progress = func(Outcome) {}
	}
	var out []Outcome
	held := ""
	for _, w := range waves {
		if held != "" {
			for _, t := range w.Targets {
				o := Outcome{Cluster: t.Name(), Wave: w.Name, State: clusterstatus.Held, Message: held}
				progress(o)
				out = append(out, o)
			}
			continue
		}
		res := runWave(ctx, w, s, progress)
		var awaiting []string
		for _, o := range res {
			if o.State.Failure() {
				held = "rollout stopped: wave " + w.Name + " failed"
			}
			if o.Awaiting {
				awaiting = append(awaiting, o.Cluster)
			}
		}
		if held == "" && len(awaiting) > 0 {
			held = fmt.Sprintf("rollout waiting for wave %s: %s not yet at the revision", w.Name, strings.Join(awaiting, ", "))
		}
		out = append(out, res...)
	}
	return out
}

func runWave(ctx context.Context, w Wave, s Schedule, progress func(Outcome)) []Outcome {
	results := make([]Outcome, len(w.Targets))
	start := time.Now() // every target of the wave starts now: the waits for a slot count in its time
	// Connections (ConnectConcurrency at once) feed the changes (MaxConcurrent at once): a target
	// waiting for a change slot holds no connection slot, so every cluster is reached (or found
	// offline) while the first ones sync.
	connected := make(chan int, len(w.Targets))
	var connects errgroup.Group
	connects.SetLimit(s.ConnectConcurrency)
	go func() {
		defer close(connected)
		for i, t := range w.Targets {
			connects.Go(func() error {
				if err := t.Connect(ctx); err != nil {
					st, backoff := clusterstatus.Failed, false
					if oe := (*OfflineError)(nil); errors.As(err, &oe) {
						st, backoff = clusterstatus.Offline, oe.Backoff
					}
					o := Outcome{Cluster: t.Name(), Wave: w.Name, State: st, Message: err.Error(), Backoff: backoff, Started: start, Took: time.Since(start)}
					results[i] = o
					progress(o)
					return nil
				}
				connected <- i
				return nil
			})
		}
		_ = connects.Wait() // a failure to connect is the target's outcome, not the group's error
	}()
	var changes errgroup.Group
	changes.SetLimit(s.MaxConcurrent)
	for i := range connected {
		t := w.Targets[i]
		changes.Go(func() error {
			progress(Outcome{Cluster: t.Name(), Wave: w.Name, State: clusterstatus.Syncing, Started: start})
			o := t.Sync(ctx)
			o.Cluster, o.Wave, o.Started, o.Took = t.Name(), w.Name, start, time.Since(start)
			results[i] = o
			progress(o)
			return nil
		})
	}
	_ = changes.Wait()
	return results
}
