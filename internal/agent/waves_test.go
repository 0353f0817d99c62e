package agent_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/hubjoin"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

const factory = "edge-factory-1"

// TestCanaryFailsHealthLaterWaveNeverApplies: a hub running `vmo-cue controller` with a Fleet of two
// pull clusters in two waves (edge-store-1 the canary, edge-factory-1 the edge wave), each synced by
// its own agent process joined with `hub join`'s credential. The canary's VMs never become Ready (no
// KubeVirt runs them in the test API servers), so its agent applies the revision and fails the
// health check; the controller holds the edge wave: the factory is never released the revision, its
// agent applies nothing, and its FleetCluster is Pending, naming the failed wave.
func TestCanaryFailsHealthLaterWaveNeverApplies(t *testing.T) {
	env := startClusters(t, "hub", edge, factory)
	hubC, canaryC, factoryC := clientOf(t, env.Cluster("hub").Config()), clientOf(t, env.Cluster(edge).Config()), clientOf(t, env.Cluster(factory).Config())
	ctx := t.Context()
	r := newRepoOf(t, edge, factory)
	for _, c := range []string{edge, factory} {
		r.edit("clusters/"+c+"/cluster.cue", "\tkind: \"edge\"\n", "\tkind: \"edge\"\n\tmode: \"pull\"\n")
	}
	r.edit("fleet.cue", "\thealthTimeout: \"5m\"\n", "\thealthTimeout: \"3s\"\n")
	rev := "main@sha1:" + r.commit("Two pull clusters, kstatus health")

	dir := t.TempDir()
	require.NoError(t, hubC.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNS}}))
	startController(t, dir, writeKubeconfig(t, env.Cluster("hub").Config(), "", filepath.Join(dir, "hub-admin.kubeconfig")))
	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(t, hubC.Create(ctx, &fleetv1.Fleet{ObjectMeta: metav1.ObjectMeta{Namespace: hubNS, Name: fleetName},
		Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}}, Interval: &hour}}))
	agents := map[string]*agentProc{}
	for _, c := range []string{edge, factory} {
		joined, err := hubjoin.Join(ctx, env.Cluster("hub").Config(), hubjoin.Options{Namespace: hubNS, Fleet: fleetName, Cluster: c, TokenDuration: time.Hour})
		require.NoError(t, err)
		hubKC := filepath.Join(dir, c+".hub.kubeconfig")
		require.NoError(t, os.WriteFile(hubKC, joined.Kubeconfig, 0o600))
		edgeKC := writeKubeconfig(t, env.Cluster(c).Config(), "", filepath.Join(dir, c+".kubeconfig"))
		agents[c] = startAgentOf(t, t.TempDir(), c, "--kubeconfig", edgeKC, "--repo", r.url(), "--hub-kubeconfig", hubKC,
			"--fleet", hubNS+"/"+fleetName, "--interval", "1s", "--heartbeat", "1s", "--pending-timeout", "2s")
	}

	// The canary applied the revision, and its health check failed.
	canary := waitFleetCluster(t, hubC, edge, time.Minute, "the canary Failed", func(fc *fleetv1.FleetCluster) bool {
		return fc.Status.State == fleetv1.StateFailed
	})
	assert.Equal(t, rev, canary.Spec.ReleasedRevision)
	assert.Equal(t, "canary", canary.Spec.Wave)
	assert.Contains(t, canary.Status.Message, "not healthy within 3s")
	require.NotNil(t, getVM(t, canaryC, "pos-server"), "the canary did not apply the revision")

	// The edge wave is held: never released, Pending, naming the wave that failed.
	const held = "waiting for the controller to release a revision to this cluster: rollout stopped: wave canary failed"
	fc := waitFleetCluster(t, hubC, factory, 30*time.Second, "the factory Pending, held by the canary", func(fc *fleetv1.FleetCluster) bool {
		return fc.Status.State == fleetv1.StatePending && fc.Status.Message == held
	})
	assert.Equal(t, "edge", fc.Spec.Wave)
	assert.Empty(t, fc.Spec.ReleasedRevision)
	assert.Empty(t, fc.Status.Revision)
	assert.Nil(t, fc.Status.LastSyncTime)
	// A few more passes of both agents (polls every second): still nothing for the factory.
	assert.Never(t, func() bool {
		fc := fleetCluster2(t, hubC, factory)
		return fc.Spec.ReleasedRevision != "" || fc.Status.State != fleetv1.StatePending || factoryApplied(t, factoryC)
	}, 4*time.Second, 200*time.Millisecond, "the held wave was released or applied something")
	assert.False(t, factoryApplied(t, factoryC), "the factory's cluster holds vmo-cue's objects")
	assert.NotContains(t, agents[factory].logText(), "objects rendered", "the factory's agent loaded a revision")
	assert.Contains(t, agents[edge].logText(), "revision "+rev+": ")
}

// factoryApplied reports whether anything of vmo-cue is in the factory's cluster: its inventory, or
// a VM of its folder.
func factoryApplied(t testing.TB, c client.Client) bool {
	t.Helper()
	_, err := inventory.Read(context.Background(), c)
	if err == nil {
		return true
	}
	require.ErrorIs(t, err, inventory.ErrNotFound)
	return getVM(t, c, "scada-hmi") != nil
}

// fleetCluster2 reads the FleetCluster of a cluster of the Fleet.
func fleetCluster2(t testing.TB, hub client.Client, cluster string) *fleetv1.FleetCluster {
	t.Helper()
	fc := &fleetv1.FleetCluster{}
	require.NoError(t, hub.Get(context.Background(), client.ObjectKey{Namespace: hubNS, Name: fleetName + "." + cluster}, fc))
	return fc
}

// waitFleetCluster waits until a cluster's FleetCluster satisfies ok.
func waitFleetCluster(t testing.TB, hub client.Client, cluster string, timeout time.Duration, what string, ok func(*fleetv1.FleetCluster) bool) *fleetv1.FleetCluster {
	t.Helper()
	var last *fleetv1.FleetCluster
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		fc := &fleetv1.FleetCluster{}
		if err := hub.Get(context.Background(), client.ObjectKey{Namespace: hubNS, Name: fleetName + "." + cluster}, fc); err == nil {
			last = fc
			if ok(fc) {
				return fc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %+v", what, timeout, last)
		}
	}
}

// startController runs `vmo-cue controller` against the hub (the Fleets of namespace hubNS) until
// the test ends, and waits until it is ready.
func startController(t testing.TB, dir, kubeconfig string) {
	t.Helper()
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		return l.Addr().String()
	}
	probes := free()
	logPath := filepath.Join(dir, "controller.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close()
	cmd := exec.Command(vmoCue, "controller", "--kubeconfig", kubeconfig, "--namespace", hubNS, "--cache-dir", filepath.Join(dir, "controller-cache"),
		"--metrics-bind-address", free(), "--health-probe-bind-address", probes, "--webhook-bind-address", free(),
		"--connect-timeout", "2s", "--pending-timeout", "5s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		data, _ := os.ReadFile(logPath)
		if strings.Contains(string(data), "WARNING: DATA RACE") {
			t.Errorf("the controller (built with -race) found a data race")
		}
		if t.Failed() {
			t.Logf("controller log:\n%s", tail(string(data), 60))
		}
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + probes + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			data, _ := os.ReadFile(logPath)
			t.Fatalf("the controller exited:\n%s", tail(string(data), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the controller was not ready within a minute")
		}
	}
}
