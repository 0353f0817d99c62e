// Command vmo-cue validates, renders and syncs fleets of KubeVirt virtual-machine clusters from git.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := newRootCmd()
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
