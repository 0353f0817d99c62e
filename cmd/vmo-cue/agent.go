package main

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
	"github.com/vmo-cue/vmo-cue/reconciler"
)

type agentFlags struct {
	sourceFlags
	cluster, kubeconfig, context, drift, hubKubeconfig, hubContext, fleet string
	prune                                                                 bool
	interval, heartbeat, debounce, fightWindow, pendingTimeout            time.Duration
	fightMax                                                              int
}

func newAgentCmd(g *globalFlags) *cobra.Command {
	f := &agentFlags{}
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
recorded in the cluster (vmo-cue-system/vmo-cue-status), so a restart resumes from there.`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return runAgent(cmd, g, f) },
	}
	fl := cmd.Flags()
	f.sourceFlags.register(fl)
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

func runAgent(cmd *cobra.Command, g *globalFlags, f *agentFlags) error {
	usage := func(err error) error { return &exitCode{code: exitError, err: err} }
	if f.cluster == "" {
		return usage(fmt.Errorf("--cluster is required"))
	}
	spec, err := f.spec()
	if err != nil {
		return usage(err)
	}
	mode := reconciler.DriftMode(f.drift)
	if mode != reconciler.DriftCorrect && mode != reconciler.DriftReport {
		return usage(fmt.Errorf("--drift %s: want correct or report", f.drift))
	}
	budget, err := g.budget()
	if err != nil {
		return usage(err)
	}
	opts := agent.Options{Cluster: f.cluster, Source: spec, Drift: mode, Prune: f.prune, Interval: f.interval, Heartbeat: f.heartbeat,
		Debounce: f.debounce, FightMax: f.fightMax, FightWindow: f.fightWindow, PendingTimeout: f.pendingTimeout,
		MaxFileSize: g.maxFileSize, Budget: budget}
	if f.kubeconfig != "" {
		opts.Config, err = reconciler.RESTConfig(f.kubeconfig, f.context)
	} else if opts.Config, err = rest.InClusterConfig(); err != nil {
		err = fmt.Errorf("in-cluster credentials: %w (outside a cluster, give --kubeconfig)", err)
	}
	if err != nil {
		return usage(err)
	}
	if (f.hubKubeconfig == "") != (f.fleet == "") {
		return usage(fmt.Errorf("--hub-kubeconfig and --fleet go together"))
	}
	if f.fleet != "" {
		ns, name, ok := strings.Cut(f.fleet, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return usage(fmt.Errorf("--fleet %q: want NAMESPACE/NAME", f.fleet))
		}
		opts.HubNamespace, opts.HubFleet = ns, name
		if opts.Hub, err = reconciler.RESTConfig(f.hubKubeconfig, f.hubContext); err != nil {
			return usage(fmt.Errorf("hub: %w", err))
		}
	}
	logger := log.New(cmd.ErrOrStderr(), "", log.LstdFlags|log.Lmicroseconds|log.LUTC)
	opts.Logf = logger.Printf
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mode2 := "standalone"
	if opts.Hub != nil {
		mode2 = "joined to Fleet " + f.fleet
	}
	logger.Printf("agent of cluster %s: %s, drift %s, interval %s", f.cluster, mode2, mode, f.interval)
	if err := agent.Run(ctx, opts); err != nil && ctx.Err() == nil {
		return &exitCode{code: exitError, err: err}
	}
	return nil
}
