package controller_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// runaway is a cluster whose CUE never finishes evaluating: a list of 10^8 numbers built one by one.
const runaway = `package fleet

import "list"

cluster: {name: "runaway", kind: "edge", labels: {tier: "edge"}}
_x: [for i in list.Range(0, 1e8, 1) {i}]
`

var workerEndedRE = regexp.MustCompile(`"msg":"evaluation worker ended".*?"pid":(\d+)`)

// TestEvalWorkerEndsARunawayEvaluation: a commit with a cluster whose CUE runs away. The controller
// evaluates it in a worker process with a 2 s budget: that cluster is Failed (rule eval-budget, at its
// file), the other cluster syncs, the worker process is gone after the pass (nothing the controller
// started is left), and the controller goes on reconciling the next commit.
func TestEvalWorkerEndsARunawayEvaluation(t *testing.T) {
	const target = "edge-store-1"
	env := startClusters(t, target)
	mgmt := clientOf(t, env.Cluster("mgmt").Config())
	setup(t, env, mgmt, target)
	r := newRepo(t, target)
	require.NoError(t, os.MkdirAll(filepath.Join(r.dir, "clusters", "runaway"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(r.dir, "clusters", "runaway", "cluster.cue"), []byte(runaway), 0o644))
	rev1 := "main@sha1:" + r.commit("A cluster whose CUE runs away")
	ctl := startController(t, env, "--eval-timeout", "2s")
	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(t, mgmt.Create(t.Context(), &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec: fleetv1.FleetSpec{
			Source:          fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}, SecretRef: &fleetv1.LocalObjectReference{Name: gitSecret}},
			ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}},
			Interval:        &hour,
		},
	}))

	f := waitFleet(t, mgmt, 2*time.Minute, "the pass at "+rev1+" ends", func(f *fleetv1.Fleet) bool {
		return f.Status.LastAttemptedRevision == rev1 && f.Status.Clusters.Total == 2 && !conditions.Has(f, meta.ReconcilingCondition)
	})
	assert.Equal(t, fleetv1.ClusterCounts{Total: 2, InSync: 1, Failed: 1}, f.Status.Clusters)
	assert.Equal(t, "ValidationFailed", conditions.GetReason(f, meta.ReadyCondition))
	fcs := fleetClusters(t, mgmt)
	assert.Equal(t, fleetv1.StateInSync, fcs[target].Status.State, fcs[target].Status.Message)
	assert.Equal(t, rev1, fcs[target].Status.Revision)
	bad := fcs["runaway"].Status
	assert.Equal(t, fleetv1.StateFailed, bad.State)
	assert.Regexp(t, `^revision `+regexp.QuoteMeta(rev1)+` does not validate for this cluster, nothing applied: `+
		`clusters/runaway/cluster\.cue: evaluation of cluster runaway stopped: it ran past the time budget of 2s \(raise it with --eval-timeout\) \(rule eval-budget\)$`,
		bad.Message)

	// The worker is gone, and the controller has no child left.
	var pid int
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(ctl.log)
		require.NoError(t, err)
		m := workerEndedRE.FindSubmatch(data)
		if m == nil {
			return false
		}
		pid, _ = strconv.Atoi(string(m[1]))
		return true
	}, 30*time.Second, 100*time.Millisecond, "the controller logs the worker's end")
	assert.True(t, errors.Is(syscall.Kill(pid, 0), syscall.ESRCH), "the worker (pid %d) is gone", pid)
	assert.Empty(t, children(t, ctl.cmd.Process.Pid), "processes left by the controller")

	t.Run("the controller goes on with the next commit", func(t *testing.T) {
		require.NoError(t, os.RemoveAll(filepath.Join(r.dir, "clusters", "runaway")))
		rev2 := "main@sha1:" + r.commit("Without the runaway cluster")
		body := pushPayload("refs/heads/main")
		code, answer := ctl.hook(t, fmt.Sprintf("/hook/%s/%s", namespace, fleetName), body,
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(webhookToken, body)})
		require.Equal(t, http.StatusAccepted, code, answer)
		f := waitFleet(t, mgmt, time.Minute, "Ready=True at "+rev2, func(f *fleetv1.Fleet) bool {
			return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev2
		})
		assert.Equal(t, fleetv1.ClusterCounts{Total: 1, InSync: 1}, f.Status.Clusters)
		require.Eventually(t, func() bool { return len(workerEndedRE.FindAll(readFile(t, ctl.log), -1)) >= 2 },
			30*time.Second, 100*time.Millisecond, "a second worker ended")
		assert.Empty(t, children(t, ctl.cmd.Process.Pid), "processes left by the controller")
		select {
		case <-ctl.done:
			t.Fatal("the controller exited")
		default:
		}
	})
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// children lists the processes whose parent is pid, as "pid command".
func children(t testing.TB, pid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, e.Name()+" "+s[strings.IndexByte(s, '(')+1:strings.LastIndexByte(s, ')')])
		}
	}
	return out
}
