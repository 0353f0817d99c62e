package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// RuleBudget is the rule of the finding given to an evaluation stopped by the budget.
const RuleBudget = "eval-budget"

// MaxReruns bounds the runs a caller that re-runs after each breach (the CLI) makes: the last one
// fails every evaluation still in doubt without evaluating it (see Known.After).
const MaxReruns = 8

// Budget bounds evaluation: the shared definitions and each cluster in time (each from its own start),
// and the process's heap while any of them is evaluated. A zero Budget bounds nothing.
//
// CUE's evaluator cannot be cancelled and Go cannot stop a goroutine, so the engine can only stop
// waiting. A watchdog samples each evaluation's elapsed time and the heap (runtime/metrics) every
// 50 ms; on a breach it calls Exceeded, then fails the evaluations to blame and lets the others
// proceed.
type Budget struct {
	// Timeout bounds each evaluation's wall time (0: no bound).
	Timeout time.Duration
	// Memory bounds the heap, in bytes: live objects and those not yet collected (0: no bound).
	Memory uint64
	// Exceeded, if set, is called on the watchdog's goroutine when the budget is exceeded; the
	// evaluations go on meanwhile. The CLI's hook does not return: it re-executes the command with
	// what the breach taught (Known.After), which frees all memory at once.
	//
	// Without a hook, or when it returns, the evaluations to blame fail with the budget finding (rule
	// eval-budget) and Evaluate returns without them. Their goroutines cannot be stopped: they run on
	// until they end by themselves (a runaway never does), holding a CPU and whatever memory they
	// take, and after a memory breach every evaluation in flight while the heap stays over the limit
	// fails too. A caller that must get them back (tests, a controller) runs evaluation in a process
	// it can end, such as a worker process.
	Exceeded func(Breach)
	// Known is what earlier runs of the same command learned.
	Known Known
	// TimeoutSetting and MemorySetting name what raises each limit, for findings ("--eval-timeout").
	TimeoutSetting, MemorySetting string
}

// Known is what earlier runs learned about a fleet: evaluations that break the budget (failed without
// being evaluated again, as long as their files are unchanged) and memory suspects (evaluated one at
// a time, so that a breach names its culprit).
type Known struct {
	// Reruns counts the runs before this one.
	Reruns int       `json:"reruns"`
	Failed []Failure `json:"failed,omitempty"`
	Serial []string  `json:"serial,omitempty"`
}

// Failure is an evaluation that broke the budget.
type Failure struct {
	// Unit is the cluster's name, "" for the shared definitions.
	Unit string `json:"unit"`
	// Hash is of the files it evaluated: a changed file means it is evaluated again.
	Hash   string `json:"hash"`
	Reason string `json:"reason"`
}

// Breach is a budget exceeded.
type Breach struct {
	// Memory is true when the heap went over Budget.Memory; false when evaluations ran past
	// Budget.Timeout.
	Memory bool
	// Heap is the heap measured, in bytes.
	Heap uint64
	// Units are the evaluations to blame: for time, each one past it; for memory, every one in flight.
	Units []Unit
	// Pending are the evaluations not finished: Units, those in flight, and the clusters not started.
	Pending []Unit
	budget  *Budget
}

// Unit is one evaluation: a cluster, or the shared definitions (Name "").
type Unit struct {
	Name string
	e    *Engine
}

func (u Unit) String() string {
	if u.Name == "" {
		return "the shared definitions"
	}
	return "cluster " + u.Name
}

// Hash identifies the files the unit evaluates: the shared files, and the cluster's own.
func (u Unit) Hash() string {
	h := sha256.New()
	add := func(files []fleetfs.File) {
		for _, f := range files {
			var n [8]byte
			binary.LittleEndian.PutUint64(n[:], uint64(len(f.Data)))
			h.Write([]byte(f.Path))
			h.Write([]byte{0})
			h.Write(n[:])
			h.Write(f.Data)
		}
	}
	add(u.e.repo.CUE)
	if c := u.e.clusterNamed(u.Name); c != nil {
		add(c.CUE)
		add(c.YAML)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Reason is the budget finding's message for a unit to blame.
func (b Breach) Reason(u Unit) string {
	if !b.Memory {
		return fmt.Sprintf("evaluation of %s stopped: it ran past the time budget of %s%s", u, b.budget.Timeout, raise(b.budget.TimeoutSetting))
	}
	with := "alone"
	if len(b.Units) > 1 {
		var others []string
		for _, o := range b.Units {
			if o.Name != u.Name {
				others = append(others, o.String())
			}
		}
		with = "with " + strings.Join(others, ", ") + " (any of them may be the cause)"
	}
	return fmt.Sprintf("evaluation of %s stopped: the heap reached %s while it was evaluated %s, over the memory budget of %s%s",
		u, Bytes(b.Heap), with, Bytes(b.budget.Memory), raise(b.budget.MemorySetting))
}

func raise(setting string) string {
	if setting == "" {
		return ""
	}
	return " (raise it with " + setting + ")"
}

// After returns what the next run knows after this one's breach: the units to blame fail (a memory
// breach blames a unit only when it was evaluated alone; otherwise the units in flight become suspects,
// evaluated one at a time next time). For the last re-run (MaxReruns), every unit not finished fails.
func (k Known) After(b Breach) Known {
	next := Known{Reruns: k.Reruns + 1, Failed: slices.Clone(k.Failed), Serial: slices.Clone(k.Serial)}
	fail := func(u Unit, reason string) {
		next.Failed = append(next.Failed, Failure{Unit: u.Name, Hash: u.Hash(), Reason: reason})
	}
	switch {
	case k.Reruns+1 >= MaxReruns:
		for _, u := range b.Pending {
			fail(u, fmt.Sprintf("%s not evaluated: the evaluation budget was exceeded in %d runs, the most vmo-cue makes to find what exceeds it, "+
				"and it was still in doubt (the last breach: %s)", u, k.Reruns+1, b.Reason(b.Units[0])))
		}
	case !b.Memory || len(b.Units) == 1:
		for _, u := range b.Units {
			fail(u, b.Reason(u))
		}
	default:
		for _, u := range b.Units {
			if !slices.Contains(next.Serial, u.Name) {
				next.Serial = append(next.Serial, u.Name)
			}
		}
	}
	return next
}

// failure returns the finding of a unit an earlier run found to break the budget, if its files are
// unchanged since.
func (e *Engine) knownFailure(u Unit) *diag.Diagnostic {
	for _, f := range e.opts.Budget.Known.Failed {
		if f.Unit == u.Name && f.Hash == u.Hash() {
			return e.budgetFinding(u, f.Reason)
		}
	}
	return nil
}

// budgetFinding is the finding of a stopped evaluation, at the files it was evaluating: the cluster's
// CUE files (its YAML files if it has none), or the shared files.
func (e *Engine) budgetFinding(u Unit, reason string) *diag.Diagnostic {
	var pos []diag.Position
	files := e.repo.CUE
	if c := e.clusterNamed(u.Name); c != nil {
		files = c.CUE
		if len(files) == 0 {
			files = c.YAML
		}
		if len(files) == 0 {
			pos = []diag.Position{{File: c.Dir}}
		}
	}
	for _, f := range files {
		pos = append(pos, diag.Position{File: f.Path})
	}
	return &diag.Diagnostic{Severity: diag.Error, Rule: RuleBudget, Message: reason, Positions: pos}
}

// stoppedCluster stands for a cluster whose evaluation was stopped: only its budget finding is known.
func (e *Engine) stoppedCluster(fc *fleetfs.Cluster, d *diag.Diagnostic) *Cluster {
	return &Cluster{Name: fc.Name, Dir: fc.Dir, Context: fc.Name, Decl: &Layer{}, DeclPos: diag.Position{File: fc.Dir},
		Unevaluated: d.Message, OwnDiags: diag.List{*d}}
}

func (e *Engine) clusterNamed(name string) *fleetfs.Cluster {
	if name == "" {
		return nil
	}
	return e.repo.Cluster(name)
}

// Bytes writes a size in binary units, as flags take them: 512MiB, 1.5GiB.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	s := fmt.Sprintf("%.1f", float64(n)/float64(div))
	s = strings.TrimSuffix(s, ".0")
	return s + string("KMGT"[exp]) + "iB"
}
