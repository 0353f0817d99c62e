package fleet

import (
	"context"
	"fmt"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/evalworker/wire"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// Loaded is one revision's desired state as the rollout takes it: what planning needs of every
// cluster (names, labels, findings), and each cluster's objects on demand (Render), so that whoever
// loads a revision — this process or a worker process — hands over one cluster's objects at a time.
type Loaded struct {
	// Fleet is the fleet's name (its ownership mark in the clusters).
	Fleet string
	// Rollout is the fleet's `fleet.rollout` (nil if unset).
	Rollout map[string]any
	// Shared are the errors of the shared definitions: when any, nothing is applied anywhere.
	Shared diag.List
	// Clusters are every cluster of the revision, in name order.
	Clusters []LoadedCluster
	// Render returns a cluster's desired state. It is called once per cluster synced, from several
	// goroutines.
	Render func(ctx context.Context, cluster string) (*reconciler.Desired, error)
	// Close releases what the revision holds (nil: nothing to release).
	Close func() error
}

// LoadedCluster is what the rollout needs of a cluster before it is synced: its name, context,
// labels, mode, VM count and findings. It is the evaluation worker's summary of a cluster as it
// sends it (internal/evalworker/wire, whose readers must not link CUE), the same in this process.
type LoadedCluster = wire.Cluster

// Loader loads the checkout of a revision in dir. The error is for I/O and internal failures (and a
// worker that died); what is wrong with the fleet's content is in the findings.
type Loader func(ctx context.Context, dir string) (*Loaded, error)

// InProcess is the Loader of the CLI: the revision is read, evaluated and validated in this process
// (desired.Load) within the budget, and rendered in it.
func InProcess(opts desired.Options) Loader {
	return func(_ context.Context, dir string) (*Loaded, error) {
		res, err := desired.Load(dir, opts)
		if err != nil {
			return nil, err
		}
		return FromResult(res), nil
	}
}

// FromResult is a validated fleet as the rollout takes it; Render renders its clusters.
func FromResult(res *validate.Result) *Loaded {
	l := &Loaded{Rollout: res.Fleet.Rollout, Fleet: res.Fleet.Name}
	if res.Shared.HasErrors() {
		l.Shared = res.Shared.Errors()
		return l
	}
	byName := make(map[string]*validate.Cluster, len(res.Clusters))
	for _, c := range res.Clusters {
		byName[c.Name] = c
		l.Clusters = append(l.Clusters, Summary(c))
	}
	l.Render = func(_ context.Context, name string) (*reconciler.Desired, error) {
		c := byName[name]
		if c == nil {
			return nil, fmt.Errorf("cluster %s: not in the revision", diag.Name(name))
		}
		return desired.Render(c)
	}
	return l
}

// Summary is what the rollout needs of a validated cluster before its objects.
func Summary(c *validate.Cluster) LoadedCluster {
	return LoadedCluster{Name: c.Name, Context: c.Context, Labels: c.Labels, Mode: c.Mode, Declared: c.Declared,
		Unevaluated: c.Unevaluated, VMs: len(c.VMs), Errors: c.Diags.Errors()}
}

// budgetOf is the engine budget of the options (for the in-process loader).
func budgetOf(o *Options) desired.Options {
	return desired.Options{MaxFileSize: o.MaxFileSize, Budget: o.Budget}
}
