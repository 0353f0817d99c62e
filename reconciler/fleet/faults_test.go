package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// bulkVMs is how many extra VMs the fault tests give the cluster they interrupt: its apply then lasts
// long enough (hundreds of requests) to be cut in the middle, not before or after.
const bulkVMs = 300

// vmCount counts the VirtualMachines in a cluster, and those of the bulk.
func vmCount(t testing.TB, c client.Client) (all, bulk int) {
	t.Helper()
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(vmListGVK)
	require.NoError(t, c.List(context.Background(), list))
	for _, vm := range list.Items {
		all++
		if vm.Labels["app"] == "bulk" {
			bulk++
		}
	}
	return all, bulk
}

var vmListGVK = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachineList"}

// checkConverged asserts that a cluster holds exactly its desired state: the inventory lists every
// desired object once, with the hashes of a completed apply, and every desired object exists.
func checkConverged(t *testing.T, env *testcluster.Env, dir, cluster, revision string) {
	t.Helper()
	want := desiredIDs(t, dir, cluster)
	inv, err := readInventory(t, env, cluster)
	require.NoError(t, err)
	assert.Equal(t, keys(want), inventoryKeys(inv), "%s: the inventory lists every desired object exactly once", cluster)
	assert.Equal(t, revision, inv.Revision)
	for _, e := range inv.Entries {
		assert.True(t, e.DesiredHash != "" && e.FieldsHash != "", "%s: %s recorded as applied", cluster, e.ID)
	}
	c := clientFor(t, env, cluster)
	var missing []string
	desiredVMs := 0
	for _, id := range want {
		if !exists(t, c, id) {
			missing = append(missing, id.String())
		}
		if id.Group == "kubevirt.io" && id.Kind == "VirtualMachine" {
			desiredVMs++
		}
	}
	assert.Empty(t, missing, "%s: desired objects missing", cluster)
	all, _ := vmCount(t, c)
	assert.Equal(t, desiredVMs, all, "%s: VMs in the cluster, none twice, none extra", cluster)
	s, found, err := clusterstatus.Read(context.Background(), c)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, clusterstatus.InSync, s.State, "%s: status recorded in the cluster", cluster)
	assert.Equal(t, revision, s.Revision)
}

// TestAPIServerKilledMidSync: edge-store-2's API server is killed (SIGKILL to its process group) in the
// middle of its apply, once some of its VMs (the last stage) are written: the cluster is Interrupted
// (partly applied; not Offline, which is a site not reached before anything was written) and the sync
// does not succeed. edge-factory-1, synced in the same wave, completes. The harness cannot restart a
// server, so the test starts the killed one again by hand with the same command line (same port,
// certificates and etcd prefix: the same cluster); the inventory left behind is whole, and the next
// sync, without backoff, converges.
func TestAPIServerKilledMidSync(t *testing.T) {
	const victim = "edge-store-2"
	dir := copyFleet(t)
	addBulkVMs(t, dir, victim, bulkVMs)
	env := testcluster.StartWithCRDs(t, edgeClusters...)
	ctx := context.Background()
	want := desiredIDs(t, dir, victim)

	argv := commandLine(t, apiserver(t, env, victim).Pid)
	pgid := apiserver(t, env, victim).Pid
	watch := clientFor(t, env, victim)
	type kill struct {
		vms int // bulk VMs in the cluster when its server was killed
		err error
	}
	killed := make(chan kill, 1)
	state, err := fleet.OpenState("")
	require.NoError(t, err)
	opts := fleet.Options{Dir: dir, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: edgeOnly, Health: "accepted",
		ConnectTimeout: 3 * time.Second, State: state}
	opts.Progress = func(o fleet.Outcome) {
		logProgress(t)(o)
		if o.Cluster != victim || o.State != clusterstatus.Syncing {
			return
		}
		go func() {
			// Kill the server once the apply has reached the VMs (its last stage) and written some.
			deadline := time.Now().Add(2 * time.Minute)
			for time.Now().Before(deadline) {
				list := &metav1.PartialObjectMetadataList{}
				list.SetGroupVersionKind(vmListGVK)
				if err := watch.List(ctx, list, client.MatchingLabels{"app": "bulk"}); err == nil && len(list.Items) > 0 {
					killed <- kill{vms: len(list.Items), err: syscall.Kill(-pgid, syscall.SIGKILL)}
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			killed <- kill{err: errors.New("no VM appeared")}
		}()
	}
	rep, err := fleet.Sync(ctx, opts)
	require.NoError(t, err)
	var k kill
	select {
	case k = <-killed:
	case <-time.After(time.Minute):
		t.Fatal("the server was never killed")
	}
	require.NoError(t, k.err)
	require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) }, 10*time.Second, 10*time.Millisecond)
	outs := outcomes(rep)
	o := outs[victim]
	t.Logf("killed with %d of %d bulk VMs written; the sync said %s: %s", k.vms, bulkVMs, o.State, o.Message)
	// Lost in the middle of its apply, the cluster is half at the new revision: Interrupted, with the
	// cause, and the sync is not a success (the command exits 1).
	assert.Equal(t, clusterstatus.Interrupted, o.State, o.Message)
	assert.True(t, strings.HasPrefix(o.Message, "interrupted: lost after the writes began, partly applied (the next sync resumes it): "+
		"cluster edge-store-2: "), "names the cause: %s", o.Message)
	assert.Contains(t, o.Message, "objects failed to apply")
	assert.False(t, rep.OK(), "a half-applied cluster fails the sync")
	assert.Equal(t, clusterstatus.Interrupted, opts.State.Get(victim).State, "remembered, without backoff")
	assert.True(t, opts.State.Get(victim).NextRetry.IsZero())
	assert.Equal(t, clusterstatus.Synced, outs["edge-store-1"].State, "the canary, before")
	assert.Equal(t, clusterstatus.Synced, outs["edge-factory-1"].State, "its companion in the wave completes: %s", outs["edge-factory-1"].Message)
	checkConverged(t, env, dir, "edge-factory-1", "r1")
	checkConverged(t, env, dir, "edge-store-1", "r1")

	// The same cluster comes back: what was left behind is whole.
	restartAPIServer(t, env, victim, argv)
	c := clientFor(t, env, victim)
	inv, err := inventory.Read(ctx, c)
	require.NoError(t, err, "the inventory is readable")
	assert.Equal(t, keys(want), inventoryKeys(inv), "the intent inventory lists every desired object once")
	_, bulk := vmCount(t, c)
	t.Logf("%d of %d bulk VMs were written before the kill", bulk, bulkVMs)
	assert.Less(t, bulk, bulkVMs, "killed in the middle of the apply, not after it")
	s, found, err := clusterstatus.Read(ctx, c)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, clusterstatus.Syncing, s.State, "the status says the sync did not finish")

	// The next sync converges (no RetryOffline: an interrupted cluster is not in backoff).
	opts.Progress = logProgress(t)
	rep, err = fleet.Sync(ctx, opts)
	require.NoError(t, err)
	outs = outcomes(rep)
	assert.Equal(t, clusterstatus.Synced, outs[victim].State, outs[victim].Message)
	assert.Equal(t, clusterstatus.InSync, outs["edge-store-1"].State)
	assert.Equal(t, clusterstatus.InSync, outs["edge-factory-1"].State)
	checkConverged(t, env, dir, victim, "r1")

	rep, err = fleet.Sync(ctx, opts)
	require.NoError(t, err)
	assert.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.InSync, "edge-store-2": clusterstatus.InSync, "edge-factory-1": clusterstatus.InSync}, states(rep))
}

// syncChildEnv makes TestSyncChild, run in a child process (a copy of this test binary) by
// TestSyncProcessKilledMidApply, sync a cluster; its value is a JSON syncChildSpec.
const syncChildEnv = "VMO_FLEET_SYNC_CHILD"

type syncChildSpec struct {
	Dir, Kubeconfig, Revision string
	Selector                  map[string]string
}

// TestSyncChild does nothing unless run by TestSyncProcessKilledMidApply, which kills it.
func TestSyncChild(t *testing.T) {
	raw := os.Getenv(syncChildEnv)
	if raw == "" {
		t.Skip("run by TestSyncProcessKilledMidApply in a child process")
	}
	var spec syncChildSpec
	require.NoError(t, json.Unmarshal([]byte(raw), &spec))
	rep, err := fleet.Sync(context.Background(), fleet.Options{Dir: spec.Dir, Revision: spec.Revision, Kubeconfig: spec.Kubeconfig,
		Selector: spec.Selector, Health: "accepted", Prune: true, ConnectTimeout: 5 * time.Second})
	require.NoError(t, err)
	for _, o := range rep.Outcomes {
		fmt.Printf("CHILD-DONE %s %s %s\n", o.Cluster, o.State, o.Message)
	}
}

// syncBuffer is a buffer written by a child process's output copier and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSyncProcessKilledMidApply: the sync process is killed with SIGKILL in the middle of an apply
// (some of the cluster's VMs written, others not). A new sync converges: every desired object exists,
// the inventory lists each exactly once, nothing in git was pruned, nothing is duplicated.
func TestSyncProcessKilledMidApply(t *testing.T) {
	const cluster = "edge-store-2"
	dir := copyFleet(t)
	addBulkVMs(t, dir, cluster, bulkVMs)
	env := testcluster.StartWithCRDs(t, cluster)
	ctx := context.Background()
	only := map[string]string{"site": "store-0871"} // edge-store-2
	c := clientFor(t, env, cluster)

	spec, err := json.Marshal(syncChildSpec{Dir: dir, Kubeconfig: env.Kubeconfig, Revision: "r1", Selector: only})
	require.NoError(t, err)
	cmdCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, os.Args[0], "-test.run=^TestSyncChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), syncChildEnv+"="+string(spec))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Kill it once some of the bulk VMs (the last stage) are in the cluster.
	var atKill int
	deadline := time.Now().Add(2 * time.Minute)
wait:
	for {
		select {
		case err := <-exited:
			t.Fatalf("the sync ended (%v) before it could be killed; its output:\n%s", err, out.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "no VM appeared; the child's output:\n%s", out.String())
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(vmListGVK)
		if err := c.List(ctx, list, client.MatchingLabels{"app": "bulk"}); err == nil && len(list.Items) > 0 {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			atKill = len(list.Items)
			break wait
		}
		time.Sleep(2 * time.Millisecond)
	}
	err = <-exited
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "output:\n%s", out.String())
	ws, _ := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the child was killed: %v", err)
	assert.NotContains(t, out.String(), "CHILD-DONE", "the child did not finish its sync")

	_, bulk := vmCount(t, c)
	t.Logf("killed with %d bulk VMs seen, %d of %d in the cluster afterwards", atKill, bulk, bulkVMs)
	require.Less(t, bulk, bulkVMs, "killed in the middle of the apply: some VMs not written yet")
	want := desiredIDs(t, dir, cluster)
	inv, err := readInventory(t, env, cluster)
	require.NoError(t, err)
	assert.Equal(t, keys(want), inventoryKeys(inv), "the intent inventory of the killed sync lists every object once")

	// A new sync (with prune on) converges.
	rep, err := fleet.Sync(ctx, fleet.Options{Dir: dir, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: only,
		Health: "accepted", Prune: true, ConnectTimeout: 5 * time.Second, Progress: logProgress(t)})
	require.NoError(t, err)
	o := outcomes(rep)[cluster]
	assert.Equal(t, clusterstatus.Synced, o.State, o.Message)
	assert.NotContains(t, o.Message, "pruned", "nothing that is in git is pruned")
	checkConverged(t, env, dir, cluster, "r1")

	rep, err = fleet.Sync(ctx, fleet.Options{Dir: dir, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: only,
		Health: "accepted", Prune: true, ConnectTimeout: 5 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, clusterstatus.InSync, outcomes(rep)[cluster].State, outcomes(rep)[cluster].Message)
}

// TestNewAndRevertedCommit: a commit changes one VM of the canary; the sync applies that VM only. The
// commit reverted, the next sync applies it back.
func TestNewAndRevertedCommit(t *testing.T) {
	dir := copyFleet(t)
	env := testcluster.StartWithCRDs(t, edgeClusters...)
	ctx := context.Background()
	opts := fleet.Options{Dir: dir, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: edgeOnly, Health: "accepted",
		ConnectTimeout: 3 * time.Second, Progress: logProgress(t)}
	rep, err := fleet.Sync(ctx, opts)
	require.NoError(t, err)
	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Synced, "edge-store-2": clusterstatus.Synced, "edge-factory-1": clusterstatus.Synced}, states(rep))
	before, err := readInventory(t, env, "edge-store-1")
	require.NoError(t, err)

	vmFile := filepath.Join(dir, "clusters", "edge-store-1", "vms", "pos.yaml")
	step := func(rev, from, to string) *inventory.Inventory {
		t.Helper()
		edit(t, vmFile, "guest: "+from, "guest: "+to)
		opts.Revision = rev
		rep, err := fleet.Sync(ctx, opts)
		require.NoError(t, err)
		outs := outcomes(rep)
		o := outs["edge-store-1"]
		assert.Equal(t, clusterstatus.Synced, o.State, o.Message)
		assert.True(t, o.Changed)
		assert.True(t, strings.HasPrefix(o.Message, "1 applied, 0 corrected, 0 drifted,"), "only the changed VM is applied: %s", o.Message)
		for _, n := range []string{"edge-store-2", "edge-factory-1"} {
			assert.Equal(t, clusterstatus.InSync, outs[n].State, "%s: untouched by the commit", n)
		}
		vm := &unstructured.Unstructured{}
		vm.SetAPIVersion("kubevirt.io/v1")
		vm.SetKind("VirtualMachine")
		require.NoError(t, clientFor(t, env, "edge-store-1").Get(ctx, client.ObjectKey{Namespace: "vms", Name: "pos-server"}, vm))
		guest, _, _ := unstructured.NestedString(vm.Object, "spec", "template", "spec", "domain", "memory", "guest")
		assert.Equal(t, to, guest, "the VM in the cluster")
		inv, err := readInventory(t, env, "edge-store-1")
		require.NoError(t, err)
		assert.Equal(t, rev, inv.Revision)
		checkConverged(t, env, dir, "edge-store-1", rev)
		return inv
	}
	changedEntries := func(a, b *inventory.Inventory) []string {
		ai := a.Index()
		var out []string
		for _, e := range b.Entries {
			if ai[e.Key()].DesiredHash != e.DesiredHash {
				out = append(out, e.Key())
			}
		}
		return out
	}

	changed := step("r2", "6Gi", "8Gi")
	assert.Equal(t, []string{"kubevirt.io/VirtualMachine/vms/pos-server"}, changedEntries(before, changed))
	reverted := step("r3 (revert of r2)", "8Gi", "6Gi")
	assert.Empty(t, changedEntries(before, reverted), "back to what r1 applied")
	assert.Equal(t, inventoryKeys(before), inventoryKeys(reverted))
}
