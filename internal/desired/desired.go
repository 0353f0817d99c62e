// Package desired runs the first half of the data flow for a fleet directory: read it (fleetfs),
// evaluate its CUE (engine), and validate and resolve every cluster (validate). Commands and the
// reconciler start here.
package desired

import (
	"fmt"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
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
}

// Load reads, evaluates and validates the fleet repository at dir. The error is for I/O and internal
// failures; what is wrong with the fleet's content is in the result's findings.
func Load(dir string, opts Options) (*validate.Result, error) {
	repo, err := fleetfs.Read(dir, fleetfs.Options{MaxFileSize: opts.MaxFileSize})
	if err != nil {
		return nil, err
	}
	b, err := engine.LoadBuiltin()
	if err != nil {
		return nil, err
	}
	// Each cluster is checked as soon as it is evaluated, while the others evaluate.
	check := validate.NewChecker(b, validate.Options{Lean: opts.Lean})
	eng, err := engine.New(repo, engine.Options{Budget: opts.Budget, Only: opts.Only, NoFastPath: opts.NoFastPath, Evaluated: check.Cluster})
	if err != nil {
		return nil, err
	}
	f, err := eng.Evaluate()
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", dir, err)
	}
	return check.Finish(f)
}
