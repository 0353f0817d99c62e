package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/dashboard"
)

type dashboardFlags struct {
	listen, kubeconfig, stateDir, fleetRef, ctxName string
	timeout, refresh                                time.Duration
	allowCommits                                    bool
	branch, name, email, remote                     string
	username, tokenFile, sshKey, knownHosts         string
}

func newDashboardCmd() *cobra.Command {
	f := &dashboardFlags{}
	cmd := &cobra.Command{
		Use:   "dashboard [DIR]",
		Short: "Serve the fleet dashboard (loopback only): every site, every VM, what git wants and what drifted",
		Long: `dashboard serves web pages on --listen (a loopback address: it reads with your kubeconfig): the
fleet (clusters by wave and state, revision, last sync, last seen, VM counts, the commit of DIR and its
vet result), each cluster (components, VMs with live status, node and interfaces, drift with the diff of
'vmo-cue diff', orphans), each VM (as git wants it, where it is written, live status, drift), and a
MAC/VLAN search. DIR is the fleet repository's working copy (default: the current directory). Pages
update live.
Clusters are read as 'vmo-cue status' reads them (a context per cluster), or with --fleet NS/NAME from
the controller's FleetClusters on the management cluster.
With --allow-commits, a form creates a VM from a template or edits a VM's CPU, memory, run strategy or
network: the change is written into DIR, vetted (errors shown, nothing committed), given MACs,
committed (on --commit-branch, else the branch checked out) and pushed to --push-remote. Nothing is
ever written to a cluster by the dashboard: the next sync applies the commit.`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runDashboard(cmd, f, dirArg(args)) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to serve on: loopback only (127.0.0.1, ::1, localhost)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig with a context per cluster (default: $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "where this machine remembers clusters (last seen, backoff)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "how long a cluster has to answer")
	fl.DurationVar(&f.refresh, "refresh", 10*time.Second, "how often the clusters are read again")
	fl.StringVar(&f.fleetRef, "fleet", "", "NAMESPACE/NAME: read the controller's FleetClusters of this Fleet from the management cluster")
	fl.StringVar(&f.ctxName, "context", "", "with --fleet: the management cluster's context (default: the current context)")
	fl.BoolVar(&f.allowCommits, "allow-commits", false, "enable the VM form: changes committed to DIR and pushed")
	fl.StringVar(&f.branch, "commit-branch", "", "branch that receives the dashboard's commits (default: the branch checked out in DIR)")
	fl.StringVar(&f.name, "committer-name", "vmo-cue dashboard", "committer name of the dashboard's commits")
	fl.StringVar(&f.email, "committer-email", "dashboard@vmo-cue.invalid", "committer email of the dashboard's commits")
	fl.StringVar(&f.remote, "push-remote", "origin", "remote of DIR pushed after each commit (empty: no push)")
	fl.StringVar(&f.username, "username", "", "https username of the push (default git)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the https token or password of the push (else $VMO_GIT_TOKEN)")
	fl.StringVar(&f.sshKey, "ssh-key", "", "ssh private key file of the push")
	fl.StringVar(&f.knownHosts, "known-hosts", "", "known_hosts file with the ssh server's host key (required with --ssh-key)")
	return cmd
}

// loopbackListen refuses an address that is not loopback: the CLI's dashboard reads with the user's
// credentials and has no sign-in of its own.
func loopbackListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %s: the CLI's dashboard serves on a loopback address only (127.0.0.1, ::1); the controller's serves others behind TokenReview", addr)
	}
	return nil
}

func (f *dashboardFlags) pushAuth() (transport.AuthMethod, error) {
	switch {
	case f.sshKey != "":
		if f.knownHosts == "" {
			return nil, fmt.Errorf("--ssh-key needs --known-hosts: the server's host key is checked, never trusted blindly")
		}
		keys, err := gitssh.NewPublicKeysFromFile("git", f.sshKey, "")
		if err != nil {
			return nil, fmt.Errorf("--ssh-key %s: %w", f.sshKey, err)
		}
		cb, err := gitssh.NewKnownHostsCallback(f.knownHosts)
		if err != nil {
			return nil, fmt.Errorf("--known-hosts %s: %w", f.knownHosts, err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	case f.tokenFile != "" || os.Getenv("VMO_GIT_TOKEN") != "":
		tok := os.Getenv("VMO_GIT_TOKEN")
		if f.tokenFile != "" {
			data, err := os.ReadFile(f.tokenFile)
			if err != nil {
				return nil, fmt.Errorf("--token-file: %w", err)
			}
			tok = strings.TrimSpace(string(data))
		}
		user := f.username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: tok}, nil
	}
	return nil, nil
}

func runDashboard(cmd *cobra.Command, f *dashboardFlags, dir string) error {
	if err := loopbackListen(f.listen); err != nil {
		return &exitCode{code: exitError, err: err}
	}
	var src dashboard.Source = &dashboard.KubeSource{Kubeconfig: f.kubeconfig, StateDir: f.stateDir, Timeout: f.timeout}
	title := ""
	if f.fleetRef != "" {
		fs, err := fleetSource(f)
		if err != nil {
			return &exitCode{code: exitError, err: err}
		}
		src, title = fs, f.fleetRef
	}
	opts := dashboard.Options{Source: src, GitDir: dir, FleetName: title, Refresh: f.refresh,
		Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
	if f.allowCommits {
		auth, err := f.pushAuth()
		if err != nil {
			return &exitCode{code: exitError, err: err}
		}
		opts.Commits = &dashboard.CommitOptions{Branch: f.branch, Name: f.name, Email: f.email, Remote: f.remote, Auth: auth}
	}
	srv, err := dashboard.New(opts)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv.Refresh(ctx, true)
	go srv.Run(ctx)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(cmd.OutOrStdout(), "dashboard: http://%s/\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return &exitCode{code: exitError, err: err}
	}
	return nil
}

func fleetSource(f *dashboardFlags) (*dashboard.FleetSource, error) {
	ns, name, ok := strings.Cut(f.fleetRef, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("--fleet %s: want NAMESPACE/NAME", f.fleetRef)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.ctxName}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	cfg.Timeout = f.timeout
	scheme := runtime.NewScheme()
	if err := fleetv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	return &dashboard.FleetSource{Client: c, Namespace: ns, Fleet: name}, nil
}
