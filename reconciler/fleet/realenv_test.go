package fleet_test

// Helpers for the tests against real API servers (internal/testcluster): copies of the example
// fleet to edit, and what a fault needs — stopping, freezing and restarting one cluster's server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

func init() {
	// controller-runtime complains on stderr when its logger is never set.
	ctrllog.SetLogger(logr.Discard())
}

// exampleFleet is the example fleet of the project; tests that change it work on a copy.
const exampleFleet = "../../fleet"

// edgeOnly targets the three edge clusters: canary edge-store-1, then edge-store-2 and edge-factory-1.
var edgeOnly = map[string]string{"tier": "edge"}

var edgeClusters = []string{"edge-store-1", "edge-store-2", "edge-factory-1"}

// copyFleet copies the example fleet to a temporary folder and returns its path.
func copyFleet(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "fleet")
	require.NoError(t, testfleet.CopyDir(exampleFleet, dst))
	return dst
}

// edit replaces old by new in a file of a fleet copy; old must occur exactly once.
func edit(t testing.TB, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 1, bytes.Count(data, []byte(old)), "%q in %s", old, path)
	require.NoError(t, os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644))
}

// addBulkVMs writes n small VirtualMachines (halted, pod network only) into a cluster of a fleet
// copy: more objects make an apply last long enough to be interrupted in the middle.
func addBulkVMs(t testing.TB, dir, cluster string, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: bulk-%03d
  labels:
    app: bulk
spec:
  runStrategy: Halted
  template:
    spec:
      domain:
        memory:
          guest: 1Gi
        devices:
          interfaces:
            - name: default
              masquerade: {}
      networks:
        - name: default
          pod: {}
`, i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", cluster, "vms", "bulk.yaml"), []byte(b.String()), 0o644))
}

// desiredIDs returns a cluster's desired objects, sorted by key.
func desiredIDs(t testing.TB, dir, cluster string) []inventory.ID {
	t.Helper()
	res, err := desired.Load(dir, desired.Options{})
	require.NoError(t, err)
	vc := res.Cluster(cluster)
	require.NotNil(t, vc, cluster)
	d, err := desired.Render(vc)
	require.NoError(t, err)
	objs := d.Objects
	var ids []inventory.ID
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		ids = append(ids, inventory.ID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()})
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Key() < ids[j].Key() })
	return ids
}

func keys(ids []inventory.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Key()
	}
	return out
}

// inventoryKeys returns the keys of an inventory's entries, sorted (duplicates kept, to be seen).
func inventoryKeys(inv *inventory.Inventory) []string {
	var keys []string
	for _, e := range inv.Entries {
		keys = append(keys, e.Key())
	}
	sort.Strings(keys)
	return keys
}

// readInventory reads a cluster's inventory (inventory.ErrNotFound if there is none).
func readInventory(t testing.TB, env *testcluster.Env, cluster string) (*inventory.Inventory, error) {
	t.Helper()
	return inventory.Read(context.Background(), clientFor(t, env, cluster))
}

// clientFor is a client of one cluster (connect, for benchmarks too).
func clientFor(t testing.TB, env *testcluster.Env, cluster string) client.Client {
	t.Helper()
	rc, err := reconciler.Connect(env.Cluster(cluster).Config())
	require.NoError(t, err)
	return rc.Client
}

// exists reports whether the object is in the cluster.
func exists(t testing.TB, c client.Client, id inventory.ID) bool {
	t.Helper()
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(schema.GroupVersionKind{Group: id.Group, Version: id.Version, Kind: id.Kind})
	err := c.Get(context.Background(), client.ObjectKey{Namespace: id.Namespace, Name: id.Name}, obj)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return false
	}
	require.NoError(t, err, id.String())
	return true
}

// apiserver returns the process of a cluster's kube-apiserver.
func apiserver(t testing.TB, env *testcluster.Env, cluster string) testcluster.ProcessInfo {
	t.Helper()
	for _, p := range env.Processes() {
		if p.Name == "kube-apiserver/"+cluster {
			return p
		}
	}
	t.Fatalf("no kube-apiserver for %s", cluster)
	return testcluster.ProcessInfo{}
}

// killAPIServer kills a cluster's kube-apiserver (its whole process group, SIGKILL) and waits until
// it is gone. It returns the server's command line, to start it again (restartAPIServer).
func killAPIServer(t testing.TB, env *testcluster.Env, cluster string) []string {
	t.Helper()
	p := apiserver(t, env, cluster)
	argv := commandLine(t, p.Pid)
	require.NoError(t, syscall.Kill(-p.Pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-p.Pid, 0), syscall.ESRCH) },
		10*time.Second, 10*time.Millisecond, "process group %d of %s still alive", p.Pid, p.Name)
	return argv
}

func commandLine(t testing.TB, pid int) []string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	require.NoError(t, err)
	argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	require.NoError(t, err)
	argv[0] = exe
	return argv
}

// restartAPIServer starts a killed cluster's kube-apiserver again with the same command line: same
// port, certificates, token and etcd prefix, so the cluster's objects and the kubeconfig are the
// same as before. (The harness has no restart; this is its start, redone by hand.) The process is
// stopped when the test ends.
func restartAPIServer(t testing.TB, env *testcluster.Env, cluster string, argv []string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "kube-apiserver-"+cluster+".log"))
	require.NoError(t, err)
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	cfg := env.Cluster(cluster).Config()
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	hc.Timeout = 2 * time.Second
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-done:
			t.Fatalf("restarted kube-apiserver of %s exited; its log is %s", cluster, logFile.Name())
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, cfg.Host+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "restarted kube-apiserver of %s not ready", cluster)
		time.Sleep(100 * time.Millisecond)
	}
}

// freezeAPIServer stops a cluster's kube-apiserver with SIGSTOP: the kernel still accepts TCP
// connections on its port, but nothing answers — an edge site behind a dead link, where only the
// connection timeout ends the wait. It is thawed (SIGCONT) when the test ends.
func freezeAPIServer(t testing.TB, env *testcluster.Env, cluster string) {
	t.Helper()
	p := apiserver(t, env, cluster)
	require.NoError(t, syscall.Kill(-p.Pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(-p.Pid, syscall.SIGCONT) })
}

func outcomes(r *fleet.Report) map[string]fleet.Outcome {
	out := map[string]fleet.Outcome{}
	for _, o := range r.Outcomes {
		out[o.Cluster] = o
	}
	return out
}

func logProgress(t testing.TB) func(fleet.Outcome) {
	return func(o fleet.Outcome) {
		t.Logf("%-15s %-8s %-8s %6s %s", o.Cluster, o.Wave, o.State, o.Took.Round(time.Millisecond), o.Message)
	}
}
