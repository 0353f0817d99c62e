package controller_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// join runs `vmo-cue hub join` for a cluster of the Fleet and returns the agent's connection from the
// kubeconfig it wrote.
func join(t testing.TB, mgmtKubeconfig []byte, cluster string) *rest.Config {
	t.Helper()
	dir := t.TempDir()
	kc := filepath.Join(dir, "mgmt.kubeconfig")
	require.NoError(t, os.WriteFile(kc, mgmtKubeconfig, 0o600))
	out := filepath.Join(dir, cluster+".hub.kubeconfig")
	cmd := exec.Command(vmoCue, "hub", "join", "--kubeconfig", kc, "--fleet", namespace+"/"+fleetName, "--cluster", cluster, "--output", out)
	stdout, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", stdout)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	raw, err := clientcmd.Load(data)
	require.NoError(t, err)
	token := raw.AuthInfos["agent"].Token
	require.NotEmpty(t, token)
	assert.NotContains(t, string(stdout), token, "the token is never printed")
	assert.Contains(t, string(stdout), "cluster "+cluster+" joins Fleet fleets/edge as ServiceAccount vmo-cue-agent.edge."+cluster)
	info, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	require.NoError(t, err)
	return cfg
}

// agent stands in for a pull cluster's `vmo-cue agent` on the hub side: it writes its FleetCluster's
// status with a merge patch (the heartbeat, and what it reports) every period, as the agent does.
type agent struct {
	c      client.Client
	name   string
	mu     sync.Mutex
	report map[string]any
	last   time.Time
	stop   chan struct{}
	done   chan struct{}
}

func startAgent(t testing.TB, c client.Client, cluster string, period time.Duration) *agent {
	a := &agent{c: c, name: fleetName + "." + cluster, report: map[string]any{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			a.beat()
			select {
			case <-a.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(a.halt)
	return a
}

// beat writes one heartbeat (and the report): one merge patch of the status.
func (a *agent) beat() {
	a.mu.Lock()
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	st := map[string]any{"lastHeartbeatTime": now, "lastSeenTime": now}
	for k, v := range a.report {
		st[k] = v
	}
	a.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"status": st})
	fc := &fleetv1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: a.name}}
	if err := a.c.Status().Patch(context.Background(), fc, client.RawPatch(types.MergePatchType, body)); err == nil {
		a.mu.Lock()
		a.last = now.Time
		a.mu.Unlock()
	}
}

// say sets what the agent reports from its next heartbeat on, and sends it now.
func (a *agent) say(state fleetv1.ClusterState, revision, message string) {
	a.mu.Lock()
	a.report = map[string]any{"state": state, "revision": revision, "message": message}
	a.mu.Unlock()
	a.beat()
}

func (a *agent) halt() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
}

func (a *agent) lastBeat() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// TestAgentHubCredential: the credential `vmo-cue hub join` gives a pull cluster's agent reads and
// watches its own FleetCluster and patches its status; it cannot touch another cluster's FleetCluster,
// its own spec (where the controller releases revisions), or anything else (real API server, the
// ServiceAccount's own token).
func TestAgentHubCredential(t *testing.T) {
	env := startClusters(t)
	mgmt := clientOf(t, env.Cluster("mgmt").Config())
	ctx := t.Context()
	require.NoError(t, mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}))
	require.NoError(t, mgmt.Create(ctx, &fleetv1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: "https://git.example.com/fleet.git"}, Suspend: true}}))
	for _, c := range []string{"edge-store-1", "edge-store-2"} {
		require.NoError(t, mgmt.Create(ctx, &fleetv1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Name: fleetName + "." + c, Namespace: namespace},
			Spec: fleetv1.FleetClusterSpec{Fleet: fleetName, Cluster: c, Mode: fleetv1.ModePull, ReleasedRevision: "main@sha1:1"}}))
	}
	agentCfg := join(t, kubeconfig(t, env, "mgmt", "mgmt"), "edge-store-1")
	agentClient, err := client.NewWithWatch(agentCfg, client.Options{Scheme: scheme})
	require.NoError(t, err)

	own := &fleetv1.FleetCluster{}
	require.NoError(t, agentClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "edge.edge-store-1"}, own), "its own FleetCluster")
	assert.Equal(t, "main@sha1:1", own.Spec.ReleasedRevision)
	heartbeat := client.RawPatch(types.MergePatchType, []byte(`{"status":{"state":"InSync","lastHeartbeatTime":"2026-01-02T03:04:05Z"}}`))
	require.NoError(t, agentClient.Status().Patch(ctx, own, heartbeat), "its own status")
	assert.Equal(t, fleetv1.StateInSync, own.Status.State)

	// Watching its own FleetCluster (a metadata.name field selector) is allowed; everyone's is not.
	w, err := agentClient.Watch(ctx, &fleetv1.FleetClusterList{}, client.InNamespace(namespace),
		client.MatchingFields{"metadata.name": "edge.edge-store-1"})
	require.NoError(t, err, "watching its own FleetCluster")
	w.Stop()
	_, err = agentClient.Watch(ctx, &fleetv1.FleetClusterList{}, client.InNamespace(namespace))
	assert.True(t, apierrors.IsForbidden(err), "watching every FleetCluster: want Forbidden, got %v", err)

	other := &fleetv1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "edge.edge-store-2"}}
	forbidden := map[string]error{
		"get another's":           agentClient.Get(ctx, client.ObjectKeyFromObject(other), &fleetv1.FleetCluster{}),
		"patch another's status":  agentClient.Status().Patch(ctx, other.DeepCopy(), heartbeat),
		"patch another's spec":    agentClient.Patch(ctx, other.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"releasedRevision":"x"}}`))),
		"update another's":        agentClient.Update(ctx, withSpec(other, "edge-store-2")),
		"delete another's":        agentClient.Delete(ctx, other.DeepCopy()),
		"patch its own spec":      agentClient.Patch(ctx, own.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"releasedRevision":"x"}}`))),
		"update its own":          agentClient.Update(ctx, own.DeepCopy()),
		"delete its own":          agentClient.Delete(ctx, own.DeepCopy()),
		"list every FleetCluster": agentClient.List(ctx, &fleetv1.FleetClusterList{}, client.InNamespace(namespace)),
		"create a FleetCluster":   agentClient.Create(ctx, withSpec(&fleetv1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "edge.x"}}, "x")),
		"read the Fleet":          agentClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fleetName}, &fleetv1.Fleet{}),
		"list Secrets":            agentClient.List(ctx, &corev1.SecretList{}, client.InNamespace(namespace)),
	}
	for what, err := range forbidden {
		assert.True(t, apierrors.IsForbidden(err), "%s: want Forbidden, got %v", what, err)
	}
	st := &fleetv1.FleetCluster{}
	require.NoError(t, mgmt.Get(ctx, client.ObjectKeyFromObject(other), st))
	assert.Empty(t, st.Status.State, "another cluster's status is untouched")
	assert.Equal(t, "main@sha1:1", st.Spec.ReleasedRevision)
}

func withSpec(fc *fleetv1.FleetCluster, cluster string) *fleetv1.FleetCluster {
	fc = fc.DeepCopy()
	fc.Spec = fleetv1.FleetClusterSpec{Fleet: fleetName, Cluster: cluster}
	return fc
}

// TestPullClusters: a Fleet with a pull canary (edge-store-1, its agent simulated on the hub side
// with the credential of `vmo-cue hub join`), a push cluster (edge-store-2) and a pull cluster
// (edge-factory-1) in the next wave. The controller never connects to pull clusters (they have no
// kubeconfig Secret); it releases the revision wave by wave, moves on when the agents report it,
// holds the later waves while the canary's agent reports Failed, and marks a silent agent Offline
// within the threshold and 10 s, keeping its last revision, without fighting its next heartbeat.
func TestPullClusters(t *testing.T) {
	env := startClusters(t, "edge-store-2")
	mgmt := clientOf(t, env.Cluster("mgmt").Config())
	store2 := clientOf(t, env.Cluster("edge-store-2").Config())
	setup(t, env, mgmt, "edge-store-2")
	r := newRepo(t, "edge-store-1", "edge-store-2", "edge-factory-1")
	for _, c := range []string{"edge-store-1", "edge-factory-1"} {
		r.edit("clusters/"+c+"/cluster.cue", "\tkind: \"edge\"\n", "\tkind: \"edge\"\n\tmode: \"pull\"\n")
	}
	rev1 := "main@sha1:" + r.commit("Two pull clusters")
	const offlineAfter = 8 * time.Second // 16 heartbeats: a loaded CI machine can delay a few
	ctl := startController(t, env, "--agent-offline-after", offlineAfter.String())
	ctx := t.Context()
	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(t, mgmt.Create(ctx, &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec:       fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}}, Interval: &hour},
	}))
	admin := kubeconfig(t, env, "mgmt", "mgmt")
	canary := startAgent(t, clientOf(t, join(t, admin, "edge-store-1")), "edge-store-1", 500*time.Millisecond)
	factory := startAgent(t, clientOf(t, join(t, admin, "edge-factory-1")), "edge-factory-1", 500*time.Millisecond)

	waitClusters := func(what string, ok func(map[string]fleetv1.FleetCluster) bool) map[string]fleetv1.FleetCluster {
		t.Helper()
		var last map[string]fleetv1.FleetCluster
		require.Eventually(t, func() bool { last = fleetClusters(t, mgmt); return ok(last) }, 30*time.Second, 100*time.Millisecond,
			"%s; last: %+v", what, last)
		return last
	}

	t.Run("the canary is released the revision, the next wave waits for its agent", func(t *testing.T) {
		fcs := waitClusters("FleetClusters of the first pass", func(m map[string]fleetv1.FleetCluster) bool {
			return m["edge-store-1"].Spec.ReleasedRevision == rev1 && m["edge-store-2"].Status.State == fleetv1.StatePending
		})
		c := fcs["edge-store-1"]
		assert.Equal(t, fleetv1.ModePull, c.Spec.Mode)
		assert.Equal(t, "canary", c.Spec.Wave)
		assert.Equal(t, fleetv1.ModePush, fcs["edge-store-2"].Spec.Mode)
		assert.Equal(t, "rollout waiting for wave canary: edge-store-1 not yet at the revision", fcs["edge-store-2"].Status.Message)
		assert.Empty(t, fcs["edge-factory-1"].Spec.ReleasedRevision, "not released before its wave")
		assert.Nil(t, vm(t, store2, "pos-server"), "the next wave applied nothing")
		f := getFleet(t, mgmt)
		assert.Equal(t, "Pending", conditions.GetReason(f, meta.ReadyCondition))
	})

	t.Run("when the canary's agent reports the revision the next wave goes, and the Fleet is Ready when its agent does", func(t *testing.T) {
		canary.say(fleetv1.StateInSync, rev1, "applied")
		fcs := waitClusters("the edge wave", func(m map[string]fleetv1.FleetCluster) bool {
			return m["edge-store-2"].Status.State == fleetv1.StateInSync && m["edge-factory-1"].Spec.ReleasedRevision == rev1
		})
		assert.Equal(t, "6Gi", guestMemory(t, store2, "pos-server"))
		assert.Equal(t, "edge", fcs["edge-factory-1"].Spec.Wave)
		assert.False(t, conditions.IsReady(getFleet(t, mgmt)), "edge-factory-1's agent has not reported")
		factory.say(fleetv1.StateInSync, rev1, "applied")
		f := waitFleet(t, mgmt, 30*time.Second, "Ready", func(f *fleetv1.Fleet) bool {
			return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev1
		})
		assert.Equal(t, fleetv1.ClusterCounts{Total: 3, InSync: 3}, f.Status.Clusters)
		c := fleetClusters(t, mgmt)["edge-store-1"]
		assert.Equal(t, "applied", c.Status.Message, "the controller never wrote the status of a pull cluster")
	})

	r.edit("clusters/edge-store-2/vms/store.yaml", "guest: 6Gi", "guest: 8Gi")
	rev2 := "main@sha1:" + r.commit("More memory for the store's POS server")
	t.Run("a failed canary agent holds the later waves", func(t *testing.T) {
		requestReconcile(t, mgmt, "rev2")
		waitClusters("rev2 released to the canary", func(m map[string]fleetv1.FleetCluster) bool {
			return m["edge-store-1"].Spec.ReleasedRevision == rev2
		})
		canary.say(fleetv1.StateFailed, rev1, "VirtualMachine vms/till-1: not Ready within 5m")
		waitFleet(t, mgmt, 30*time.Second, "SyncFailed", func(f *fleetv1.Fleet) bool {
			return conditions.GetReason(f, meta.ReadyCondition) == "SyncFailed"
		})
		fcs := fleetClusters(t, mgmt)
		assert.Equal(t, fleetv1.StatePending, fcs["edge-store-2"].Status.State)
		assert.Equal(t, "rollout stopped: wave canary failed", fcs["edge-store-2"].Status.Message)
		assert.Equal(t, rev1, fcs["edge-factory-1"].Spec.ReleasedRevision)
		assert.Equal(t, "6Gi", guestMemory(t, store2, "pos-server"), "the second wave never applied rev2")
	})

	t.Run("a silent agent is Offline within the threshold and 10 s, then its heartbeat clears it", func(t *testing.T) {
		canary.say(fleetv1.StateInSync, rev1, "rolled back")
		canary.halt()
		last := canary.lastBeat()
		before := fleetClusters(t, mgmt)["edge-store-1"]
		fcs := waitClusters("edge-store-1 Offline", func(m map[string]fleetv1.FleetCluster) bool {
			return m["edge-store-1"].Status.State == fleetv1.StateOffline
		})
		took := time.Since(last)
		t.Logf("Offline %s after the last heartbeat (threshold %s)", took.Round(10*time.Millisecond), offlineAfter)
		assert.Less(t, took, offlineAfter+10*time.Second)
		c := fcs["edge-store-1"]
		assert.Equal(t, rev1, c.Status.Revision, "the last revision stays")
		assert.Equal(t, before.Status.LastSeenTime, c.Status.LastSeenTime, "the last seen time stays")
		assert.Contains(t, c.Status.Message, "no heartbeat from its agent since")
		assert.Equal(t, "ClusterOffline", conditions.GetReason(&c, meta.ReadyCondition))
		assert.Equal(t, "6Gi", guestMemory(t, store2, "pos-server"), "an offline canary that has not proven the revision holds the rollout")

		canary = startAgent(t, clientOf(t, join(t, admin, "edge-store-1")), "edge-store-1", 500*time.Millisecond)
		canary.say(fleetv1.StateInSync, rev2, "applied")
		f := waitFleet(t, mgmt, 30*time.Second, "the edge wave at rev2", func(f *fleetv1.Fleet) bool { return f.Status.Clusters.InSync == 2 })
		assert.Equal(t, fleetv1.ClusterCounts{Total: 3, InSync: 2, Syncing: 1}, f.Status.Clusters, "edge-factory-1 is released rev2, its agent has not reported it")
		factory.say(fleetv1.StateInSync, rev2, "applied")
		waitFleet(t, mgmt, 30*time.Second, "Ready at rev2", func(f *fleetv1.Fleet) bool {
			return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev2
		})
		assert.Equal(t, "8Gi", guestMemory(t, store2, "pos-server"))
		assert.Never(t, func() bool { return fleetClusters(t, mgmt)["edge-store-1"].Status.State != fleetv1.StateInSync },
			2*offlineAfter, 200*time.Millisecond, "a heartbeating agent is never marked Offline")
	})
	_ = ctl
}

// requestReconcile asks the controller for a pass now (reconcile.fluxcd.io/requestedAt).
func requestReconcile(t testing.TB, c client.Client, value string) {
	t.Helper()
	f := getFleet(t, c)
	base := f.DeepCopy()
	f.SetAnnotations(map[string]string{meta.ReconcileRequestAnnotation: value})
	require.NoError(t, c.Patch(t.Context(), f, client.MergeFrom(base)))
}
