// Command vmo-cue validates, renders and syncs fleets of KubeVirt virtual-machine clusters from git.
package main

import (
	"errors"
	"fmt"
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
	cmd := newRootCmd()
	err := cmd.Execute()
	if err == nil {
		return
	}
	var ec *exitCode
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintln(os.Stderr, "vmo-cue:", ec.err)
		}
		os.Exit(ec.code)
	}
	fmt.Fprintln(os.Stderr, "vmo-cue:", err)
	os.Exit(exitError)
}
