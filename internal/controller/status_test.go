package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/source"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// TestTruncate: a long list of errors is cut between two of them, under the API's 32 KiB limit,
// saying how many were left out.
func TestTruncate(t *testing.T) {
	assert.Equal(t, "prefix: a; b", truncate("prefix: ", "a; b"))
	var errs []string
	for i := range 2000 {
		errs = append(errs, fmt.Sprintf("./clusters/c/vms.yaml:%d:3: vms.vm-%d: a long message about what is wrong", i+1, i))
	}
	got := truncate("revision r does not validate: ", strings.Join(errs, "; "))
	assert.LessOrEqual(t, len(got), 32*1024)
	assert.True(t, strings.HasPrefix(got, "revision r does not validate: ./clusters/c/vms.yaml:1:3: "))
	kept := strings.Count(got, "vms.yaml:")
	assert.True(t, strings.HasSuffix(got, fmt.Sprintf("a long message about what is wrong; ... (%d more, message truncated)", 2000-kept)), got[len(got)-120:])

	long := strings.Repeat("é", 20000) // 40,000 bytes
	got = truncate(long, "")
	assert.LessOrEqual(t, len(got), 32*1024)
	assert.True(t, strings.HasSuffix(got, "é... (message truncated)"))
}

func TestFormatDiags(t *testing.T) {
	l := diag.List{
		{Rule: "schema", Path: "fleet.rollout.maxConcurrent", Message: "conflicting values 4 and \"four\"",
			Positions: []diag.Position{{File: "fleet.cue", Line: 26, Col: 17}, {File: "fleet.cue", Line: 3, Col: 1}}},
		{Message: "no file"},
	}
	assert.Equal(t, `fleet.cue:26:17, fleet.cue:3:1: fleet.rollout.maxConcurrent: conflicting values 4 and "four" (rule schema); no file`, formatDiags(l))
}

func TestRevisionOf(t *testing.T) {
	const c = "0123456789abcdef0123456789abcdef01234567"
	for ref, want := range map[string]string{
		"refs/heads/main":   "main@sha1:" + c,
		"refs/heads/team/a": "team/a@sha1:" + c,
		"refs/tags/v1.2.0":  "v1.2.0@sha1:" + c,
		c:                   "sha1:" + c,
		"refs/pull/1/head":  "refs/pull/1/head@sha1:" + c,
	} {
		assert.Equal(t, want, revisionOf(&source.Revision{Ref: ref, Commit: c}), ref)
	}
}

func TestFleetClusterName(t *testing.T) {
	assert.Equal(t, "edge.edge-store-1", fleetClusterName("edge", "edge-store-1"))
	for _, tc := range [][2]string{{"edge", "Not_A_Label"}, {strings.Repeat("f", 250), "edge-store-1"}} {
		name := fleetClusterName(tc[0], tc[1])
		assert.Empty(t, validation.IsDNS1123Subdomain(name), name)
		assert.NotEqual(t, name, fleetClusterName(tc[0], tc[1]+"x"), "distinct clusters, distinct names")
	}
}

// TestReadiness: the Fleet's Ready condition from a pass's outcomes.
func TestReadiness(t *testing.T) {
	const rev = "main@sha1:abc"
	for _, tc := range []struct {
		name     string
		outcomes []fleet.Outcome
		ready    bool
		reason   string
		msg      string
	}{
		{"all in sync", []fleet.Outcome{{Cluster: "a", State: clusterstatus.InSync}, {Cluster: "b", State: clusterstatus.Synced}}, true,
			"ReconciliationSucceeded", "Applied revision main@sha1:abc to 2 of 2 clusters"},
		{"one offline", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Offline}, {Cluster: "b", State: clusterstatus.Synced}}, true,
			"ReconciliationSucceeded", "Applied revision main@sha1:abc to 1 of 2 clusters; 1 offline (a)"},
		{"every one offline", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Offline}}, false,
			"ClusterOffline", "revision main@sha1:abc: 0 of 1 cluster in sync; 1 offline (a)"},
		{"one failed, the next wave held", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Failed, Message: "refused"}, {Cluster: "b", State: clusterstatus.Held}}, false,
			"SyncFailed", "revision main@sha1:abc: 0 of 2 clusters in sync; 1 failed (a); 1 held (b): a: refused"},
		{"one invalid", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Invalid, Message: "2 errors"}, {Cluster: "b", State: clusterstatus.InSync}}, false,
			"ValidationFailed", "revision main@sha1:abc: 1 of 2 clusters in sync; 1 invalid (a): a: 2 errors"},
		{"drift reported", []fleet.Outcome{{Cluster: "a", State: clusterstatus.Drifted}}, false,
			"DriftDetected", "revision main@sha1:abc: 0 of 1 cluster in sync; 1 drifted (a)"},
		{"no cluster selected", nil, true, "ReconciliationSucceeded", "Applied revision main@sha1:abc to 0 of 0 clusters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready, reason, msg := readiness(&fleet.Report{Outcomes: tc.outcomes}, rev)
			assert.Equal(t, tc.ready, ready)
			assert.Equal(t, tc.reason, reason)
			assert.Equal(t, tc.msg, msg)
		})
	}
}

func TestRecordTimeout(t *testing.T) {
	for _, tc := range []struct {
		clusters int
		qps      float32
		want     time.Duration
	}{
		{clusters: 2, qps: 50, want: 30*time.Second + 120*time.Millisecond},
		{clusters: 1010, qps: 50, want: 30*time.Second + 60600*time.Millisecond},
		{clusters: 1010, qps: 200, want: 30*time.Second + 15150*time.Millisecond},
		{clusters: 1010, qps: 0, want: 30 * time.Second},  // no client-side limit
		{clusters: 1010, qps: -1, want: 30 * time.Second}, // client-go: limiter off
	} {
		assert.Equal(t, tc.want, recordTimeout(tc.clusters, tc.qps), "%d clusters at %v qps", tc.clusters, tc.qps)
	}
}

func TestRecordPastTheDeadlineSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f := &fleetv1.Fleet{ObjectMeta: metav1.ObjectMeta{Namespace: "fleets", Name: "edge"}}
	rep := &fleet.Report{Outcomes: []fleet.Outcome{{Cluster: "a"}, {Cluster: "b"}, {Cluster: "c"}}}
	_, counts, err := (&FleetReconciler{}).recordClusters(ctx, f, map[string]*fleetv1.FleetCluster{}, rep, "main@sha1:1", newPass(nil))
	require.EqualError(t, err, "3 FleetClusters of Fleet fleets/edge not recorded: context canceled")
	assert.Zero(t, counts.Total)
}
