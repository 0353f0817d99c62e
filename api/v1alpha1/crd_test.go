package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/deploy"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
)

const ns = "fleets"

// TestCRDsOnAPIServer installs the generated CRDs in a real API server and checks what users and the
// controller rely on: defaults, validation with its messages, the status subresource written through
// fluxcd/pkg/runtime's patch helper, the immutable identity of a FleetCluster, and the columns of
// `kubectl get`.
func TestCRDsOnAPIServer(t *testing.T) {
	crds, err := deploy.CRDs()
	require.NoError(t, err)
	env := testcluster.StartWith(t, testcluster.Options{Names: []string{"mgmt"}, CRDs: crds})
	cfg := env.Cluster("mgmt").Config()
	scheme := runtime.NewScheme()
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	require.NoError(t, corev1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	require.NoError(t, c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))

	t.Run("defaults", func(t *testing.T) {
		f := fleet("defaults", v1alpha1.FleetSpec{Source: v1alpha1.GitSource{URL: "https://git.example.com/fleet.git"}})
		require.NoError(t, c.Create(t.Context(), f))
		got := &v1alpha1.Fleet{}
		require.NoError(t, c.Get(t.Context(), client.ObjectKeyFromObject(f), got))
		require.Equal(t, &metav1.Duration{Duration: 5 * time.Minute}, got.Spec.Interval)
		require.Equal(t, v1alpha1.DriftCorrect, got.Spec.Drift)
		require.Equal(t, v1alpha1.DeletionOrphan, got.Spec.DeletionPolicy)
		require.False(t, got.Spec.Prune)
		require.Nil(t, got.Spec.Timeout)
		require.Equal(t, int64(-1), got.Status.ObservedGeneration, "not observed yet (kstatus)")
	})

	t.Run("validation", func(t *testing.T) {
		url := func(u string) v1alpha1.GitSource { return v1alpha1.GitSource{URL: u} }
		ref := func(r v1alpha1.GitRef) v1alpha1.GitSource {
			return v1alpha1.GitSource{URL: "ssh://git@git.example.com/fleet.git", Ref: &r}
		}
		commit := "0123456789abcdef0123456789abcdef01234567"
		tests := []struct {
			name string
			spec v1alpha1.FleetSpec
			want string // "" = accepted
		}{
			{"https", v1alpha1.FleetSpec{Source: url("https://git.example.com/fleet.git")}, ""},
			{"scp-like ssh", v1alpha1.FleetSpec{Source: url("git@github.com:acme/fleet.git")}, ""},
			{"file", v1alpha1.FleetSpec{Source: url("file:///srv/git/fleet.git")}, ""},
			{"a branch", v1alpha1.FleetSpec{Source: ref(v1alpha1.GitRef{Branch: "main"})}, ""},
			{"a tag", v1alpha1.FleetSpec{Source: ref(v1alpha1.GitRef{Tag: "v1.2.0"})}, ""},
			{"a commit", v1alpha1.FleetSpec{Source: ref(v1alpha1.GitRef{Commit: commit})}, ""},
			{"everything", v1alpha1.FleetSpec{
				Source: v1alpha1.GitSource{URL: "https://git.example.com/fleet.git", Ref: &v1alpha1.GitRef{Branch: "main"},
					SecretRef: &v1alpha1.LocalObjectReference{Name: "git"}, Verify: &v1alpha1.GitVerification{SecretRef: v1alpha1.LocalObjectReference{Name: "keys"}}},
				Interval: &metav1.Duration{Duration: time.Minute}, Timeout: &metav1.Duration{Duration: 90 * time.Second},
				ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}},
				Drift:           v1alpha1.DriftReport, Prune: true, DeletionPolicy: v1alpha1.DeletionDelete, Suspend: true,
			}, ""},
			{"ftp", v1alpha1.FleetSpec{Source: url("ftp://git.example.com/fleet.git")},
				`spec.source.url: Invalid value: "ftp://git.example.com/fleet.git": spec.source.url in body should match '^((https?|ssh|file)://.+|[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:.+)$'`},
			{"a local path", v1alpha1.FleetSpec{Source: url("/srv/git/fleet")},
				`spec.source.url: Invalid value: "/srv/git/fleet": spec.source.url in body should match`},
			{"no url", v1alpha1.FleetSpec{}, `spec.source.url: Invalid value: "": spec.source.url in body should match`},
			{"a branch and a tag", v1alpha1.FleetSpec{Source: ref(v1alpha1.GitRef{Branch: "main", Tag: "v1"})},
				`spec.source.ref: Invalid value: give exactly one of branch, tag and commit`},
			{"an empty ref", v1alpha1.FleetSpec{Source: ref(v1alpha1.GitRef{})},
				`spec.source.ref: Invalid value: give exactly one of branch, tag and commit`},
			{"a short commit", v1alpha1.FleetSpec{Source: ref(v1alpha1.GitRef{Commit: "0123abc"})},
				`spec.source.ref.commit: Invalid value: "0123abc": spec.source.ref.commit in body should match '^[0-9a-f]{40}$'`},
			{"drift mode", v1alpha1.FleetSpec{Source: url("https://h/f"), Drift: "fix"},
				`spec.drift: Unsupported value: "fix": supported values: "correct", "report"`},
			{"deletion policy", v1alpha1.FleetSpec{Source: url("https://h/f"), DeletionPolicy: "Keep"},
				`spec.deletionPolicy: Unsupported value: "Keep": supported values: "Orphan", "Delete"`},
			{"a negative interval", v1alpha1.FleetSpec{Source: url("https://h/f"), Interval: &metav1.Duration{Duration: -time.Minute}},
				`spec.interval: Invalid value: "-1m0s": spec.interval in body should match '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$'`},
			{"a zero interval", v1alpha1.FleetSpec{Source: url("https://h/f"), Interval: &metav1.Duration{}},
				`spec.interval: Invalid value: "0s": must be at least 1s`},
			{"a tiny timeout", v1alpha1.FleetSpec{Source: url("https://h/f"), Timeout: &metav1.Duration{Duration: time.Millisecond}},
				`spec.timeout: Invalid value: "1ms": must be at least 1s`},
			{"verify without a secret", v1alpha1.FleetSpec{Source: v1alpha1.GitSource{URL: "https://h/f", Verify: &v1alpha1.GitVerification{}}},
				`spec.source.verify.secretRef.name: Invalid value: "": spec.source.verify.secretRef.name in body should be at least 1 chars long`},
			{"an unnamed git secret", v1alpha1.FleetSpec{Source: v1alpha1.GitSource{URL: "https://h/f", SecretRef: &v1alpha1.LocalObjectReference{}}},
				`spec.source.secretRef.name: Invalid value: "": spec.source.secretRef.name in body should be at least 1 chars long`},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := c.Create(t.Context(), fleet(fmt.Sprintf("v%d", i), tt.spec))
				if tt.want == "" {
					require.NoError(t, err)
					return
				}
				require.ErrorContains(t, err, fmt.Sprintf(`Fleet.fleet.vmo-cue.dev "v%d" is invalid: `, i))
				require.ErrorContains(t, err, tt.want)
			})
		}
	})

	t.Run("status through the patch helper", func(t *testing.T) {
		f := fleet("patched", v1alpha1.FleetSpec{Source: v1alpha1.GitSource{URL: "https://git.example.com/fleet.git"}})
		require.NoError(t, c.Create(t.Context(), f))
		patcher := patch.NewSerialPatcher(f, c)
		conditions.MarkReconciling(f, meta.ProgressingReason, "fetching")
		require.NoError(t, patcher.Patch(t.Context(), f, patch.WithFieldOwner("vmo-cue")))

		conditions.Delete(f, meta.ReconcilingCondition)
		conditions.MarkTrue(f, meta.ReadyCondition, meta.SucceededReason, "Applied revision: main@sha1:%s", "0123")
		f.Status.LastAppliedRevision, f.Status.LastAttemptedRevision = "main@sha1:0123", "main@sha1:0123"
		f.Status.LastHandledReconcileAt = "2026-01-01T00:00:00Z"
		f.Status.Clusters = v1alpha1.ClusterCounts{Total: 2, InSync: 1, Offline: 1}
		require.NoError(t, patcher.Patch(t.Context(), f, patch.WithFieldOwner("vmo-cue"), patch.WithStatusObservedGeneration{},
			patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition}}))

		got := &v1alpha1.Fleet{}
		require.NoError(t, c.Get(t.Context(), client.ObjectKeyFromObject(f), got))
		require.True(t, conditions.IsReady(got))
		require.Equal(t, "Applied revision: main@sha1:0123", conditions.GetMessage(got, meta.ReadyCondition))
		require.False(t, conditions.Has(got, meta.ReconcilingCondition))
		require.Equal(t, got.Generation, got.Status.ObservedGeneration)
		require.Equal(t, "main@sha1:0123", got.Status.LastAppliedRevision)
		require.Equal(t, "2026-01-01T00:00:00Z", got.GetLastHandledReconcileRequest())
		require.Equal(t, v1alpha1.ClusterCounts{Total: 2, InSync: 1, Offline: 1}, got.Status.Clusters)

		// A FleetCluster owned by its Fleet, its status written the same way.
		fc := &v1alpha1.FleetCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "patched-edge-1", Namespace: ns,
				Labels: map[string]string{v1alpha1.FleetLabel: "patched", v1alpha1.ClusterLabel: "edge-1"}},
			Spec: v1alpha1.FleetClusterSpec{Fleet: "patched", Cluster: "edge-1", Wave: "canary", ReleasedRevision: "main@sha1:0123"},
		}
		require.NoError(t, controllerutil.SetControllerReference(got, fc, scheme))
		require.NoError(t, c.Create(t.Context(), fc))
		fcPatcher := patch.NewSerialPatcher(fc, c)
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		fc.Status = v1alpha1.FleetClusterStatus{State: v1alpha1.StateInSync, Revision: "main@sha1:0123", LastSyncTime: &now,
			LastSeenTime: &now, DriftedObjects: 0, Orphans: 2, VMs: 12, Message: "applied 3 objects"}
		conditions.MarkTrue(fc, meta.ReadyCondition, meta.SucceededReason, "in sync")
		require.NoError(t, fcPatcher.Patch(t.Context(), fc, patch.WithStatusObservedGeneration{}))
		gotFC := &v1alpha1.FleetCluster{}
		require.NoError(t, c.Get(t.Context(), client.ObjectKeyFromObject(fc), gotFC))
		require.Equal(t, v1alpha1.StateInSync, gotFC.Status.State)
		require.Equal(t, int32(12), gotFC.Status.VMs)
		require.Equal(t, got.UID, gotFC.OwnerReferences[0].UID)
		require.True(t, conditions.IsReady(gotFC))

		gotFC.Status.State = "Contested"
		err := c.Status().Update(t.Context(), gotFC)
		require.ErrorContains(t, err, `status.state: Unsupported value: "Contested": supported values: "InSync", "Drifted", "Syncing", "Failed", "Offline", "Pending"`)
	})

	t.Run("a FleetCluster's fleet and cluster are immutable", func(t *testing.T) {
		fc := &v1alpha1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Name: "immutable", Namespace: ns},
			Spec: v1alpha1.FleetClusterSpec{Fleet: "a", Cluster: "edge-1"}}
		require.NoError(t, c.Create(t.Context(), fc))
		fc.Spec.Wave, fc.Spec.ReleasedRevision = "edge", "main@sha1:4567"
		require.NoError(t, c.Update(t.Context(), fc), "wave and released revision change")
		fc.Spec.Cluster = "edge-2"
		require.ErrorContains(t, c.Update(t.Context(), fc), `FleetCluster.fleet.vmo-cue.dev "immutable" is invalid: spec: Invalid value: fleet and cluster cannot be changed`)

		missing := &v1alpha1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Name: "missing", Namespace: ns}, Spec: v1alpha1.FleetClusterSpec{Fleet: "a"}}
		require.ErrorContains(t, c.Create(t.Context(), missing), `spec.cluster: Invalid value: "": spec.cluster in body should be at least 1 chars long`)
	})

	t.Run("kubectl get columns", func(t *testing.T) {
		headers, row := table(t, cfg, "fleets", "patched")
		require.Equal(t, []string{"Name", "Revision", "Clusters", "In Sync", "Ready", "Status", "Age"}, headers)
		require.Equal(t, []string{"patched", "main@sha1:0123", "2", "1", "True", "Applied revision: main@sha1:0123"}, row[:6])

		headers, row = table(t, cfg, "fleetclusters", "patched-edge-1")
		require.Equal(t, []string{"Name", "Fleet", "Cluster", "Wave", "State", "Revision", "Drifted", "VMs", "Last Sync", "Age"}, headers)
		require.Equal(t, []string{"patched-edge-1", "patched", "edge-1", "canary", "InSync", "main@sha1:0123", "0", "12"}, row[:8])
	})
}

func fleet(name string, spec v1alpha1.FleetSpec) *v1alpha1.Fleet {
	return &v1alpha1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
}

// table gets one object as the server-side table `kubectl get` prints, and returns the headers and
// cells of the default columns (priority 0), as text.
func table(t *testing.T, cfg *rest.Config, resource, name string) ([]string, []string) {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/%s/%s", cfg.Host, v1alpha1.GroupVersion, ns, resource, name)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var tab metav1.Table
	require.NoError(t, json.Unmarshal(body, &tab))
	require.Len(t, tab.Rows, 1)
	var headers, cells []string
	for i, col := range tab.ColumnDefinitions {
		if col.Priority == 0 {
			headers = append(headers, col.Name)
			cells = append(cells, fmt.Sprint(tab.Rows[0].Cells[i]))
		}
	}
	return headers, cells
}
