// Command vmo-cue-agent is the agent's own binary: `vmo-cue-agent agent ...` takes the arguments of
// `vmo-cue agent` (which hands over to it when it is beside vmo-cue: the image ships both). It links
// the agent, the reconciler and git, not the fleet's evaluation: each revision is evaluated by `vmo-cue
// eval-worker` ($VMO_CUE_WORKER, else the vmo-cue beside this binary), so an idle agent keeps only
// what it watches and applies resident (docs/architecture.md, "The agent's memory").
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vmo-cue/vmo-cue/internal/agent"
	"github.com/vmo-cue/vmo-cue/internal/agentcmd"
)

func main() {
	root := &cobra.Command{Use: "vmo-cue-agent", Short: "The vmo-cue agent (see `vmo-cue agent --help`)", SilenceUsage: true, SilenceErrors: true}
	// vmo-cue's global flags, handed to the evaluation worker as given.
	budget := map[string]*string{}
	for _, name := range []string{"max-file-size", "eval-timeout", "eval-memory"} {
		budget[name] = root.PersistentFlags().String(name, "", "as vmo-cue's --"+name+" (given to the evaluation worker)")
	}
	root.AddCommand(agentcmd.New(func() (agent.Worker, error) {
		w := agent.Worker{Binary: os.Getenv("VMO_CUE_WORKER")}
		if w.Binary == "" {
			self, err := os.Executable()
			if err != nil {
				return w, fmt.Errorf("finding vmo-cue for the evaluation worker: %w", err)
			}
			w.Binary = filepath.Join(filepath.Dir(self), "vmo-cue")
		}
		if _, err := os.Stat(w.Binary); err != nil {
			return w, fmt.Errorf("the evaluation worker: %w (vmo-cue-agent evaluates revisions with vmo-cue: set $VMO_CUE_WORKER or put vmo-cue beside it)", err)
		}
		root.PersistentFlags().Visit(func(f *pflag.Flag) {
			if _, ok := budget[f.Name]; ok {
				w.Args = append(w.Args, "--"+f.Name+"="+f.Value.String())
			}
		})
		return w, nil
	}))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vmo-cue-agent:", err)
		os.Exit(2)
	}
}
