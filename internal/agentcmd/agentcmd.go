// Package agentcmd is the command line of `vmo-cue agent`, shared by the two binaries that run it:
// vmo-cue itself, which hands the agent over to vmo-cue-agent when that binary is beside it (the
// image ships both), and cmd/vmo-cue-agent, the agent's own binary, which links the agent, the
// reconciler and git, not the fleet's evaluation (CUE: each revision is evaluated by a `vmo-cue
// eval-worker` child process), so that an idle agent holds little memory.
package agentcmd

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/vmo-cue/vmo-cue/internal/agent"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

type flags struct {
	source.Flags
	cluster, kubeconfig, context, drift, hubKubeconfig, hubContext, fleet string
	prune                                                                 bool
	interval, heartbeat, debounce, fightWindow, pendingTimeout            time.Duration
	fightMax                                                              int
}

// New returns the agent command; worker says how to start the evaluation worker (called once the
// flags are parsed). Its errors are usage errors or the agent's end (exit code 2 in both binaries).
func New(worker func() (agent.Worker, error)) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "agent --cluster NAME --repo URL|PATH",
		Short: "Sync this cluster from inside it (pull mode): drift seen within seconds, autonomous when the link is down",
		Long: `agent runs inside one cluster (its in-cluster credentials; --kubeconfig outside one). It fetches the
fleet repository itself, renders and validates only its own cluster, applies it as sync does, then
watches what it applied: an object another manager changes or deletes is corrected (--drift correct)
or reported (--drift report) within seconds. An object corrected --fight-max times within
--fight-window is Contested: no longer corrected, reported with the other manager's name.

With --hub-kubeconfig and --fleet NAMESPACE/NAME the agent joins a Fleet of a vmo-cue controller: it
applies only the revision the controller released to its FleetCluster (NAME.CLUSTER) and writes that
FleetCluster's status on every change and every --heartbeat. Without them it follows --ref alone.
When the hub or git cannot be reached it keeps the last released revision and keeps correcting drift;
the latest status is delivered when the hub returns. The released revision and the status are
recorded in the cluster (vmo-cue-system/vmo-cue-status), so a restart resumes from there.

Each new revision is evaluated in a child process (vmo-cue eval-worker), which ends once the cluster
is rendered; the agent itself runs as vmo-cue-agent when that binary is beside vmo-cue.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := worker()
			if err != nil {
				return err
			}
			return run(cmd, f, w)
		},
	}
	fl := cmd.Flags()
	f.Flags.Register(fl)
	fl.StringVar(&f.cluster, "cluster", "", "this cluster's name in the fleet (required)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of this cluster (default: the in-cluster credentials)")
	fl.StringVar(&f.context, "context", "", "context of --kubeconfig (default: its current context)")
	fl.StringVar(&f.drift, "drift", "correct", "what to do with drift: correct, or report")
	fl.BoolVar(&f.prune, "prune", false, "delete objects that left git (within the cluster's prune policy)")
	fl.DurationVar(&f.interval, "interval", time.Minute, "how often git (or, joined to a Fleet, the FleetCluster) is polled and the whole cluster re-planned")
	fl.StringVar(&f.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig of the management cluster (a mounted Secret): join --fleet there")
	fl.StringVar(&f.hubContext, "hub-context", "", "context of --hub-kubeconfig (default: its current context)")
	fl.StringVar(&f.fleet, "fleet", "", "NAMESPACE/NAME of the Fleet in the management cluster")
	fl.DurationVar(&f.heartbeat, "heartbeat", 30*time.Second, "how often the FleetCluster's status is written even when nothing changed")
	fl.DurationVar(&f.debounce, "debounce", 100*time.Millisecond, "how long watch events are collected before drift is re-planned")
	fl.IntVar(&f.fightMax, "fight-max", 5, "corrections of one object within --fight-window after which it is Contested (0: never)")
	fl.DurationVar(&f.fightWindow, "fight-window", 10*time.Minute, "the fight guard's window")
	fl.DurationVar(&f.pendingTimeout, "pending-timeout", reconciler.DefaultPendingTimeout, "how long objects wait for their kind to exist")
	return cmd
}

func run(cmd *cobra.Command, f *flags, worker agent.Worker) error {
	if f.cluster == "" {
		return fmt.Errorf("--cluster is required")
	}
	spec, err := f.Spec()
	if err != nil {
		return err
	}
	mode := reconciler.DriftMode(f.drift)
	if mode != reconciler.DriftCorrect && mode != reconciler.DriftReport {
		return fmt.Errorf("--drift %s: want correct or report", f.drift)
	}
	opts := agent.Options{Cluster: f.cluster, Source: spec, Drift: mode, Prune: f.prune, Interval: f.interval, Heartbeat: f.heartbeat,
		Debounce: f.debounce, FightMax: f.fightMax, FightWindow: f.fightWindow, PendingTimeout: f.pendingTimeout, Worker: worker}
	if f.kubeconfig != "" {
		opts.Config, err = reconciler.RESTConfig(f.kubeconfig, f.context)
	} else if opts.Config, err = rest.InClusterConfig(); err != nil {
		err = fmt.Errorf("in-cluster credentials: %w (outside a cluster, give --kubeconfig)", err)
	}
	if err != nil {
		return err
	}
	if (f.hubKubeconfig == "") != (f.fleet == "") {
		return fmt.Errorf("--hub-kubeconfig and --fleet go together")
	}
	if f.fleet != "" {
		ns, name, ok := strings.Cut(f.fleet, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("--fleet %q: want NAMESPACE/NAME", f.fleet)
		}
		opts.HubNamespace, opts.HubFleet = ns, name
		if opts.Hub, err = reconciler.RESTConfig(f.hubKubeconfig, f.hubContext); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
	}
	logger := log.New(cmd.ErrOrStderr(), "", log.LstdFlags|log.Lmicroseconds|log.LUTC)
	opts.Logf = logger.Printf
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	joined := "standalone"
	if opts.Hub != nil {
		joined = "joined to Fleet " + f.fleet
	}
	logger.Printf("agent of cluster %s: %s, drift %s, interval %s (%s, revisions evaluated by %s %s)", f.cluster, joined, mode, f.interval,
		self(), worker.Binary, agent.WorkerCommand)
	if err := agent.Run(ctx, opts); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// self names this process's binary.
func self() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return os.Args[0]
}
