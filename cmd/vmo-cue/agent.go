package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/agent"
	"github.com/vmo-cue/vmo-cue/internal/agentcmd"
)

// AgentBinary is the agent's own binary (cmd/vmo-cue-agent), looked for beside vmo-cue.
const AgentBinary = "vmo-cue-agent"

// workerEnv tells vmo-cue-agent which vmo-cue evaluates its revisions.
const workerEnv = "VMO_CUE_WORKER"

// newAgentCmd is `vmo-cue agent` (internal/agentcmd). Run as a process with vmo-cue-agent beside it
// (make build, the image), it replaces itself with that binary, same arguments: the agent does not
// stay resident with every command's code and initialised packages. Else the agent runs in this
// process; either way each revision is evaluated by `vmo-cue eval-worker`.
func newAgentCmd(g *globalFlags) *cobra.Command {
	cmd := agentcmd.New(func() (agent.Worker, error) {
		self, err := os.Executable()
		if err != nil {
			return agent.Worker{}, fmt.Errorf("finding vmo-cue for the evaluation worker: %w", err)
		}
		if g.rerun != nil { // a process of its own, not a test calling run()
			slim := filepath.Join(filepath.Dir(self), AgentBinary)
			if _, err := os.Stat(slim); err == nil {
				env := append(os.Environ(), workerEnv+"="+self)
				if err := syscall.Exec(slim, append([]string{slim}, os.Args[1:]...), env); err != nil {
					return agent.Worker{}, fmt.Errorf("running %s: %w", slim, err)
				}
			}
		}
		return agent.Worker{Binary: self, Args: g.workerArgs()}, nil
	})
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := run(cmd, args); err != nil {
			return &exitCode{code: exitError, err: err}
		}
		return nil
	}
	cmd.Args = usageArgs(0)
	return cmd
}

// workerArgs are the global flags an evaluation worker is given: the evaluation's budget.
func (g *globalFlags) workerArgs() []string {
	return []string{fmt.Sprintf("--max-file-size=%d", g.maxFileSize), "--eval-timeout=" + g.evalTimeout.String(), fmt.Sprintf("--eval-memory=%d", uint64(g.evalMemory))}
}
