package controller_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/controller"
)

// leads reports whether a replica holds the Lease, by its own leader election metric.
func (p *proc) leads(t *testing.T) bool {
	v, _ := p.metric(t, "leader_election_master_status", map[string]string{"name": controller.LeaderElectionID("")})
	return v == 1
}

// writes counts the replica's writing requests to the API server (client-go's own metric).
func (p *proc) writes(t *testing.T) float64 {
	n := 0.0
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		v, _ := p.metric(t, "rest_client_requests_total", map[string]string{"method": m})
		n += v
	}
	return n
}

// TestLeaderElection: two replicas with --leader-elect. Only the leader reconciles and writes; when
// it is killed (SIGKILL: no release of the Lease), the other takes over once the Lease expires and
// applies the next commit, announced to it by the webhook while it did not lead yet (it passes the
// request on through the reconcile.fluxcd.io/requestedAt annotation).
func TestLeaderElection(t *testing.T) {
	const lease = 4 * time.Second
	env := startClusters(t, "edge-store-1")
	mgmt := clientOf(t, env.Cluster("mgmt").Config())
	setup(t, env, mgmt, "edge-store-1")
	r := newRepo(t, "edge-store-1")
	rev1 := "main@sha1:" + r.commit("The canary store")
	args := []string{"--leader-elect", "--leader-election-lease-duration", lease.String(), "--leader-election-renew-deadline", "3s",
		"--leader-election-retry-period", "500ms"}
	replicas := []*proc{startController(t, env, args...), startController(t, env, args...)}

	var leader, follower *proc
	require.Eventually(t, func() bool {
		a, b := replicas[0].leads(t), replicas[1].leads(t)
		switch {
		case a && !b:
			leader, follower = replicas[0], replicas[1]
		case b && !a:
			leader, follower = replicas[1], replicas[0]
		}
		return a != b
	}, 30*time.Second, 100*time.Millisecond, "one replica leads")

	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(t, mgmt.Create(t.Context(), &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec: fleetv1.FleetSpec{
			Source:   fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}, SecretRef: &fleetv1.LocalObjectReference{Name: gitSecret}},
			Interval: &hour,
		},
	}))
	waitFleet(t, mgmt, time.Minute, "Ready=True at "+rev1, func(f *fleetv1.Fleet) bool {
		return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev1
	})
	reconciles := func(p *proc) float64 {
		v, _ := p.metric(t, "controller_runtime_reconcile_total", map[string]string{"controller": "fleet"})
		return v
	}
	// A pass is counted when Reconcile returns, after its status write that waitFleet saw.
	require.Eventually(t, func() bool { return reconciles(leader)+reconciles(follower) > 0 }, 10*time.Second, 50*time.Millisecond,
		"the pass is counted")
	if reconciles(leader) == 0 && reconciles(follower) > 0 {
		// The lease changed hands before the Fleet's first pass (a renewal missed under load): the
		// replica that acted is the leader; the other must still have done nothing.
		leader, follower = follower, leader
	}
	assert.Positive(t, reconciles(leader))
	assert.Zero(t, reconciles(follower), "the follower reconciles nothing")
	assert.Positive(t, leader.writes(t))
	assert.Zero(t, follower.writes(t), "the follower writes nothing")

	killed := time.Now()
	leader.kill(t)
	rev2 := "main@sha1:" + r.commit("An empty commit: a new revision")
	body := pushPayload("refs/heads/main")
	code, answer := follower.hook(t, fmt.Sprintf("/hook/%s/%s", namespace, fleetName), body,
		map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(webhookToken, body)})
	require.Equal(t, http.StatusAccepted, code, answer)

	require.Eventually(t, func() bool { return follower.leads(t) }, lease+5*time.Second, 100*time.Millisecond,
		"the follower takes over within the lease duration (and its retry period)")
	t.Logf("takeover %s after the leader was killed (lease %s)", time.Since(killed).Round(100*time.Millisecond), lease)
	f := waitFleet(t, mgmt, time.Minute, "Ready=True at "+rev2, func(f *fleetv1.Fleet) bool {
		return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev2
	})
	t.Logf("killed to converged: %s", time.Since(killed).Round(100*time.Millisecond))
	requested, ok := meta.ReconcileAnnotationValue(f.GetAnnotations())
	assert.True(t, ok, "the webhook, received while not leading, asked through the annotation")
	assert.Equal(t, requested, f.Status.LastHandledReconcileAt)
	assert.Positive(t, reconciles(follower))
}
