// Command vmo-cue validates, renders and syncs fleets of KubeVirt virtual-machine clusters from git.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Exit codes: 0 valid/success, 1 invalid (or drift found), 2 usage or I/O error.
const (
	exitInvalid = 1
	exitError   = 2
)

// exitCode carries a command's exit code with its message (if any).
type exitCode struct {
	code int
	err  error
}

func (e *exitCode) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func main() {
	tuneGC()
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr, newRerunner(os.Args)))
}

// tuneGC trades memory for CPU: a command builds a large heap of values that stay live until it
// exits, which the default GOGC=100 keeps re-marking (a fifth of a 10,000-VM vet was GC). GOGC=400
// lets the heap grow to five times the live data between collections, and the soft memory limit
// makes the collector work harder, not the heap grow, past 1 GiB. GOGC and GOMEMLIMIT in the
// environment still win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}

// run executes one command line in this process and returns its exit code. An evaluation over its
// budget fails without re-executing the process (tests call it).
func run(args []string, stdout, stderr io.Writer) int { return execute(args, stdout, stderr, nil) }

// execute executes one command line; rerun, if set, re-executes the process when evaluation exceeds
// its budget.
func execute(args []string, stdout, stderr io.Writer, rerun *rerunner) int {
	cmd := newRootCmd(rerun)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	var ec *exitCode
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintln(stderr, "vmo-cue:", ec.err)
		}
		return ec.code
	}
	fmt.Fprintln(stderr, "vmo-cue:", err)
	return exitError
}
