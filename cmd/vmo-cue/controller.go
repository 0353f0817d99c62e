package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vmo-cue/vmo-cue/internal/controller"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/evalworker"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

func newControllerCmd(g *globalFlags) *cobra.Command {
	o := controller.RunOptions{}
	var kubeconfig, kubeContext, logLevel string
	var qps float32
	var burst int
	var inProcess bool
	var workerRSS byteSize
	workerGoMem := byteSize(defaultWorkerGoMemLimit)
	goMem := byteSize(defaultControllerGoMemLimit)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the fleet controller: reconcile the Fleets of a namespace of the management cluster",
		Long: `controller runs in a management cluster (deploy/controller) and reconciles the Fleets of its namespace:
each on change, on its interval, and at once when a git server's webhook says its branch moved
(POST /hook/<namespace>/<fleet> on --webhook-bind-address, signed with the key webhook-token of the
Secret named by spec.source.secretRef: GitHub X-Hub-Signature-256, Gitea X-Gitea-Signature, GitLab
X-Gitlab-Token). Each pass fetches one revision, validates it (a bad commit applies nothing), syncs
the selected reachable clusters in a rollout and records one FleetCluster per cluster. Target
clusters are reached through the Secrets labelled fleet.vmo-cue.dev/cluster=<name> (key kubeconfig).`,
		Args: usageArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := zap.Options{TimeEncoder: zapcore.RFC3339NanoTimeEncoder}
			switch logLevel {
			case "info":
			case "debug":
				opts.Level = zapcore.DebugLevel
			default:
				return &exitCode{code: exitError, err: fmt.Errorf("--log-level %q: want info or debug", logLevel)}
			}
			if os.Getenv("GOGC") == "" {
				// A long-lived process: GOGC 100 whatever the commands' default (tuneGC).
				debug.SetGCPercent(100)
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(int64(goMem))
			}
			log := zap.New(zap.UseFlagOptions(&opts))
			ctrl.SetLogger(log)
			o.Log = log
			o.MaxFileSize = g.maxFileSize
			// The CLI's budget without its re-execution hook: a controller must not exec itself.
			o.Budget = engine.Budget{Timeout: g.evalTimeout, Memory: uint64(g.evalMemory),
				TimeoutSetting: "--eval-timeout", MemorySetting: "--eval-memory"}
			if !inProcess {
				w, err := workerOptions(g, uint64(workerRSS), uint64(workerGoMem))
				if err != nil {
					return &exitCode{code: exitError, err: err}
				}
				w.Deadline, w.Batch = o.Worker.Deadline, o.Worker.Batch
				o.Worker = w
			}
			if o.Namespace == "" {
				o.Namespace = os.Getenv("POD_NAMESPACE")
			}
			if o.CacheDir == "" {
				base, err := os.UserCacheDir()
				if err != nil {
					return &exitCode{code: exitError, err: fmt.Errorf("no --cache-dir and no user cache directory: %w", err)}
				}
				o.CacheDir = filepath.Join(base, "vmo-cue", "controller")
			}
			cfg, err := managementConfig(kubeconfig, kubeContext)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			cfg.QPS, cfg.Burst = qps, burst
			if err := controller.Run(ctrl.SetupSignalHandler(), cfg, o); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the management cluster (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&kubeContext, "context", "", "context of --kubeconfig (default: its current context)")
	fl.Float32Var(&qps, "kube-api-qps", 50, "requests per second to the management cluster's API server, at most")
	fl.IntVar(&burst, "kube-api-burst", 300, "burst of requests to the management cluster's API server, at most")
	fl.StringVar(&o.Namespace, "namespace", "", "namespace whose Fleets are served (default: $POD_NAMESPACE)")
	fl.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (0 to disable)")
	fl.StringVar(&o.PprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof profiles (empty: off)")
	fl.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":9440", "address of /healthz and /readyz")
	fl.StringVar(&o.WebhookAddr, "webhook-bind-address", ":9292", "address of the webhook receiver (/hook/<namespace>/<fleet>)")
	fl.StringVar(&o.DashboardAddr, "dashboard-bind-address", "", "address of the read-only dashboard, behind TokenReview/SubjectAccessReview (empty: off)")
	fl.BoolVar(&o.DashboardAllowCommits, "dashboard-allow-commits", false, "enable the dashboard's VM form for users who may update fleets: committed in a clone of the Fleet's repository and pushed with its credentials")
	fl.StringVar(&o.DashboardCommitterName, "dashboard-committer-name", "vmo-cue dashboard", "committer name of the dashboard's commits")
	fl.StringVar(&o.DashboardCommitterEmail, "dashboard-committer-email", "dashboard@vmo-cue.invalid", "committer email of the dashboard's commits")
	fl.BoolVar(&o.LeaderElect, "leader-elect", false, "one replica acts at a time, through a Lease in the namespace")
	fl.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 35*time.Second, "how long the others wait before taking over from a leader that stopped renewing")
	fl.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 30*time.Second, "how long the leader tries to renew before it steps down")
	fl.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 5*time.Second, "how often candidates try to acquire or renew the Lease")
	fl.StringVar(&o.WatchLabelSelector, "watch-label-selector", "", "serve only the Fleets with matching labels, e.g. 'sharding.fluxcd.io/key in (shard1)' (a Lease per shard)")
	fl.IntVar(&o.Concurrent, "concurrent", 4, "Fleets reconciled at once")
	fl.Uint8Var(&o.JitterPercent, "interval-jitter-percentage", 5, "spread each Fleet's interval by ± this percentage")
	fl.StringVar(&o.CacheDir, "cache-dir", "", "git cache (default: the user cache directory)")
	fl.DurationVar(&o.ConnectTimeout, "connect-timeout", 5*time.Second, "how long a target cluster has to answer before it is Offline")
	fl.DurationVar(&o.PendingTimeout, "pending-timeout", reconciler.DefaultPendingTimeout, "how long objects wait for their kind to exist in a target cluster")
	fl.DurationVar(&o.DeletionTimeout, "deletion-timeout", controller.DefaultDeletionTimeout, "how long a Fleet deleted with deletionPolicy Delete retries clusters it cannot reach before it lets them be")
	fl.DurationVar(&o.AgentOfflineAfter, "agent-offline-after", controller.DefaultAgentOfflineAfter, "a pull cluster whose agent's heartbeat is older is Offline")
	fl.BoolVar(&inProcess, "eval-in-process", false, "evaluate revisions in the controller's process instead of a worker process it can end (a runaway evaluation then runs on)")
	fl.DurationVar(&o.Worker.Deadline, "eval-deadline", 10*time.Minute, "longest load of a revision by the evaluation worker, every cluster and re-run included: past it the worker is killed and the pass fails")
	fl.IntVar(&o.Worker.Batch, "eval-batch", 25, "clusters the evaluation worker evaluates at a time (its heap holds one batch; clusters of one layer-2 domain or kubeconfig context are evaluated together); 0: the whole fleet at once")
	fl.Var(&goMem, "gomemlimit", "the controller's own soft memory limit (GOMEMLIMIT in the environment wins): its collector works harder and returns memory sooner rather than let its heap grow past it during a pass; a controller that holds more still works (about 45 MiB live serving 1,010 clusters)")
	fl.Var(&workerGoMem, "eval-worker-gomemlimit", "the evaluation worker's soft memory limit (its GOMEMLIMIT; at most three quarters of --eval-memory): its collector works harder rather than let its heap grow past it, so that it and the controller fit the pod's memory; a batch that holds more still evaluates")
	fl.Var(&workerRSS, "eval-worker-max-rss", "resident memory at which the evaluation worker is killed (default: --eval-memory and half of it again)")
	fl.StringVar(&logLevel, "log-level", "info", "info or debug (JSON logs on stderr)")
	return cmd
}

// defaultControllerGoMemLimit is the controller's own GOMEMLIMIT by default. Serving 1,010 clusters
// its live heap is about 45 MiB, but at GOGC 100 alone its resident memory reached three times that
// in a pass's rollout (TLS handshakes with a thousand offline sites, their clients and statuses),
// which put the pod over 200 MiB (BenchmarkControllerScale).
const defaultControllerGoMemLimit = 96 << 20

// defaultWorkerGoMemLimit is the evaluation worker's GOMEMLIMIT by default: with the controller's
// own memory and the binary's pages, the pod stays under 200 MiB serving 1,000 clusters
// (BenchmarkControllerScale).
const defaultWorkerGoMemLimit = 80 << 20

// workerOptions are the evaluation worker's: this binary, the command line's budget as its flags,
// GOMEMLIMIT goMem (at most three quarters of --eval-memory, as a command sets it for itself), GOGC
// 100 and a resident memory limit.
func workerOptions(g *globalFlags, maxRSS, goMem uint64) (evalworker.Options, error) {
	exe, err := os.Executable()
	if err != nil {
		return evalworker.Options{}, fmt.Errorf("the evaluation worker is this binary, which cannot be found: %w", err)
	}
	if maxRSS == 0 {
		maxRSS = uint64(g.evalMemory) / 2 * 3
	}
	var env []string
	if os.Getenv("GOGC") == "" {
		// GOGC 100 whatever the commands' default (tuneGC): the worker shares the pod's memory
		// with the controller (at GOGC 400 its heap grew to 420 MiB instead of 237 MiB for 1,000
		// clusters).
		env = append(env, "GOGC=100")
	}
	return evalworker.Options{
		Env:    env,
		Binary: exe,
		Args: []string{"--eval-timeout", g.evalTimeout.String(), "--eval-memory", strconv.FormatUint(uint64(g.evalMemory), 10),
			"--max-file-size", strconv.FormatInt(g.maxFileSize, 10)},
		MaxRSS:      maxRSS,
		MemoryLimit: min(goMem, uint64(g.evalMemory)/4*3),
	}, nil
}

// managementConfig is the connection to the management cluster: --kubeconfig (and --context) when
// given, else in-cluster, $KUBECONFIG or ~/.kube/config.
func managementConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	if kubeconfig == "" && kubeContext == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("management cluster: %w", err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("management cluster: kubeconfig %s, context %q: %w", kubeconfig, kubeContext, err)
	}
	return cfg, nil
}
