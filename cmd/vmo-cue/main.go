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

// tuneGC sets a soft memory limit: past 1 GiB the collector works harder rather than the heap
// growing. GOGC stays Go's 100: a command's garbage (a vet drops each cluster's decoded VMs once they
// are checked) is collected while the heap is small and its memory reused, where GOGC=400 let the
// heap grow to five times the live data in fresh pages, whose first touch (page faults, zeroing)
// cost more than the collections it saved: a 10,000-VM vet used 15% more CPU in YAML form and 10%
// more in CUE form, 100,000 VMs 15% more CPU and 1.9× the peak RSS. GOGC and GOMEMLIMIT in the
// environment still win.
func tuneGC() {
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
