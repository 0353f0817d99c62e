package agent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/hubjoin"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// hubSetup starts a hub and the edge, a repository with two commits (the second gives the POS server
// a third socket) and the FleetCluster with the first released; it returns the edge's and the hub's
// clients, the commits and the kubeconfigs the agent uses (the hub's through server, if given).
func hubSetup(t *testing.T) (edgeC, hubC clientT, rev1, rev2 string, r *repo, dir, edgeKC string, hubCfg hubT) {
	t.Helper()
	env := startClusters(t, "hub", edge)
	edgeC, hubC = clientOf(t, env.Cluster(edge).Config()), clientOf(t, env.Cluster("hub").Config())
	r = newRepo(t)
	rev1 = r.commit("The canary store")
	r.edit("clusters/edge-store-1/vms/pos.yaml", "          sockets: 2\n          maxSockets: 8\n          cores: 1\n        memory:\n          guest: 6Gi",
		"          sockets: 3\n          maxSockets: 8\n          cores: 1\n        memory:\n          guest: 6Gi")
	rev2 = r.commit("More CPU for the POS server")
	newFleetCluster(t, hubC, "main@sha1:"+rev1)
	dir = t.TempDir()
	edgeKC = writeKubeconfig(t, env.Cluster(edge).Config(), "", filepath.Join(dir, "edge.kubeconfig"))
	return edgeC, hubC, rev1, rev2, r, dir, edgeKC, hubT{env.Cluster("hub").Config().Host, env.Cluster("hub").Config(), func(server, path string) string {
		return writeKubeconfig(t, env.Cluster("hub").Config(), server, path)
	}}
}

// TestReportModeShowsDriftedInTheHub: joined to a Fleet, the agent applies the revision released to
// its FleetCluster (not the branch's newer head) and reports InSync there with its heartbeat; run
// again in report mode, it leaves a kubectl-edit-style change as it is, and the FleetCluster says
// Drifted, naming the VM.
func TestReportModeShowsDriftedInTheHub(t *testing.T) {
	edgeC, hubC, rev1, _, r, dir, edgeKC, hub := hubSetup(t)
	hubKC := hub.kubeconfig("", filepath.Join(dir, "hub.kubeconfig"))
	args := []string{"--kubeconfig", edgeKC, "--repo", r.url(), "--hub-kubeconfig", hubKC, "--fleet", hubNS + "/" + fleetName,
		"--interval", "1s", "--heartbeat", "1s", "--pending-timeout", "2s"}
	a := startAgent(t, dir, args...)

	st := waitHub(t, hubC, time.Minute, "InSync at the released revision", func(st fleetv1.FleetClusterStatus) bool {
		return st.State == fleetv1.StateInSync && st.Revision == "main@sha1:"+rev1
	})
	require.NotNil(t, st.LastHeartbeatTime)
	require.NotNil(t, st.LastSyncTime)
	assert.Equal(t, int32(3), st.VMs)
	require.Len(t, st.Conditions, 1)
	assert.Equal(t, metav1.ConditionTrue, st.Conditions[0].Status)
	assert.Equal(t, meta.ReadyCondition, st.Conditions[0].Type)
	assert.Equal(t, int64(2), sockets(t, edgeC, "pos-server"), "the branch's head was applied, not the released revision")
	first := st.LastHeartbeatTime.Time
	waitHub(t, hubC, 10*time.Second, "a later heartbeat", func(st fleetv1.FleetClusterStatus) bool {
		return st.LastHeartbeatTime != nil && st.LastHeartbeatTime.After(first)
	})

	// Report mode (a cluster applied before, in correct mode: report mode changes nothing that
	// exists, so it adopts nothing either).
	a.stop()
	startAgent(t, dir, append(args, "--drift", "report")...)
	time.Sleep(2 * time.Second)
	waitHub(t, hubC, 10*time.Second, "InSync in report mode", func(st fleetv1.FleetClusterStatus) bool {
		return st.State == fleetv1.StateInSync && st.LastHeartbeatTime.After(first.Add(2*time.Second))
	})
	kubectlEdit(t, edgeC, "pos-server", 7)
	st = waitHub(t, hubC, 5*time.Second, "Drifted, naming the VM", func(st fleetv1.FleetClusterStatus) bool {
		return st.State == fleetv1.StateDrifted
	})
	assert.Equal(t, []string{"VirtualMachine/vms/pos-server"}, st.Drifted)
	assert.Equal(t, int32(1), st.DriftedObjects)
	assert.Equal(t, metav1.ConditionFalse, st.Conditions[0].Status)
	assert.Equal(t, "Drifted", st.Conditions[0].Reason)
	time.Sleep(2 * time.Second) // two polls of the agent
	assert.Equal(t, int64(7), sockets(t, edgeC, "pos-server"), "report mode changed the VM")
	s := localStatus(t, edgeC)
	assert.Equal(t, clusterstatus.Drifted, s.State)
	assert.Equal(t, []string{"VirtualMachine/vms/pos-server"}, s.DriftedObjects)
	assert.Equal(t, hubNS+"/"+fleetName, s.Agent)
}

// TestFightGuardContested: another manager keeps changing a VM back; after --fight-max corrections the
// agent stops correcting it and reports it Contested, naming the manager, in the FleetCluster and in
// `vmo-cue status` against the edge; no correction follows however often the other one writes.
func TestFightGuardContested(t *testing.T) {
	edgeC, hubC, rev1, _, r, dir, edgeKC, hub := hubSetup(t)
	hubKC := hub.kubeconfig("", filepath.Join(dir, "hub.kubeconfig"))
	a := startAgent(t, dir, "--kubeconfig", edgeKC, "--repo", r.url(), "--hub-kubeconfig", hubKC, "--fleet", hubNS+"/"+fleetName,
		"--fight-max", "3", "--fight-window", "10m", "--interval", "1h", "--heartbeat", "1s", "--pending-timeout", "2s")
	waitHub(t, hubC, time.Minute, "InSync", func(st fleetv1.FleetClusterStatus) bool {
		return st.State == fleetv1.StateInSync && st.Revision == "main@sha1:"+rev1
	})

	// The other controller: puts 7 sockets back whenever they are not 7.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes int
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if sockets(t, edgeC, "pos-server") != 7 {
				kubectlEdit(t, edgeC, "pos-server", 7)
				writes++
			}
		}
	})
	st := waitHub(t, hubC, 20*time.Second, "pos-server Contested", func(st fleetv1.FleetClusterStatus) bool {
		return len(st.Contested) > 0
	})
	assert.Equal(t, []fleetv1.ContestedObject{{Object: "VirtualMachine/vms/pos-server", Manager: "kubectl-edit", Corrections: 3}}, st.Contested)
	assert.Equal(t, fleetv1.StateDrifted, st.State)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	assert.Equal(t, 3, a.count("drift: 1 objects corrected"), "corrections")
	assert.Equal(t, 4, writes, "the other manager's writes: the first and one after each correction")
	assert.Equal(t, int64(7), sockets(t, edgeC, "pos-server"))

	want := fmt.Sprintf("\nedge-store-1: agent: %s/%s, released main@sha1:%s\n  drifted: VirtualMachine/vms/pos-server\n  contested: VirtualMachine/vms/pos-server by kubectl-edit after 3 corrections\n",
		hubNS, fleetName, rev1[:12])
	out, err := exec.Command(vmoCue, "status", "--kubeconfig", edgeKC, "--state-dir", t.TempDir()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), want, "%s", out)

	// The hub's view: vmo-cue status --fleet (the FleetClusters of a Fleet, as the controller labels them).
	require.NoError(t, hubC.Create(context.Background(), &fleetv1.Fleet{ObjectMeta: metav1.ObjectMeta{Namespace: hubNS, Name: fleetName},
		Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url()}}}))
	// The agent writes the FleetCluster's status every heartbeat (--heartbeat 1s): an update from a
	// read before one of those conflicts, and is retried on the object read again.
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fc := fleetCluster(t, hubC)
		fc.Labels = map[string]string{fleetv1.FleetLabel: fleetName}
		return hubC.Update(context.Background(), fc)
	}))
	out, err = exec.Command(vmoCue, "status", "--kubeconfig", hubKC, "--fleet", hubNS+"/"+fleetName).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), want, "%s", out)
}

// TestHubDownEdgeCarriesOn: with the link to the hub cut, the edge keeps correcting drift, and its
// status waits; an agent restarted while cut off applies the revision recorded in its cluster (the
// released one, not the branch's newer head); when the link returns the hub's status catches up.
func TestHubDownEdgeCarriesOn(t *testing.T) {
	edgeC, hubC, rev1, _, r, dir, edgeKC, hub := hubSetup(t)
	l := newLink(t, hub.host[len("https://"):])
	// The agent's hub credential is the one `vmo-cue hub join` makes: its own FleetCluster only.
	require.NoError(t, hubC.Create(context.Background(), &fleetv1.Fleet{ObjectMeta: metav1.ObjectMeta{Namespace: hubNS, Name: fleetName},
		Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url()}}}))
	joined, err := hubjoin.Join(context.Background(), hub.config, hubjoin.Options{Namespace: hubNS, Fleet: fleetName, Cluster: edge, Server: l.url(), TokenDuration: 24 * time.Hour})
	require.NoError(t, err)
	hubKC := filepath.Join(dir, "hub.kubeconfig")
	require.NoError(t, os.WriteFile(hubKC, joined.Kubeconfig, 0o600))
	args := []string{"--kubeconfig", edgeKC, "--repo", r.url(), "--hub-kubeconfig", hubKC, "--fleet", hubNS + "/" + fleetName,
		"--interval", "1s", "--heartbeat", "1s", "--pending-timeout", "2s"}
	a := startAgent(t, dir, args...)
	waitHub(t, hubC, time.Minute, "InSync", func(st fleetv1.FleetClusterStatus) bool {
		return st.State == fleetv1.StateInSync && st.Revision == "main@sha1:"+rev1
	})

	l.down()
	time.Sleep(500 * time.Millisecond)
	cut := fleetCluster(t, hubC).Status.LastHeartbeatTime.Time
	kubectlEdit(t, edgeC, "pos-server", 7)
	require.Eventually(t, func() bool { return sockets(t, edgeC, "pos-server") == 2 }, 5*time.Second, 20*time.Millisecond,
		"not corrected while the hub is away")
	time.Sleep(2 * time.Second)
	assert.Equal(t, cut, fleetCluster(t, hubC).Status.LastHeartbeatTime.Time, "a heartbeat crossed a cut link")

	// Restarted while cut off: the released revision comes from the cluster's own record.
	a.kill()
	kubectlEdit(t, edgeC, "pos-server", 5)
	a = startAgent(t, dir, args...)
	require.Eventually(t, func() bool { return sockets(t, edgeC, "pos-server") == 2 }, 30*time.Second, 50*time.Millisecond,
		"the restarted agent did not apply the recorded revision")
	assert.Contains(t, a.logText(), "recorded in the cluster: revision main@sha1:"+rev1+" released")

	l.up()
	st := waitHub(t, hubC, 15*time.Second, "the status caught up", func(st fleetv1.FleetClusterStatus) bool {
		return st.LastHeartbeatTime != nil && st.LastHeartbeatTime.After(cut) && st.State == fleetv1.StateInSync
	})
	assert.Equal(t, "main@sha1:"+rev1, st.Revision)
}
