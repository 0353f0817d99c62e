package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// Evaluation budget defaults. 60 s per cluster is an order of magnitude above what a cluster of a
// few thousand VMs takes. 4 GiB of heap holds a 100,000-VM fleet (2.5 GB today) with room to spare
// and still stops a runaway before it takes a small machine down.
const (
	defaultEvalTimeout = 60 * time.Second
	defaultEvalMemory  = 4 << 30
)

// rerunEnv carries what a run learned about the evaluation budget to the run it re-executes (JSON of
// rerunState). It is read and removed at start.
const rerunEnv = "VMO_CUE_EVAL_RERUN"

// rerunState is what one run hands the next.
type rerunState struct {
	// Args are the command's arguments: another command line ignores the state.
	Args  []string     `json:"args"`
	Known engine.Known `json:"known"`
	// Carry is what the command keeps across runs (see rerunner.carry).
	Carry map[string]string `json:"carry,omitempty"`
}

// rerunner re-executes the command when evaluation exceeds its budget (the engine cannot stop an
// evaluation, a new process image can): the same binary, arguments and PID, the same stdin, stdout and
// stderr, nothing written to them yet (every command prints only after evaluation), and the
// environment plus what the breach taught. Each breach costs one re-run, at most engine.MaxReruns.
type rerunner struct {
	args  []string // os.Args
	known engine.Known
	// carried is what the previous run kept; kept is what this run keeps for the next.
	carried, kept map[string]string
}

// carry keeps a value for the runs after this one (set before evaluation starts). Nil-safe.
func (r *rerunner) carry(key, value string) {
	if r == nil {
		return
	}
	if r.kept == nil {
		r.kept = map[string]string{}
	}
	r.kept[key] = value
}

// recall returns what an earlier run kept under key: this run is a re-run. Nil-safe.
func (r *rerunner) recall(key string) (string, bool) {
	if r == nil {
		return "", false
	}
	v, ok := r.carried[key]
	return v, ok
}

// newRerunner reads what earlier runs of this command line learned, and removes it from the
// environment (no child inherits it).
func newRerunner(args []string) *rerunner {
	r := &rerunner{args: args}
	v, ok := os.LookupEnv(rerunEnv)
	if !ok {
		return r
	}
	os.Unsetenv(rerunEnv)
	var st rerunState
	if json.Unmarshal([]byte(v), &st) == nil && slices.Equal(st.Args, args[1:]) {
		r.known, r.carried = st.Known, st.Carry
	}
	return r
}

// exceeded is the engine's Exceeded hook. It returns only when it cannot re-execute (the re-runs are
// used up, or exec failed): the engine then fails the evaluations to blame in this process.
func (r *rerunner) exceeded(b engine.Breach) {
	if r.known.Reruns >= engine.MaxReruns {
		return
	}
	data, err := json.Marshal(rerunState{Args: r.args[1:], Known: r.known.After(b), Carry: r.kept})
	if err != nil {
		return
	}
	env := append(os.Environ(), rerunEnv+"="+string(data))
	// /proc/self/exe is this very binary, even if its file was replaced or removed meanwhile.
	syscall.Exec("/proc/self/exe", r.args, env)
	if exe, err := os.Executable(); err == nil {
		syscall.Exec(exe, r.args, env)
	}
}

// budget is the evaluation budget of the command line's flags.
func (g *globalFlags) budget() (engine.Budget, error) {
	if g.evalTimeout <= 0 {
		return engine.Budget{}, fmt.Errorf("--eval-timeout %s: must be positive", g.evalTimeout)
	}
	b := engine.Budget{Timeout: g.evalTimeout, Memory: uint64(g.evalMemory),
		TimeoutSetting: "--eval-timeout", MemorySetting: "--eval-memory"}
	if g.rerun != nil {
		b.Known = g.rerun.known
		b.Exceeded = g.rerun.exceeded
	}
	// The heap the watchdog samples counts garbage not yet collected: the binary's collector keeps it
	// under the budget (tuneGC's soft limit is 1 GiB) unless GOMEMLIMIT says otherwise.
	if g.rerun != nil && os.Getenv("GOMEMLIMIT") == "" {
		if limit := int64(b.Memory / 4 * 3); limit < debug.SetMemoryLimit(-1) {
			debug.SetMemoryLimit(limit)
		}
	}
	return b, nil
}

// byteSize is a flag holding a size: 4GiB, 512MiB, 1G, 300M, 1000000.
type byteSize uint64

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*(|B|[KMGT]i?B?)$`)

var sizeUnits = map[string]float64{"": 1, "B": 1,
	"K": 1e3, "KB": 1e3, "Ki": 1 << 10, "KiB": 1 << 10,
	"M": 1e6, "MB": 1e6, "Mi": 1 << 20, "MiB": 1 << 20,
	"G": 1e9, "GB": 1e9, "Gi": 1 << 30, "GiB": 1 << 30,
	"T": 1e12, "TB": 1e12, "Ti": 1 << 40, "TiB": 1 << 40}

func (s *byteSize) Set(v string) error {
	m := sizeRE.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("want a size such as 512MiB or 4GiB")
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return err
	}
	n *= sizeUnits[m[2]]
	if n < 1 || n >= math.MaxInt64 {
		return fmt.Errorf("want a size from 1 byte to 8EiB")
	}
	*s = byteSize(n)
	return nil
}

func (s *byteSize) String() string { return engine.Bytes(uint64(*s)) }
func (s *byteSize) Type() string   { return "size" }
