package controller_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// BenchmarkCommitToApplied: a commit announced to the webhook, until the Fleet is Ready at it — every
// cluster synced in the rollout (the canary, then the others) and the status recorded. Three real
// clusters (the example fleet's edge sites), the rollout's health "accepted", an interval of an hour
// (only the webhook brings the commit). Each commit changes one VM of one cluster; the others sync with
// nothing to do. It prints the median and the slowest, and the controller's memory (VmHWM).
func BenchmarkCommitToApplied(b *testing.B) {
	clusters := []string{"edge-store-1", "edge-store-2", "edge-factory-1"}
	env := startClusters(b, clusters...)
	mgmt := clientOf(b, env.Cluster("mgmt").Config())
	setup(b, env, mgmt, clusters...)
	r := newRepo(b, clusters...)
	rev := "main@sha1:" + r.commit("The edge sites")
	ctl := startController(b, env)
	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(b, mgmt.Create(b.Context(), &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec: fleetv1.FleetSpec{
			Source:   fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}, SecretRef: &fleetv1.LocalObjectReference{Name: gitSecret}},
			Interval: &hour,
		},
	}))
	ready := func(rev string) { // polled every 10 ms: the figure is the controller's, not the poll's
		f := &fleetv1.Fleet{}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			require.True(b, time.Now().Before(deadline), "Ready at %s within a minute; last status %+v", rev, f.Status)
			require.NoError(b, mgmt.Get(b.Context(), client.ObjectKey{Namespace: namespace, Name: fleetName}, f))
			if conditions.IsReady(f) && f.Status.LastAppliedRevision == rev && f.Status.Clusters.InSync == int32(len(clusters)) {
				return
			}
		}
	}
	ready(rev)

	var took []time.Duration
	memory := "6Gi"
	for i := 0; b.Loop(); i++ {
		next := fmt.Sprintf("%dMi", 6144+i+1)
		r.edit("clusters/edge-store-2/vms/store.yaml", "guest: "+memory, "guest: "+next)
		memory = next
		rev := "main@sha1:" + r.commit("POS server: "+next)
		body := pushPayload("refs/heads/main")
		start := time.Now()
		code, answer := ctl.hook(b, fmt.Sprintf("/hook/%s/%s", namespace, fleetName), body,
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(webhookToken, body)})
		require.Equal(b, http.StatusAccepted, code, answer)
		ready(rev)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	median, slowest := took[len(took)/2], took[len(took)-1]
	b.ReportMetric(median.Seconds(), "median_s")
	b.ReportMetric(slowest.Seconds(), "slowest_s")
	hwm := procStatus(b, ctl.cmd.Process.Pid, "VmHWM")
	b.ReportMetric(float64(hwm)/1024, "controller_rss_peak_MiB")
	b.Logf("commit to applied on %d clusters through the webhook: median %s, slowest %s over %d commits; controller RSS peak %d MiB",
		len(clusters), median.Round(time.Millisecond), slowest.Round(time.Millisecond), len(took), hwm/1024)
}

// procStatus reads a field of /proc/<pid>/status in kB.
func procStatus(b testing.TB, pid int, field string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			require.NoError(b, err)
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
