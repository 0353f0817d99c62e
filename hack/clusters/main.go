// Command clusters keeps local Kubernetes API servers running for `make clusters` (hack/clusters.sh):
// one etcd and one kube-apiserver per cluster, started with internal/testcluster, until it gets
// SIGTERM or SIGINT or one of them dies. It is run in the background by hack/clusters.sh, which
// waits for the ready file.
//
// State, all under -dir: pid (this program), processes (name, pid and log of each child, one a
// line; each child leads its own process group), kubeconfig (in run/), ready (written last),
// clusters.log (this program's output).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

func main() {
	dir := flag.String("dir", ".cache/clusters", "state folder")
	names := flag.String("clusters", "", "comma-separated cluster names")
	crds := flag.Bool("crds", true, "install the stack's CRDs")
	fleetDir := flag.String("fleet", "", "fleet repository: each cluster declared there gets the CRDs of its KubeVirt and CDI releases")
	flag.Parse()
	if err := run(*dir, strings.Split(*names, ","), *crds, *fleetDir); err != nil {
		fmt.Fprintf(os.Stderr, "clusters: %v\n", err)
		os.Exit(1)
	}
}

func run(dir string, names []string, withCRDs bool, fleetDir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o600); err != nil {
		return err
	}
	opts := testcluster.Options{
		Names: names,
		Dir:   filepath.Join(dir, "run"),
		Logf:  func(format string, args ...any) { fmt.Printf(format+"\n", args...) },
	}
	if withCRDs {
		if opts.CRDs, err = testcluster.StackCRDs(); err != nil {
			fmt.Printf("clusters: without CRDs: %v\n", err)
		}
		if fleetDir != "" {
			opts.ClusterCRDs = clusterCRDs(fleetDir, names)
		}
	}

	// SIGTERM/SIGINT during the start stops what was started.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	env, err := testcluster.StartProcesses(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "clusters: stop: %v\n", err)
		}
	}()

	var lines []string
	for _, p := range env.Processes() {
		lines = append(lines, fmt.Sprintf("%s %d %s", p.Name, p.Pid, p.Log))
	}
	if err := os.WriteFile(filepath.Join(dir, "processes"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	ready := fmt.Sprintf("kubeconfig %s\nstarted %s\n", env.Kubeconfig, env.StartTime.Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(ready), 0o600); err != nil {
		return err
	}
	fmt.Printf("clusters: %s ready in %s\n", strings.Join(env.Names(), ", "), env.StartTime.Round(time.Millisecond))

	select {
	case <-ctx.Done():
		fmt.Println("clusters: stopping")
		return nil
	case <-env.EtcdExited():
		// One kube-apiserver ending takes only its cluster down (a site going offline); etcd ending
		// takes them all.
		return fmt.Errorf("etcd ended; see the logs in %s", opts.Dir)
	}
}

// clusterCRDs gives each cluster the fleet declares the CRDs of its KubeVirt and CDI releases; a
// cluster the fleet does not declare (or a fleet that does not load) gets the newest (StackCRDs).
func clusterCRDs(fleetDir string, names []string) map[string][]*apiextensionsv1.CustomResourceDefinition {
	r, err := desired.Load(fleetDir, desired.Options{})
	if err != nil {
		fmt.Printf("clusters: %s: %v: every cluster gets the newest CRDs\n", fleetDir, err)
		return nil
	}
	out := map[string][]*apiextensionsv1.CustomResourceDefinition{}
	for _, name := range names {
		c := r.Cluster(name)
		if c == nil || !c.Declared {
			continue
		}
		v := c.Releases()
		list, err := testcluster.StackCRDsFor(v)
		if err != nil {
			fmt.Printf("clusters: %s: %v\n", name, err)
			continue
		}
		fmt.Printf("clusters: %s gets the CRDs of KubeVirt %s and CDI %s\n", name, v.KubeVirt, crds.CDISet(v.CDI))
		out[name] = list
	}
	return out
}
