package controller_test

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

const serviceAccount = "vmo-cue-controller"

// applyDeploymentRBAC builds deploy/controller with kustomize, as `kubectl apply -k` would, and
// creates its ServiceAccount, Role and RoleBinding in the test's namespace (the base puts them in
// vmo-cue-system).
func applyDeploymentRBAC(t *testing.T, mgmt client.Client) {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../deploy/controller")
	require.NoError(t, err)
	var kinds []string
	for _, r := range res.Resources() {
		m, err := r.Map()
		require.NoError(t, err)
		u := &unstructured.Unstructured{Object: m}
		switch u.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding":
		default:
			continue
		}
		kinds = append(kinds, u.GetKind())
		u.SetNamespace(namespace)
		if u.GetKind() == "RoleBinding" {
			subjects, _, _ := unstructured.NestedSlice(u.Object, "subjects")
			for _, s := range subjects {
				s.(map[string]any)["namespace"] = namespace
			}
			require.NoError(t, unstructured.SetNestedSlice(u.Object, subjects, "subjects"))
		}
		require.NoError(t, mgmt.Create(t.Context(), u))
	}
	require.ElementsMatch(t, []string{"ServiceAccount", "Role", "RoleBinding"}, kinds)
}

// TestRunsWithTheDeploymentsRights: the controller, as the deployment's ServiceAccount (impersonated)
// with the Role of deploy/controller and nothing else, syncs a Fleet with leader election on; with
// the Role's rule on Secrets removed, it fails and says why.
func TestRunsWithTheDeploymentsRights(t *testing.T) {
	env := startClusters(t, "edge-store-1")
	mgmt := clientOf(t, env.Cluster("mgmt").Config())
	setup(t, env, mgmt, "edge-store-1")
	applyDeploymentRBAC(t, mgmt)
	r := newRepo(t, "edge-store-1")
	rev1 := "main@sha1:" + r.commit("The canary store")

	admin := env.Cluster("mgmt").Config()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["mgmt"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: admin.BearerToken,
		Impersonate:       "system:serviceaccount:" + namespace + ":" + serviceAccount,
		ImpersonateGroups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "mgmt", AuthInfo: "sa"}
	kc.CurrentContext = "sa"
	data, err := clientcmd.Write(*kc)
	require.NoError(t, err)
	startControllerAs(t, data, "--leader-elect", "--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s",
		"--leader-election-retry-period", "500ms")

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
	fc := fleetClusters(t, mgmt)["edge-store-1"]
	assert.Equal(t, fleetv1.StateInSync, fc.Status.State)
	require.Eventually(t, func() bool { return hasEvent(t, mgmt, fleetName, "Normal Synced: cluster edge-store-1") },
		10*time.Second, 100*time.Millisecond, "events: %v", events(t, mgmt, fleetName))

	// One rule less: no Secret can be read.
	role := &rbacv1.Role{}
	require.NoError(t, mgmt.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: serviceAccount}, role))
	var rules []rbacv1.PolicyRule
	for _, rule := range role.Rules {
		if len(rule.Resources) == 1 && rule.Resources[0] == "secrets" {
			continue
		}
		rules = append(rules, rule)
	}
	require.Len(t, rules, len(role.Rules)-1)
	role.Rules = rules
	require.NoError(t, mgmt.Update(t.Context(), role))
	f := &fleetv1.Fleet{}
	require.NoError(t, mgmt.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: fleetName}, f))
	base := client.MergeFrom(f.DeepCopy())
	f.SetAnnotations(map[string]string{meta.ReconcileRequestAnnotation: "now"})
	require.NoError(t, mgmt.Patch(t.Context(), f, base))
	f = waitFleet(t, mgmt, time.Minute, "Ready=False without the right to read Secrets", func(f *fleetv1.Fleet) bool {
		return f.Status.LastHandledReconcileAt == "now" && conditions.IsFalse(f, meta.ReadyCondition)
	})
	ready := conditions.Get(f, meta.ReadyCondition)
	assert.Equal(t, "CredentialsFailed", ready.Reason)
	assert.Equal(t, `Secret fleets/fleet-git (spec.source.secretRef): secrets "fleet-git" is forbidden: User "system:serviceaccount:fleets:vmo-cue-controller" cannot get resource "secrets" in API group "" in the namespace "fleets"`,
		ready.Message)
}
