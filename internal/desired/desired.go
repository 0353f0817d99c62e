// Package desired runs the first half of the data flow for a fleet directory: read it (fleetfs),
// evaluate its CUE (engine), validate every cluster (validate) and assign its MACs (resolve.Fleet);
// Render resolves a valid cluster (resolve.Cluster) and renders it (render). Commands and the
// reconciler start here.
package desired

import (
	"fmt"
	"slices"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/resolve"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// Options tune loading.
type Options struct {
	MaxFileSize int64
	// Budget bounds evaluation (see engine.Budget); the zero Budget bounds nothing.
	Budget engine.Budget
	// Only, if not empty, evaluates and validates only these clusters (see engine.Options.Only).
	Only []string
	// NoFastPath evaluates every CUE VM on the general path (see engine.Options.NoFastPath).
	NoFastPath bool
	// Lean keeps findings and counts, not the VMs' objects (see validate.Options.Lean): for vet.
	Lean bool
	// Parts, when loading a fleet a part at a time (Only, in name order), carries MAC assignment
	// from one part to the next (see resolve.Parts).
	Parts *resolve.Parts
}

// Load reads, evaluates and validates the fleet repository at dir, and assigns its MACs. The error is for I/O and internal
// failures; what is wrong with the fleet's content is in the result's findings.
func Load(dir string, opts Options) (*validate.Result, error) {
	c, err := Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return c.Load(opts)
}

// Checkout is a fleet repository read once, to be evaluated and validated as often as asked: the
// evaluation worker loads it a batch of clusters at a time (Options.Only), each batch exactly as
// Load loads a fleet.
type Checkout struct {
	repo    *fleetfs.Repo
	builtin *engine.Builtin
	// forgotten are the clusters whose files Forget dropped.
	forgotten map[string]bool
}

// Open reads the fleet repository at dir (opts.MaxFileSize) and the built-in definitions.
func Open(dir string, opts Options) (*Checkout, error) {
	// The built-in definitions are evaluated (once per process) while the repository is read: reading
	// waits on system calls, evaluating them takes a core for some 35 ms.
	var b *engine.Builtin
	var berr error
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		b, berr = engine.LoadBuiltin()
	}()
	repo, err := fleetfs.Read(dir, fleetfs.Options{MaxFileSize: opts.MaxFileSize})
	<-loaded
	if err != nil {
		return nil, err
	}
	if berr != nil {
		return nil, berr
	}
	return &Checkout{repo: repo, builtin: b}, nil
}

// Clusters are the names of the repository's cluster folders, in the order read.
func (c *Checkout) Clusters() []string {
	out := make([]string, 0, len(c.repo.Clusters))
	for _, rc := range c.repo.Clusters {
		out = append(out, rc.Name)
	}
	return out
}

// Forget drops the files of the named clusters: a load a part at a time holds the parts still to
// come, not the whole repository (under the worker's soft memory limit, 1,010 clusters' files held
// to the end kept the collector busier the larger the fleet). A forgotten cluster cannot be loaded
// again: Load refuses it.
func (c *Checkout) Forget(names []string) {
	if c.forgotten == nil {
		c.forgotten = map[string]bool{}
	}
	for _, n := range names {
		if rc := c.repo.Cluster(n); rc != nil {
			rc.CUE, rc.YAML = nil, nil
			c.forgotten[n] = true
		}
	}
}

// Load evaluates and validates the checkout, and assigns its MACs (opts.Only: those clusters;
// MaxFileSize is Open's).
func (c *Checkout) Load(opts Options) (*validate.Result, error) {
	for n := range c.forgotten {
		if len(opts.Only) == 0 || slices.Contains(opts.Only, n) {
			return nil, fmt.Errorf("loading cluster %s: its files were forgotten (Forget)", n)
		}
	}
	// Each cluster is checked as soon as it is evaluated, while the others evaluate.
	check := validate.NewChecker(c.builtin, validate.Options{Lean: opts.Lean})
	eng, err := engine.New(c.repo, engine.Options{Budget: opts.Budget, Only: opts.Only, NoFastPath: opts.NoFastPath, Evaluated: check.Cluster})
	if err != nil {
		return nil, err
	}
	f, err := eng.Evaluate()
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", c.repo.Root, err)
	}
	r, err := check.Finish(f)
	if err != nil {
		return nil, err
	}
	// Assignment follows validation: it avoids every MAC written in a layer-2 domain, which
	// validation checked; its one finding (no MAC left) joins the cluster's.
	if opts.Parts != nil {
		resolve.FleetPart(r, opts.Parts)
	} else {
		resolve.Fleet(r)
	}
	return r, nil
}
