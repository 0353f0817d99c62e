package fleet

import (
	"context"
	"fmt"
	"sort"
	"time"

	"k8s.io/client-go/rest"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/schema"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// Options configure a fleet sync.
type Options struct {
	// Dir is a checkout of the fleet at Revision.
	Dir string
	// MaxFileSize bounds the files read from Dir (fleetfs' default if 0).
	MaxFileSize int64
	// Budget bounds the fleet's evaluation (see engine.Budget).
	Budget engine.Budget
	// Load, if set, loads the revision instead of this process (a worker process: the controller);
	// MaxFileSize and Budget are then its business.
	Load     Loader
	Revision string
	// Kubeconfig holds one context per cluster (the cluster's declared context, else its name).
	Kubeconfig string
	// RESTConfig, if set, is used instead of Kubeconfig to reach a cluster: it gets the cluster's
	// name and its declared kubeconfig context. Its errors must not carry credentials.
	RESTConfig func(cluster, context string) (*rest.Config, error)
	// Selector limits the sync to clusters with these labels.
	Selector map[string]string
	Drift    reconciler.DriftMode
	Prune    bool
	// Concurrency, if set, overrides the rollout's maxConcurrent.
	Concurrency int
	// ConnectTimeout bounds reaching a cluster (5 s if 0): the most an offline site delays the rest.
	ConnectTimeout time.Duration
	// Health, if set, overrides the rollout's health mode ("kstatus" or "accepted").
	Health         string
	PendingTimeout time.Duration
	// State is this machine's memory of clusters (last seen, backoff); in memory if nil.
	State *LocalState
	// RetryOffline tries offline clusters now, ignoring their backoff.
	RetryOffline bool
	Progress     func(Outcome)

	// BeforeWrite, if set, is told (from the cluster's goroutine) when a cluster's sync is about to
	// write: from then on the cluster is Syncing.
	BeforeWrite func(cluster string)
	// Adopt names the clusters whose API server may be taken over from another fleet or cluster
	// (reconciler.Options.Adopt), for this sync.
	Adopt map[string]bool
	// Pull, if set, stands in for every cluster declared `mode: "pull"`: nothing connects to such a
	// cluster, the Target returned reports what its agent said (Awaiting until it has the revision).
	// Nil (the CLI): the mode is ignored and every cluster is pushed to.
	Pull func(cluster string) Target

	// Select, if set, also limits the sync to clusters whose labels it accepts.
	Select func(labels map[string]string) bool
}

// Report is the result of a fleet sync.
type Report struct {
	Revision string
	Outcomes []Outcome
	// FleetErrors are errors in the shared definitions: nothing was applied anywhere.
	FleetErrors diag.List
	// Invalid are the findings of clusters skipped because their own definitions fail.
	Invalid map[string]diag.List
	Took    time.Duration
}

// OK reports whether every targeted cluster is in sync or synced (offline ones excepted).
func (r *Report) OK() bool {
	if len(r.FleetErrors) > 0 {
		return false
	}
	for _, o := range r.Outcomes {
		if !o.State.OK() {
			return false
		}
	}
	return true
}

// Sync renders and validates every targeted cluster from one revision and rolls it out.
func Sync(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.State == nil {
		opts.State, _ = OpenState("")
	}
	rep := &Report{Revision: opts.Revision, Invalid: map[string]diag.List{}}
	load := opts.Load
	if load == nil {
		load = InProcess(budgetOf(&opts))
	}
	res, err := load(ctx, opts.Dir)
	if err != nil {
		return rep, err
	}
	if res.Close != nil {
		defer res.Close()
	}
	if len(res.Shared) > 0 {
		rep.FleetErrors = res.Shared
		return rep, nil
	}
	rollout := readRollout(res.Rollout)
	if opts.Concurrency > 0 {
		rollout.maxConcurrent = opts.Concurrency
	}
	if opts.Health != "" {
		rollout.health = opts.Health
	}
	var labeled []Labeled
	byName := map[string]*LoadedCluster{}
	for i := range res.Clusters {
		c := &res.Clusters[i]
		// A cluster whose evaluation was stopped is reported whatever the selector: its labels are unknown.
		if c.Unevaluated == "" && (!c.Declared || !matches(c.Labels, opts.Selector) || (opts.Select != nil && !opts.Select(c.Labels))) {
			continue
		}
		if !c.Valid() {
			rep.Invalid[c.Name] = c.Errors
			o := Outcome{Cluster: c.Name, State: clusterstatus.Invalid, Message: diag.Plural(len(c.Errors), "error") + " in its definitions: skipped"}
			rep.Outcomes = append(rep.Outcomes, o)
			if opts.Progress != nil {
				opts.Progress(o)
			}
			continue
		}
		byName[c.Name] = c
		labeled = append(labeled, Labeled{Name: c.Name, Labels: c.Labels})
	}
	names := WaveNames(rollout.waves)
	var waves []Wave
	for i, members := range PlanWaves(labeled, rollout.canary, rollout.waves) {
		if len(members) == 0 {
			continue
		}
		w := Wave{Name: names[i]}
		for _, n := range members {
			if opts.Pull != nil && byName[n].Mode == "pull" {
				w.Targets = append(w.Targets, opts.Pull(n))
				continue
			}
			w.Targets = append(w.Targets, &clusterTarget{vc: byName[n], render: res.Render, opts: &opts, health: rollout.health, timeout: rollout.healthTimeout})
		}
		waves = append(waves, w)
	}
	rep.Outcomes = append(rep.Outcomes, Run(ctx, waves, Schedule{MaxConcurrent: rollout.maxConcurrent, Progress: opts.Progress})...)
	sort.SliceStable(rep.Outcomes, func(i, j int) bool { return rep.Outcomes[i].Cluster < rep.Outcomes[j].Cluster })
	rep.Took = time.Since(start)
	if err := opts.State.Save(); err != nil {
		return rep, fmt.Errorf("saving the local state: %w", err)
	}
	return rep, nil
}

// DefaultMaxConcurrent is the rollout's maxConcurrent where fleet.rollout does not set it: a copy of
// schemas.RolloutDefaults (defaults.cue), held equal to it by TestDefaultsAreTheCUEDefaults (the
// health defaults are reconciler.DefaultHealth and DefaultHealthTimeout).
const DefaultMaxConcurrent = 4

type rolloutSpec struct {
	canary        map[string]string
	waves         []WaveSpec
	maxConcurrent int
	healthTimeout time.Duration
	health        string
}

func readRollout(m map[string]any) rolloutSpec {
	r := rolloutSpec{maxConcurrent: DefaultMaxConcurrent}
	r.health, r.healthTimeout = reconciler.RolloutHealth(m)
	if c, ok := m["canary"].(map[string]any); ok {
		r.canary = strMap(c)
	}
	if ws, ok := m["waves"].([]any); ok {
		for _, w := range ws {
			wm, _ := w.(map[string]any)
			spec := WaveSpec{}
			spec.Name, _ = wm["name"].(string)
			if sel, ok := wm["selector"].(map[string]any); ok {
				spec.Selector = strMap(sel)
			}
			spec.Share, _ = schema.Number(wm["share"])
			r.waves = append(r.waves, spec)
		}
	}
	if n, ok := schema.Number(m["maxConcurrent"]); ok {
		r.maxConcurrent = int(n)
	}
	return r
}

func strMap(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}
