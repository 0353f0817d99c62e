package controller_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// TestDashboardGitViewAndCommits: the controller's dashboard shows git's view of the Fleet's fetched
// revision (the cluster's VMs, a VM's YAML and file:line, the commit); with --dashboard-allow-commits
// a user who may update fleets creates a VM through the form, the commit lands in the file://
// repository the Fleet follows and the Fleet applies it; a user who may only get fleets is refused.
func TestDashboardGitViewAndCommits(t *testing.T) {
	env := startClusters(t, "edge-store-1")
	admin := env.Cluster("mgmt").Config()
	mgmt := clientOf(t, admin)
	kube := kubernetes.NewForConfigOrDie(admin)
	setup(t, env, mgmt, "edge-store-1")
	applyDeploymentRBAC(t, mgmt)
	applyDashboardRBAC(t, mgmt)
	r := newRepo(t, "edge-store-1")
	head := r.commit("The canary store")
	rev1 := "main@sha1:" + head
	// As on a git server, the branch pushed to is not checked out in the repository.
	require.NoError(t, r.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("elsewhere"), Create: true}))

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
	startControllerAs(t, data, "--dashboard-bind-address", addr, "--dashboard-allow-commits",
		"--dashboard-committer-name", "Dash Board", "--dashboard-committer-email", "dash@example.com")

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

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	web := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, token string, form url.Values) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, "http://"+addr+path, body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := web.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	viewer := tokenFor(t, mgmt, kube, "viewer", "get", "list")
	updater := tokenFor(t, mgmt, kube, "updater", "get", "list", "update")

	// Git's view: the cluster page lists the VM from the fetched revision, the VM page its YAML and line.
	var code int
	var body string
	require.Eventually(t, func() bool { // the dashboard reads again every 5 s
		code, body = do("GET", "/cluster/edge-store-1", viewer, nil)
		return code == http.StatusOK && strings.Contains(body, "pos-server")
	}, 20*time.Second, 250*time.Millisecond, "the cluster page with git's VMs: %d %s", code, body)
	assert.Contains(t, body, `href="/cluster/edge-store-1/vm/vms/pos-server"`)
	assert.Contains(t, body, "kubevirt", "the stack's components")
	code, body = do("GET", "/cluster/edge-store-1/vm/vms/pos-server", viewer, nil)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "<dt>defined at</dt><dd><code>clusters/edge-store-1/vms/pos.yaml:7</code></dd>")
	assert.Contains(t, body, "<dt>run strategy</dt><dd>Always</dd>")
	assert.Contains(t, body, "runStrategy: Always", "the YAML as git wants it")
	code, body = do("GET", "/", viewer, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "<code>"+strings.TrimPrefix(rev1, "main@sha1:")[:12]+"</code> The canary store", "the fetched commit")
	assert.NotContains(t, body, `href="/vm/new"`, "a viewer gets no form")
	assert.Contains(t, body, "system:serviceaccount:fleets:viewer · read-only")

	// A viewer's form and post are refused.
	code, body = do("GET", "/vm/new", viewer, nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Equal(t, "system:serviceaccount:fleets:viewer may not update fleets: read-only\n", body)
	code, body = do("POST", "/vm/new", viewer, url.Values{"cluster": {"edge-store-1"}, "template": {"vms/pos-server"}, "name": {"pos-2"}})
	assert.Equal(t, http.StatusForbidden, code)
	assert.Equal(t, "system:serviceaccount:fleets:viewer may not update fleets: read-only\n", body)

	// An updater creates a VM: committed in the repository the Fleet follows, then applied.
	code, body = do("GET", "/vm/new?cluster=edge-store-1", updater, nil)
	require.Equal(t, http.StatusOK, code, body)
	assert.NotContains(t, body, "read-only")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, body)
	code, body = do("POST", "/vm/new", updater, url.Values{"csrf": {m[1]}, "cluster": {"edge-store-1"}, "template": {"vms/pos-server"},
		"name": {"pos-2"}, "runStrategy": {"Halted"}})
	require.Equal(t, http.StatusOK, code, body)
	repo, err := git.PlainOpen(r.dir)
	require.NoError(t, err)
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	require.NoError(t, err)
	c, err := repo.CommitObject(ref.Hash())
	require.NoError(t, err)
	assert.Equal(t, "dashboard: create VM vms/pos-2 in edge-store-1", strings.SplitN(c.Message, "\n", 2)[0])
	assert.Equal(t, "Dash Board <dash@example.com>", c.Committer.Name+" <"+c.Committer.Email+">")
	assert.Contains(t, body, ref.Hash().String()[:12], "the form names the commit")
	rev2 := "main@sha1:" + ref.Hash().String()
	waitFleet(t, mgmt, time.Minute, "Ready=True at the dashboard's commit "+rev2, func(f *fleetv1.Fleet) bool {
		return conditions.IsReady(f) && f.Status.LastAppliedRevision == rev2
	})
	vm := &unstructured.Unstructured{}
	vm.SetAPIVersion("kubevirt.io/v1")
	vm.SetKind("VirtualMachine")
	require.NoError(t, clientOf(t, env.Cluster("edge-store-1").Config()).Get(t.Context(), client.ObjectKey{Namespace: "vms", Name: "pos-2"}, vm))
	rs, _, _ := unstructured.NestedString(vm.Object, "spec", "runStrategy")
	assert.Equal(t, "Halted", rs)
}
