package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// bareHead is the commit the bare repository's master points at.
func (f *fixture) bareHead(t *testing.T) string {
	t.Helper()
	repo, err := git.PlainOpen(f.bare)
	require.NoError(t, err)
	ref, err := repo.Reference("refs/heads/master", true)
	require.NoError(t, err)
	return ref.Hash().String()
}

func (f *fixture) clean(t *testing.T) {
	t.Helper()
	repo, err := git.PlainOpen(f.dir)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	st, err := wt.Status()
	require.NoError(t, err)
	require.True(t, st.IsClean(), "working copy: %s", st)
}

func testFormDuplicateMAC(t *testing.T, f *fixture) {
	before := f.bareHead(t)
	c := f.browserish(t)
	code, body := f.post(t, c, "/vm/new?cluster=edge-store-1", "/vm/new", url.Values{
		"cluster": {"edge-store-1"}, "template": {"vms/pos-server"}, "name": {"pos-server-3"},
		"mac": {"06:C7:0A:00:01:42"}, "sockets": {"2"}, "memory": {"4Gi"}, "runStrategy": {"Always"},
	})
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	assert.Contains(t, body, "vet refused the change; nothing was committed")
	assert.Regexp(t, `<li><code>clusters/edge-store-1/cluster\.cue:74, clusters/edge-store-1/vms/pos-server-3\.yaml:40</code> \[mac-unique\] [^<]*06:c7:0a:00:01:42`, body)
	assert.Equal(t, before, f.bareHead(t), "nothing pushed")
	_, err := os.Stat(filepath.Join(f.dir, "clusters", "edge-store-1", "vms", "pos-server-3.yaml"))
	assert.True(t, os.IsNotExist(err), "the new file is gone")
	f.clean(t)
}

func testFormCreate(t *testing.T, f *fixture) {
	c := f.browserish(t)
	code, body := f.post(t, c, "/vm/new?cluster=edge-store-1", "/vm/new", url.Values{
		"cluster": {"edge-store-1"}, "template": {"vms/pos-server"}, "name": {"pos-server-2"},
		"sockets": {"4"}, "memory": {"8Gi"}, "runStrategy": {"Halted"},
	})
	require.Equal(t, http.StatusOK, code, body)
	m := regexp.MustCompile(`Committed <code>([0-9a-f]{12})</code> on <code>master</code> and pushed: clusters/edge-store-1/vms/pos-server-2.yaml`).FindStringSubmatch(body)
	require.NotNil(t, m, body)
	head := f.bareHead(t)
	assert.True(t, strings.HasPrefix(head, m[1]), "the commit is in the remote")
	repo, err := git.PlainOpen(f.bare)
	require.NoError(t, err)
	commit, err := repo.CommitObject(plumbingHash(head))
	require.NoError(t, err)
	assert.Equal(t, "Dashboard Test", commit.Committer.Name)
	assert.Contains(t, commit.Message, "dashboard: create VM vms/pos-server-2 in edge-store-1")
	file, err := commit.File("clusters/edge-store-1/vms/pos-server-2.yaml")
	require.NoError(t, err)
	text, err := file.Contents()
	require.NoError(t, err)
	assert.Regexp(t, `macAddress: "?(02|06|0a|0e|0A|0E)(:[0-9a-fA-F]{2}){5}`, text, "a MAC assigned")
	assert.Contains(t, text, "runStrategy: Halted")
	assert.Contains(t, text, "guest: 8Gi")
	assert.Contains(t, text, "name: pos-server-2-root", "its own DataVolume")
	f.clean(t)

	// It passes vet, and the next sync applies it.
	res, err := desired.Load(f.dir, desired.Options{})
	require.NoError(t, err)
	assert.False(t, res.Cluster("edge-store-1").Diags.HasErrors(), "%v", res.Cluster("edge-store-1").Diags)
	assert.Equal(t, clusterstatus.Synced, f.sync(t, head)["edge-store-1"])
	vm := &unstructured.Unstructured{}
	vm.SetAPIVersion("kubevirt.io/v1")
	vm.SetKind("VirtualMachine")
	require.NoError(t, f.store1.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: "pos-server-2"}, vm))
	rs, _, _ := unstructured.NestedString(vm.Object, "spec", "runStrategy")
	assert.Equal(t, "Halted", rs)

	// The page follows: the VM is listed in its cluster.
	f.srv.Refresh(context.Background(), false)
	_, body = f.get(t, nil, "/cluster/edge-store-1")
	assert.Contains(t, body, `<a href="/cluster/edge-store-1/vm/vms/pos-server-2">vms/pos-server-2</a>`)
}

func testFormEdit(t *testing.T, f *fixture) {
	path := filepath.Join(f.dir, "clusters", "edge-store-1", "vms", "pos.yaml")
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	c := f.browserish(t)
	edit := "/cluster/edge-store-1/vm/vms/pos-server/edit"
	code, body := f.post(t, c, edit, edit, url.Values{"memory": {"7Gi"}, "runStrategy": {"Always"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "Committed <code>")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(string(before), "guest: 6Gi", "guest: 7Gi", 1), macLine.ReplaceAllString(string(after), ""), "comments and layout kept")
	f.clean(t)

	// A value from a template shared with other VMs: refused, saying where it is; nothing committed.
	head := f.bareHead(t)
	edit = "/cluster/edge-store-2/vm/vms/pos-server/edit"
	code, body = f.post(t, c, edit, edit, url.Values{"iface": {"pos"}, "network": {"vms/store-cctv"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "Committed <code>", "its own network")
	code, body = f.post(t, c, edit, edit, url.Values{"runStrategy": {"Sometimes"}})
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	assert.Contains(t, body, "run strategy &#34;Sometimes&#34;: want one of Always, RerunOnFailure, Manual, Halted, Once")
	assert.NotEqual(t, head, f.bareHead(t))
	f.clean(t)
}
