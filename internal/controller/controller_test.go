package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

const fleetName = "edge"

var targets = []string{"edge-store-1", "edge-store-2"}

// vm reads a VirtualMachine of a target cluster (nil if absent).
func vm(t testing.TB, c client.Client, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"})
	err := c.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return u
}

func guestMemory(t testing.TB, c client.Client, name string) string {
	t.Helper()
	u := vm(t, c, name)
	require.NotNil(t, u, "VirtualMachine vms/%s", name)
	s, _, _ := unstructured.NestedString(u.Object, "spec", "template", "spec", "domain", "memory", "guest")
	return s
}

func getFleet(t testing.TB, c client.Client) *fleetv1.Fleet {
	t.Helper()
	f := &fleetv1.Fleet{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: fleetName}, f))
	return f
}

func fleetClusters(t testing.TB, c client.Client) map[string]fleetv1.FleetCluster {
	t.Helper()
	var list fleetv1.FleetClusterList
	require.NoError(t, c.List(context.Background(), &list, client.InNamespace(namespace)))
	out := map[string]fleetv1.FleetCluster{}
	for _, fc := range list.Items {
		out[fc.Spec.Cluster] = fc
	}
	return out
}

// waitFleet waits until the Fleet's status satisfies ok (for the last observation's sake, ok may
// record what it saw).
func waitFleet(t testing.TB, c client.Client, timeout time.Duration, what string, ok func(f *fleetv1.Fleet) bool) *fleetv1.Fleet {
	t.Helper()
	var last *fleetv1.Fleet
	require.Eventually(t, func() bool {
		last = &fleetv1.Fleet{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: fleetName}, last); err != nil {
			return false
		}
		return ok(last)
	}, timeout, 200*time.Millisecond, "%s; last status: %+v", what, statusOf(last))
	return last
}

func statusOf(f *fleetv1.Fleet) any {
	if f == nil {
		return nil
	}
	return f.Status
}

// TestFleetController runs `vmo-cue controller` as a process against a real management API server
// and two real target clusters, with a Fleet on a local git repository and an interval of an hour:
// every change below is brought by the Fleet's creation, the webhook, or (for drift) an interval made
// short on purpose.
func TestFleetController(t *testing.T) {
	env := startClusters(t, targets...)
	mgmt := clientOf(t, env.Cluster("mgmt").Config())
	store1, store2 := clientOf(t, env.Cluster("edge-store-1").Config()), clientOf(t, env.Cluster("edge-store-2").Config())
	setup(t, env, mgmt, targets...)
	r := newRepo(t, targets...)
	c1 := r.commit("The edge stores")
	ctl := startController(t, env)
	ctx := t.Context()

	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(t, mgmt.Create(ctx, &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec: fleetv1.FleetSpec{
			Source: fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}, SecretRef: &fleetv1.LocalObjectReference{Name: gitSecret}},
			// Both edge stores; edge-store-2's kubeconfig has both contexts, the other's current.
			ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}},
			Interval:        &hour,
		},
	}))
	rev1 := "main@sha1:" + c1

	t.Run("syncs both clusters and reports Ready with the revision", func(t *testing.T) {
		f := waitFleet(t, mgmt, 2*time.Minute, "Ready=True at "+rev1, func(f *fleetv1.Fleet) bool {
			return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev1
		})
		assert.Equal(t, f.Generation, f.Status.ObservedGeneration)
		assert.Equal(t, rev1, f.Status.LastAttemptedRevision)
		assert.Equal(t, fleetv1.ClusterCounts{Total: 2, InSync: 2}, f.Status.Clusters)
		assert.Equal(t, "Applied revision "+rev1+" to 2 of 2 clusters", conditions.GetMessage(f, meta.ReadyCondition))
		assert.False(t, conditions.Has(f, meta.ReconcilingCondition))
		assert.Contains(t, f.Finalizers, fleetv1.FleetFinalizer)

		fcs := fleetClusters(t, mgmt)
		require.Len(t, fcs, 2)
		for _, name := range targets {
			fc := fcs[name]
			assert.Equal(t, fleetName+"."+name, fc.Name)
			assert.Equal(t, fleetv1.StateInSync, fc.Status.State, fc.Status.Message)
			assert.Equal(t, rev1, fc.Status.Revision)
			assert.Equal(t, rev1, fc.Spec.ReleasedRevision)
			assert.NotNil(t, fc.Status.LastSyncTime)
			assert.NotNil(t, fc.Status.LastSeenTime)
			assert.True(t, metav1.IsControlledBy(&fc, f), "FleetCluster %s is owned by its Fleet", fc.Name)
			assert.True(t, conditions.IsReady(&fc))
		}
		assert.Equal(t, "canary", fcs["edge-store-1"].Spec.Wave)
		assert.Equal(t, "edge", fcs["edge-store-2"].Spec.Wave)
		assert.EqualValues(t, 3, fcs["edge-store-1"].Status.VMs, "pos-server, pos-backoffice, cctv-nvr")
		assert.EqualValues(t, 2, fcs["edge-store-2"].Status.VMs, "pos-server, alarm-bridge")

		// Each cluster got its own objects: edge-store-2 through its declared context, not the
		// kubeconfig's current one (edge-store-1).
		assert.NotNil(t, vm(t, store1, "cctv-nvr"))
		assert.NotNil(t, vm(t, store2, "alarm-bridge"))
		assert.Nil(t, vm(t, store1, "alarm-bridge"), "edge-store-2's VM landed in edge-store-1")
		assert.Nil(t, vm(t, store2, "cctv-nvr"), "edge-store-1's VM landed in edge-store-2")
		assert.Equal(t, "6Gi", guestMemory(t, store2, "pos-server"))

		require.Eventually(t, func() bool {
			return hasEvent(t, mgmt, fleetName, "Normal Synced: cluster edge-store-1: revision "+rev1+" applied") &&
				hasEvent(t, mgmt, fleetName, "Normal Synced: cluster edge-store-2: revision "+rev1+" applied")
		}, 10*time.Second, 100*time.Millisecond, "sync events: %v", events(t, mgmt, fleetName))
	})

	t.Run("vmo-cue status --fleet reads the FleetClusters from the management cluster", func(t *testing.T) {
		kc := filepath.Join(t.TempDir(), "mgmt.kubeconfig")
		require.NoError(t, os.WriteFile(kc, kubeconfig(t, env, "mgmt", "mgmt"), 0o600))
		out, err := exec.Command(vmoCue, "status", "--kubeconfig", kc, "--fleet", namespace+"/"+fleetName, "-o", "json").CombinedOutput()
		require.NoError(t, err, "%s", out)
		var got []struct {
			Cluster, State, Revision string
			VMs                      int
		}
		require.NoError(t, json.Unmarshal(out, &got), "%s", out)
		assert.Equal(t, []struct {
			Cluster, State, Revision string
			VMs                      int
		}{{"edge-store-1", "InSync", rev1, 3}, {"edge-store-2", "InSync", rev1, 2}}, got)

		out, err = exec.Command(vmoCue, "status", "--kubeconfig", kc, "--fleet", namespace+"/nope").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "fleet "+namespace+"/nope: ")
		out, err = exec.Command(vmoCue, "status", "--kubeconfig", kc, "--fleet", "no-slash").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "--fleet no-slash: want NAMESPACE/NAME")
	})

	t.Run("serves probes and metrics", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := ctl.get(t, ctl.probes, path)
			assert.Equal(t, http.StatusOK, code, "%s: %s", path, body)
		}
		fl := map[string]string{"namespace": namespace, "fleet": fleetName}
		for state, want := range map[string]float64{"InSync": 2, "Offline": 0, "Failed": 0, "Drifted": 0, "Syncing": 0, "Pending": 0} {
			v, ok := ctl.metric(t, "vmocue_clusters", map[string]string{"namespace": namespace, "fleet": fleetName, "state": state})
			assert.True(t, ok, "vmocue_clusters{state=%q}", state)
			assert.Equal(t, want, v, "vmocue_clusters{state=%q}", state)
		}
		for _, name := range targets {
			v, ok := ctl.metric(t, "vmocue_drifted_objects", map[string]string{"namespace": namespace, "fleet": fleetName, "cluster": name})
			assert.True(t, ok, "vmocue_drifted_objects{cluster=%q}", name)
			assert.Zero(t, v)
		}
		n, ok := ctl.metric(t, "vmocue_sync_duration_seconds_count", fl)
		assert.True(t, ok)
		assert.GreaterOrEqual(t, n, 1.0)
		n, ok = ctl.metric(t, "gotk_reconcile_duration_seconds_count", map[string]string{"kind": "Fleet", "name": fleetName, "namespace": namespace})
		assert.True(t, ok, "gotk_reconcile_duration_seconds with Flux's labels")
		assert.GreaterOrEqual(t, n, 1.0)
		v, ok := ctl.metric(t, "gotk_reconcile_condition", map[string]string{"kind": "Fleet", "name": fleetName, "type": "Ready", "status": "True"})
		assert.True(t, ok)
		assert.Equal(t, 1.0, v)
		if os.Getenv("GOMEMLIMIT") == "" {
			v, ok = ctl.metric(t, "go_gc_gomemlimit_bytes", nil)
			assert.True(t, ok, "go_gc_gomemlimit_bytes")
			assert.Equal(t, float64(96<<20), v, "the controller's own soft memory limit, --gomemlimit's default")
		}
	})

	path := fmt.Sprintf("/hook/%s/%s", namespace, fleetName)
	var rev2 string
	t.Run("a push announced to the webhook is applied at once; bad signatures are refused", func(t *testing.T) {
		r.edit("clusters/edge-store-2/vms/store.yaml", "guest: 6Gi", "guest: 8Gi")
		rev2 = "main@sha1:" + r.commit("POS server: 8Gi")
		body := pushPayload("refs/heads/main")

		for _, tc := range []struct {
			name    string
			headers map[string]string
			code    int
			answer  string
		}{
			{"no signature", map[string]string{"X-GitHub-Event": "push"}, http.StatusUnauthorized,
				"no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header"},
			{"GitHub, another key", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex("guess", body)},
				http.StatusForbidden, "github signature does not match"},
			{"Gitea, another key", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hmacHex("guess", body)},
				http.StatusForbidden, "gitea signature does not match"},
			{"GitLab, another token", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"},
				http.StatusForbidden, "gitlab signature does not match"},
			{"a Fleet that does not exist", map[string]string{"X-Hub-Signature-256": "sha256=" + hmacHex(webhookToken, body)},
				http.StatusNotFound, "no Fleet fleets/nope served here"},
		} {
			p := path
			if tc.code == http.StatusNotFound {
				p = "/hook/" + namespace + "/nope"
			}
			code, answer := ctl.hook(t, p, body, tc.headers)
			assert.Equal(t, tc.code, code, tc.name)
			assert.Equal(t, tc.answer, answer, tc.name)
		}
		// A push to another branch is not the Fleet's business.
		other := pushPayload("refs/heads/feature")
		code, answer := ctl.hook(t, path, other, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(webhookToken, other)})
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "ignored: Fleet fleets/edge does not follow refs/heads/feature", answer)
		assert.Equal(t, rev1, getFleet(t, mgmt).Status.LastAttemptedRevision, "nothing reconciled on refused or ignored hooks")

		start := time.Now()
		code, answer = ctl.hook(t, path, body, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(webhookToken, body)})
		require.Equal(t, http.StatusAccepted, code, answer)
		assert.Equal(t, "reconciliation of Fleet fleets/edge requested", answer)
		f := waitFleet(t, mgmt, time.Minute, "Ready=True at "+rev2, func(f *fleetv1.Fleet) bool {
			return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev2
		})
		t.Logf("webhook to applied on every cluster: %s", time.Since(start).Round(time.Millisecond))
		assert.Equal(t, "8Gi", guestMemory(t, store2, "pos-server"))
		assert.Equal(t, fleetv1.ClusterCounts{Total: 2, InSync: 2}, f.Status.Clusters)
		for _, fc := range fleetClusters(t, mgmt) {
			assert.Equal(t, rev2, fc.Status.Revision, fc.Name)
		}
	})

	t.Run("a bad commit applies nothing, says where, and keeps the last good revision", func(t *testing.T) {
		r.edit("clusters/edge-store-2/vms/store.yaml", "guest: 8Gi", "guest: 10Gi")
		line := r.lineOf("fleet.cue", "\tmaxConcurrent: 4\n")
		r.edit("fleet.cue", "\tmaxConcurrent: 4\n", "\tmaxConcurrent: \"four\"\n")
		rev3 := "main@sha1:" + r.commit("A typo in the rollout, and a VM change that must not be applied")
		body := pushPayload("refs/heads/main")
		code, answer := ctl.hook(t, path, body, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hmacHex(webhookToken, body)})
		require.Equal(t, http.StatusAccepted, code, answer)

		f := waitFleet(t, mgmt, time.Minute, "Ready=False at "+rev3, func(f *fleetv1.Fleet) bool {
			return f.Status.LastAttemptedRevision == rev3 && conditions.IsFalse(f, meta.ReadyCondition)
		})
		ready := conditions.Get(f, meta.ReadyCondition)
		assert.Equal(t, "ValidationFailed", ready.Reason)
		assert.Contains(t, ready.Message, "revision "+rev3+" does not validate, nothing applied: ")
		assert.Contains(t, ready.Message, fmt.Sprintf("fleet.cue:%d:", line), "the error's file and line")
		assert.Contains(t, ready.Message, "maxConcurrent")
		assert.Equal(t, rev2, f.Status.LastAppliedRevision)
		assert.Equal(t, "8Gi", guestMemory(t, store2, "pos-server"), "nothing applied")
		for _, fc := range fleetClusters(t, mgmt) {
			assert.Equal(t, rev2, fc.Status.Revision, "%s stays on the last good revision", fc.Name)
			assert.Equal(t, fleetv1.StateInSync, fc.Status.State, fc.Name)
		}
		require.Eventually(t, func() bool {
			return hasEvent(t, mgmt, fleetName, "Warning ValidationFailed: revision "+rev3, fmt.Sprintf("fleet.cue:%d:", line))
		}, 10*time.Second, 100*time.Millisecond, "a ValidationFailed event: %v", events(t, mgmt, fleetName))
	})

	var rev4 string
	t.Run("the fix is applied", func(t *testing.T) {
		r.edit("fleet.cue", "\tmaxConcurrent: \"four\"\n", "\tmaxConcurrent: 4\n")
		rev4 = "main@sha1:" + r.commit("Fix the typo")
		body := pushPayload("refs/heads/main")
		code, answer := ctl.hook(t, path, body, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": webhookToken})
		require.Equal(t, http.StatusAccepted, code, answer)
		waitFleet(t, mgmt, time.Minute, "Ready=True at "+rev4, func(f *fleetv1.Fleet) bool {
			return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev4
		})
		assert.Equal(t, "10Gi", guestMemory(t, store2, "pos-server"))
	})

	t.Run("drift made by hand is corrected at the next interval", func(t *testing.T) {
		f := getFleet(t, mgmt)
		base := client.MergeFrom(f.DeepCopy())
		f.Spec.Interval = &metav1.Duration{Duration: 2 * time.Second}
		require.NoError(t, mgmt.Patch(ctx, f, base))
		// The change of spec is reconciled first; after it, only the interval brings a reconciliation.
		waitFleet(t, mgmt, time.Minute, "the new interval reconciled", func(g *fleetv1.Fleet) bool {
			return g.Status.ObservedGeneration == f.Generation && conditions.IsReady(g)
		})

		u := vm(t, store2, "pos-server")
		require.NoError(t, store2.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"runStrategy":"Halted"}}`)),
			client.FieldOwner("kubectl-edit")))
		require.Eventually(t, func() bool {
			s, _, _ := unstructured.NestedString(vm(t, store2, "pos-server").Object, "spec", "runStrategy")
			return s == "Always"
		}, time.Minute, 200*time.Millisecond, "runStrategy set back by the controller")
		require.Eventually(t, func() bool {
			return hasEvent(t, mgmt, fleetName, "Normal DriftCorrected: cluster edge-store-2: 1 drifted objects corrected")
		}, 10*time.Second, 100*time.Millisecond, "a DriftCorrected event: %v", events(t, mgmt, fleetName))
	})

	t.Run("an unreachable cluster is Offline while the other syncs", func(t *testing.T) {
		killAPIServer(t, env, "edge-store-1")
		r.edit("clusters/edge-store-2/vms/store.yaml", "guest: 10Gi", "guest: 12Gi")
		rev5 := "main@sha1:" + r.commit("POS server: 12Gi")
		// The interval (2 s) brings it.
		f := waitFleet(t, mgmt, time.Minute, "edge-store-1 Offline, edge-store-2 at "+rev5, func(f *fleetv1.Fleet) bool {
			// Not mid-pass: the counts of a pass under way can already read so (edge-store-2 still InSync
			// at rev4 while edge-store-1 was found offline).
			return f.Status.LastAttemptedRevision == rev5 && f.Status.Clusters.Offline == 1 && f.Status.Clusters.InSync == 1 &&
				!conditions.IsTrue(f, meta.ReconcilingCondition)
		})
		assert.True(t, conditions.IsReady(f), "offline clusters do not make the Fleet fail: %s", conditions.GetMessage(f, meta.ReadyCondition))
		assert.Equal(t, "Applied revision "+rev5+" to 1 of 2 clusters; 1 offline (edge-store-1)", conditions.GetMessage(f, meta.ReadyCondition))
		assert.Equal(t, "12Gi", guestMemory(t, store2, "pos-server"))
		fcs := fleetClusters(t, mgmt)
		off := fcs["edge-store-1"]
		assert.Equal(t, fleetv1.StateOffline, off.Status.State)
		assert.Contains(t, off.Status.Message, "unreachable")
		assert.Equal(t, rev4, off.Status.Revision, "an offline cluster keeps its last revision")
		assert.Equal(t, fleetv1.StateInSync, fcs["edge-store-2"].Status.State)
		assert.Equal(t, rev5, fcs["edge-store-2"].Status.Revision)
		require.Eventually(t, func() bool {
			return hasEvent(t, mgmt, fleetName, "Warning ClusterOffline: cluster edge-store-1: unreachable")
		}, 10*time.Second, 100*time.Millisecond, "a ClusterOffline event: %v", events(t, mgmt, fleetName))
		for state, want := range map[string]float64{"InSync": 1, "Offline": 1} {
			v, _ := ctl.metric(t, "vmocue_clusters", map[string]string{"namespace": namespace, "fleet": fleetName, "state": state})
			assert.Equal(t, want, v, state)
		}
	})

	t.Run("a suspended Fleet is not reconciled until resumed", func(t *testing.T) {
		setSuspend := func(v bool) int64 {
			f := getFleet(t, mgmt)
			base := client.MergeFrom(f.DeepCopy())
			f.Spec.Suspend = v
			require.NoError(t, mgmt.Patch(ctx, f, base))
			return f.Generation
		}
		setSuspend(true)
		require.Eventually(t, func() bool {
			v, _ := ctl.metric(t, "gotk_suspend_status", map[string]string{"kind": "Fleet", "name": fleetName, "namespace": namespace})
			return v == 1
		}, 10*time.Second, 100*time.Millisecond, "gotk_suspend_status")
		before := getFleet(t, mgmt).Status.LastAttemptedRevision
		r.edit("clusters/edge-store-2/vms/store.yaml", "guest: 12Gi", "guest: 14Gi")
		rev6 := "main@sha1:" + r.commit("POS server: 14Gi, while suspended")
		body := pushPayload("refs/heads/main")
		code, answer := ctl.hook(t, path, body, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(webhookToken, body)})
		require.Equal(t, http.StatusAccepted, code, answer)
		// A reconciliation after the webhook's request found the Fleet suspended.
		require.Eventually(t, func() bool {
			return ctl.logAfter(t, `"msg":"webhook: requesting a reconciliation"`, `"msg":"reconciliation is suspended"`)
		}, 10*time.Second, 100*time.Millisecond, "a suspended pass after the webhook")
		assert.Equal(t, before, getFleet(t, mgmt).Status.LastAttemptedRevision, "nothing fetched")
		assert.Equal(t, "12Gi", guestMemory(t, store2, "pos-server"), "nothing applied")

		gen := setSuspend(false)
		waitFleet(t, mgmt, time.Minute, "resumed at "+rev6, func(f *fleetv1.Fleet) bool {
			return f.Status.ObservedGeneration == gen && f.Status.LastAppliedRevision == rev6
		})
		assert.Equal(t, "14Gi", guestMemory(t, store2, "pos-server"))
	})

	t.Run("the cluster selector: expressions, clusters leaving, and an invalid one", func(t *testing.T) {
		setSelector := func(sel *metav1.LabelSelector) int64 {
			f := getFleet(t, mgmt)
			base := client.MergeFrom(f.DeepCopy())
			f.Spec.ClusterSelector = sel
			require.NoError(t, mgmt.Patch(ctx, f, base))
			return f.Generation
		}
		// Every edge store but the canary.
		gen := setSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "rollout", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"canary"}}}})
		f := waitFleet(t, mgmt, time.Minute, "one cluster selected", func(f *fleetv1.Fleet) bool {
			return f.Status.ObservedGeneration == gen && f.Status.Clusters.Total == 1
		})
		assert.Equal(t, fleetv1.ClusterCounts{Total: 1, InSync: 1}, f.Status.Clusters)
		fcs := fleetClusters(t, mgmt)
		assert.Len(t, fcs, 1)
		assert.Contains(t, fcs, "edge-store-2", "the FleetCluster of a cluster no longer selected is deleted")

		gen = setSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}})
		f = waitFleet(t, mgmt, time.Minute, "Stalled on an invalid selector", func(f *fleetv1.Fleet) bool {
			return f.Status.ObservedGeneration == gen && conditions.IsStalled(f)
		})
		assert.Equal(t, "InvalidSpec", conditions.GetReason(f, meta.ReadyCondition))
		assert.Equal(t, `spec.clusterSelector: "Near" is not a valid label selector operator`, conditions.GetMessage(f, meta.StalledCondition))
		assert.True(t, conditions.IsFalse(f, meta.ReadyCondition))
	})

	t.Run("no credential in the log, the events or the statuses", func(t *testing.T) {
		secrets := []string{webhookToken}
		for _, c := range env.Clusters {
			secrets = append(secrets, c.Config().BearerToken)
		}
		log, err := os.ReadFile(ctl.log)
		require.NoError(t, err)
		var list fleetv1.FleetClusterList
		require.NoError(t, mgmt.List(ctx, &list, client.InNamespace(namespace)))
		texts := map[string]string{"the controller's log": string(log), "the events": strings.Join(events(t, mgmt, fleetName), "\n"),
			"the FleetClusters": fmt.Sprint(list.Items)}
		for what, text := range texts {
			for _, s := range secrets {
				assert.NotContains(t, text, s, what)
			}
		}
		assert.NotEmpty(t, texts["the events"])
	})

	t.Run("deleting the Fleet leaves what it applied", func(t *testing.T) {
		require.NoError(t, mgmt.Delete(ctx, getFleet(t, mgmt)))
		require.Eventually(t, func() bool {
			err := mgmt.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fleetName}, &fleetv1.Fleet{})
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond, "the finalizer let the Fleet go")
		assert.Empty(t, fleetClusters(t, mgmt))
		assert.Equal(t, "14Gi", guestMemory(t, store2, "pos-server"), "deletionPolicy Orphan: what the Fleet applied stays")
		_, ok := ctl.metric(t, "vmocue_clusters", map[string]string{"namespace": namespace, "fleet": fleetName})
		assert.False(t, ok, "the Fleet's series are gone")
	})
}
