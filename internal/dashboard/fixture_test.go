package dashboard_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vmo-cue/vmo-cue/internal/dashboard"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

func init() { ctrllog.SetLogger(logr.Discard()) }

// injection is a VM label value written to try HTML injection through git.
const injection = `<script>alert("pwned")</script>`

// fixture is a fleet synced to real API servers: a working copy of the fleet repository (pushing to
// a bare repository, file://), two shops synced (edge-store-2 then stopped: Offline), a drifted VM in
// edge-store-1, and the dashboard serving it all on a loopback httptest server.
type fixture struct {
	env      *testcluster.Env
	dir      string
	bare     string
	stateDir string
	lastSeen time.Time
	rev1     string
	srv      *dashboard.Server
	ts       *httptest.Server
	store1   client.Client
}

// storesOnly syncs the two shops: the factory is declared in git but never synced (Pending); it
// carries the HTML-injection label.
func storesOnly(l map[string]string) bool { return strings.HasPrefix(l["site"], "store-") }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{stateDir: t.TempDir()}
	root := t.TempDir()
	f.dir, f.bare = filepath.Join(root, "work"), filepath.Join(root, "fleet.git")
	require.NoError(t, testfleet.CopyDir("../../fleet", f.dir))
	for _, c := range []string{"dc-east", "dc-west"} {
		require.NoError(t, os.RemoveAll(filepath.Join(f.dir, "clusters", c)))
	}
	scada := filepath.Join(f.dir, "clusters", "edge-factory-1", "vms", "scada.yaml")
	data, err := os.ReadFile(scada)
	require.NoError(t, err)
	data = []byte(strings.Replace(string(data), "  labels:\n    app: scada\n", "  labels:\n    app: scada\n    owner: '"+injection+"'\n", 1))
	require.Contains(t, string(data), injection)
	require.NoError(t, os.WriteFile(scada, data, 0o644))

	_, err = git.PlainInit(f.bare, true)
	require.NoError(t, err)
	repo, err := git.PlainInit(f.dir, false)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddGlob("."))
	sig := &object.Signature{Name: "Fleet Admin", Email: "admin@example.com", When: time.Now()}
	h, err := wt.Commit("fleet: two shops and a factory", &git.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	f.rev1 = h.String()
	_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{"file://" + f.bare}})
	require.NoError(t, err)
	require.NoError(t, repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{"refs/heads/master:refs/heads/master"}}))

	f.env = testcluster.StartWithCRDs(t, "edge-store-1", "edge-store-2")
	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Synced, "edge-store-2": clusterstatus.Synced}, f.sync(t, f.rev1))
	state, err := fleet.OpenState(f.stateDir)
	require.NoError(t, err)
	f.lastSeen = state.Get("edge-store-2").LastSeen
	require.False(t, f.lastSeen.IsZero())
	for _, p := range f.env.Processes() {
		if p.Name == "kube-apiserver/edge-store-2" {
			require.NoError(t, syscall.Kill(-p.Pid, syscall.SIGKILL))
			require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-p.Pid, 0), syscall.ESRCH) }, 10*time.Second, 10*time.Millisecond)
		}
	}
	require.Equal(t, map[string]clusterstatus.State{"edge-store-1": clusterstatus.InSync, "edge-store-2": clusterstatus.Offline}, f.sync(t, f.rev1))

	// Drift: someone halts the POS server by hand. The VM runs, on a node (what KubeVirt would say).
	rc, err := reconciler.Connect(f.env.Cluster("edge-store-1").Config())
	require.NoError(t, err)
	f.store1 = rc.Client
	ctx := context.Background()
	vm := &unstructured.Unstructured{}
	vm.SetAPIVersion("kubevirt.io/v1")
	vm.SetKind("VirtualMachine")
	vm.SetNamespace("vms")
	vm.SetName("pos-server")
	require.NoError(t, f.store1.Patch(ctx, vm, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"runStrategy":"Halted"}}`)), client.FieldOwner("kubectl-edit")))
	require.NoError(t, f.store1.Status().Patch(ctx, vm, client.RawPatch(types.MergePatchType, []byte(`{"status":{"printableStatus":"Running","ready":true}}`)), client.FieldOwner("virt-controller")))
	vmi := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
		"metadata": map[string]any{"namespace": "vms", "name": "pos-server"},
		"spec":     map[string]any{"domain": map[string]any{"devices": map[string]any{}}},
		"status":   map[string]any{"nodeName": "store-node-2", "interfaces": []any{map[string]any{"name": "default", "ipAddress": "10.0.2.2"}}},
	}}
	require.NoError(t, f.store1.Create(ctx, vmi))

	f.srv = f.server(t, &dashboard.CommitOptions{Name: "Dashboard Test", Email: "dashboard@example.com", Remote: "origin"})
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

func (f *fixture) server(t *testing.T, commits *dashboard.CommitOptions) *dashboard.Server {
	t.Helper()
	srv, err := dashboard.New(dashboard.Options{
		Source:  &dashboard.KubeSource{Kubeconfig: f.env.Kubeconfig, StateDir: f.stateDir, Timeout: 3 * time.Second},
		GitDir:  f.dir,
		Commits: commits,
	})
	require.NoError(t, err)
	srv.Refresh(context.Background(), true)
	return srv
}

// sync syncs the shops from the working copy at rev, as `vmo-cue sync` does.
func (f *fixture) sync(t *testing.T, rev string) map[string]clusterstatus.State {
	t.Helper()
	state, err := fleet.OpenState(f.stateDir)
	require.NoError(t, err)
	rep, err := fleet.Sync(context.Background(), fleet.Options{Dir: f.dir, Revision: rev, Kubeconfig: f.env.Kubeconfig, Health: "accepted",
		ConnectTimeout: 3 * time.Second, State: state, Select: storesOnly})
	require.NoError(t, err)
	require.Empty(t, rep.FleetErrors)
	out := map[string]clusterstatus.State{}
	for _, o := range rep.Outcomes {
		out[o.Cluster] = o.State
	}
	return out
}

// get fetches a page and returns its status and body.
func (f *fixture) get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	if c == nil {
		c = f.ts.Client()
	}
	resp, err := c.Get(f.ts.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// browserish is a client with a cookie jar (the form's CSRF cookie).
func (f *fixture) browserish(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := f.ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// post submits a form with the CSRF token the form page gave.
func (f *fixture) post(t *testing.T, c *http.Client, formPath, path string, v url.Values) (int, string) {
	t.Helper()
	_, page := f.get(t, c, formPath)
	v.Set("csrf", csrfOf(t, page))
	resp, err := c.PostForm(f.ts.URL+path, v)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(page, marker)
	require.GreaterOrEqual(t, i, 0, "no CSRF field in the form")
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}
