package controller_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// applyDashboardRBAC creates the ClusterRole and ClusterRoleBinding of deploy/controller-dashboard,
// bound to the ServiceAccount in the test's namespace.
func applyDashboardRBAC(t *testing.T, mgmt client.Client) {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../deploy/controller-dashboard")
	require.NoError(t, err)
	var kinds []string
	for _, r := range res.Resources() {
		m, err := r.Map()
		require.NoError(t, err)
		u := &unstructured.Unstructured{Object: m}
		switch u.GetKind() {
		case "ClusterRole":
			rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
			require.Len(t, rules, 2, "tokenreviews and subjectaccessreviews, nothing else")
		case "ClusterRoleBinding":
			subjects, _, _ := unstructured.NestedSlice(u.Object, "subjects")
			for _, s := range subjects {
				s.(map[string]any)["namespace"] = namespace
			}
			require.NoError(t, unstructured.SetNestedSlice(u.Object, subjects, "subjects"))
		default:
			continue
		}
		kinds = append(kinds, u.GetKind())
		require.NoError(t, mgmt.Create(t.Context(), u))
	}
	require.ElementsMatch(t, []string{"ClusterRole", "ClusterRoleBinding"}, kinds)
}

// tokenFor makes a ServiceAccount with a Role of the given verbs on fleets (none: no Role) and
// returns a token for it (TokenRequest).
func tokenFor(t *testing.T, mgmt client.Client, kube kubernetes.Interface, name string, verbs ...string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if err := mgmt.Create(t.Context(), sa); err != nil {
		require.True(t, strings.Contains(err.Error(), "already exists"), err)
	}
	if len(verbs) > 0 {
		require.NoError(t, mgmt.Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"fleets"}, Verbs: verbs}}}))
		require.NoError(t, mgmt.Create(t.Context(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: namespace}}}))
	}
	tr, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

// TestDashboardBehindTokenReview: the controller, as the deployment's ServiceAccount with the Role of
// deploy/controller and the ClusterRole of deploy/controller-dashboard, serves the dashboard to a
// bearer token that may get fleets, refuses one that may not and one it cannot review; without the
// ClusterRole, it cannot review tokens and says so.
func TestDashboardBehindTokenReview(t *testing.T) {
	env := startClusters(t, "edge-store-1")
	admin := env.Cluster("mgmt").Config()
	mgmt := clientOf(t, admin)
	kube := kubernetes.NewForConfigOrDie(admin)
	setup(t, env, mgmt, "edge-store-1")
	applyDeploymentRBAC(t, mgmt)
	applyDashboardRBAC(t, mgmt)
	r := newRepo(t, "edge-store-1")
	rev1 := "main@sha1:" + r.commit("The canary store")

	kc := clientcmdapi.NewConfig()
	kc.Clusters["mgmt"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: admin.BearerToken,
		Impersonate:       "system:serviceaccount:" + namespace + ":" + serviceAccount,
		ImpersonateGroups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "mgmt", AuthInfo: "sa"}
	kc.CurrentContext = "sa"
	data, err := clientcmd.Write(*kc)
	require.NoError(t, err)
	addr := freeAddr(t)
	startControllerAs(t, data, "--dashboard-bind-address", addr)

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

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(token string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := noRedirect.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body), resp.Header.Get("Location")
	}
	viewer := tokenFor(t, mgmt, kube, "viewer", "get", "list")
	var code int
	var body string
	require.Eventually(t, func() bool { // the dashboard reads the FleetClusters every 5 s (a read during the pass saw Syncing)
		code, body, _ = get(viewer)
		return code == http.StatusOK && strings.Contains(body, `data-href="/cluster/edge-store-1"`) &&
			strings.Contains(body, `<span class="badge st-InSync">InSync</span>`)
	}, 15*time.Second, 250*time.Millisecond)
	assert.Contains(t, body, `data-href="/cluster/edge-store-1"`)
	assert.Contains(t, body, `<span class="badge st-InSync">InSync</span>`, "the FleetCluster's state")
	assert.Contains(t, body, "system:serviceaccount:fleets:viewer · read-only")
	assert.NotContains(t, body, viewer, "the token is never echoed")
	assert.NotContains(t, body, `href="/vm/new"`)

	code, body, _ = get(tokenFor(t, mgmt, kube, "nobody"))
	assert.Equal(t, http.StatusForbidden, code)
	assert.Equal(t, "forbidden: system:serviceaccount:fleets:nobody may not get fleets in fleets\n", body)

	code, _, loc := get("not-a-token")
	assert.Equal(t, http.StatusSeeOther, code, "to the sign-in page")
	assert.Equal(t, "/login", loc)
	code, _, loc = get("")
	assert.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/login", loc)

	// Without the ClusterRole's binding, tokens cannot be reviewed: nobody gets in, and the answer says why.
	require.NoError(t, mgmt.Delete(t.Context(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vmo-cue-controller-dashboard"}}))
	fresh := tokenFor(t, mgmt, kube, "viewer")
	require.Eventually(t, func() bool {
		code, body, _ := get(fresh)
		return code == http.StatusForbidden && strings.Contains(body, `cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope`)
	}, 20*time.Second, 200*time.Millisecond)
}
