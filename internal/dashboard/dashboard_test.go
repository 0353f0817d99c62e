package dashboard_test

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/livediff"
)

// TestDashboard runs every page of the dashboard against a fleet synced to real API servers (one
// fixture, started once), then the browser, then the form.
func TestDashboard(t *testing.T) {
	f := newFixture(t)
	t.Run("fleet page", func(t *testing.T) { testFleetPage(t, f) })
	t.Run("cluster page shows the diff of vmo-cue diff", func(t *testing.T) { testClusterPage(t, f) })
	t.Run("VM page", func(t *testing.T) { testVMPage(t, f) })
	t.Run("MAC and VLAN search", func(t *testing.T) { testSearch(t, f) })
	t.Run("HTML injection is inert", func(t *testing.T) { testInjection(t, f) })
	t.Run("security", func(t *testing.T) { testSecurity(t, f) })
	t.Run("browser", func(t *testing.T) { testBrowser(t, f) })
	t.Run("form: a duplicate MAC shows vet's error and commits nothing", func(t *testing.T) { testFormDuplicateMAC(t, f) })
	t.Run("form: a new VM is committed, pushed, vetted and applied by the next sync", func(t *testing.T) { testFormCreate(t, f) })
	t.Run("form: an edit keeps the file's comments and layout", func(t *testing.T) { testFormEdit(t, f) })
}

func rowOf(t *testing.T, body, cluster string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr class="st-[A-Za-z]+" tabindex="-1" data-href="/cluster/` + regexp.QuoteMeta(cluster) + `">.*?</tr>`)
	row := re.FindString(body)
	require.NotEmpty(t, row, "no row for %s", cluster)
	return row
}

func testFleetPage(t *testing.T, f *fixture) {
	code, body := f.get(t, nil, "/")
	require.Equal(t, http.StatusOK, code, body)
	off := rowOf(t, body, "edge-store-2")
	assert.Contains(t, off, ">Offline<")
	assert.Contains(t, off, "since "+f.lastSeen.UTC().Format("2006-01-02 15:04:05 UTC"), "an Offline site shows since when")
	assert.Contains(t, off, f.rev1[:12], "and the revision it last had")
	assert.Contains(t, off, "(last had)")
	up := rowOf(t, body, "edge-store-1")
	assert.Contains(t, up, ">InSync<")
	assert.Contains(t, up, `<td data-label="wave">canary</td>`, "its wave")
	assert.Contains(t, up, `<td data-label="VMs">3</td>`, "its VMs: pos-server, back-office, cctv-nvr")
	pending := rowOf(t, body, "edge-factory-1")
	assert.Contains(t, pending, ">Pending<", "declared in git, never synced")
	assert.Contains(t, body, "<code>"+f.rev1[:12]+"</code> fleet: two shops and a factory", "the commit of the working copy")
	assert.Contains(t, body, "vet: ", "the vet result")
	// Filters: by state.
	code, body = f.get(t, nil, "/?state=Offline")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `data-href="/cluster/edge-store-2"`)
	assert.NotContains(t, body, `data-href="/cluster/edge-store-1"`)
	// By label.
	_, body = f.get(t, nil, "/?q="+url.QueryEscape("site=plant-linz"))
	assert.Contains(t, body, `data-href="/cluster/edge-factory-1"`)
	assert.NotContains(t, body, `data-href="/cluster/edge-store-1"`)
}

// wantDiff is what `vmo-cue diff` prints for the cluster, computed as diff.go does.
func wantDiff(t *testing.T, f *fixture, cluster string) string {
	t.Helper()
	res, err := desired.Load(f.dir, desired.Options{})
	require.NoError(t, err)
	d, err := desired.Render(res.Cluster(cluster))
	require.NoError(t, err)
	rc, err := reconciler.Connect(f.env.Cluster(cluster).Config())
	require.NoError(t, err)
	p, err := rc.Observe(context.Background(), d)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, livediff.Write(context.Background(), rc, p.Changes(), &buf))
	return buf.String()
}

func pres(body string) string {
	var b strings.Builder
	for _, m := range regexp.MustCompile(`(?s)<pre class="diff">(.*?)</pre>`).FindAllStringSubmatch(body, -1) {
		b.WriteString(html.UnescapeString(m[1]))
	}
	return b.String()
}

func testClusterPage(t *testing.T, f *fixture) {
	code, body := f.get(t, nil, "/cluster/edge-store-1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Regexp(t, `<td>kubevirt</td><td>yes</td><td>v1\.7\.0</td><td>(<span class="label">[A-Za-z]+</span> )+</td>`, body, "components with versions and gates")
	want := wantDiff(t, f, "edge-store-1")
	require.Contains(t, want, "-  runStrategy: Halted\n+  runStrategy: Always\n")
	assert.Equal(t, want, pres(body), "the same diff as vmo-cue diff")
	assert.Contains(t, body, `<a href="/cluster/edge-store-1/vm/vms/pos-server">vms/pos-server</a> <span class="badge st-Drifted">drifted</span>`)
	assert.Contains(t, body, `<td data-label="status">Running</td><td data-label="node">store-node-2</td>`, "printable status and node")
	assert.Regexp(t, `<div class="iface">cctv <code>06:c7:0a:00:01:42</code> VLAN 30 <small>vms/store-cctv</small></div>`, body)
	assert.Regexp(t, `<div class="iface">pos <code>(02|06|0a|0e)(:[0-9a-f]{2}){5}</code> VLAN 20 <small>vms/store-pos</small></div>`, body, "an assigned MAC")
	assert.Contains(t, body, "<code>clusters/edge-store-1/vms/pos.yaml:7</code>")

	// An offline cluster: its last state, no live view.
	code, body = f.get(t, nil, "/cluster/edge-store-2")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "live status unavailable: unreachable: ")
	code, _ = f.get(t, nil, "/cluster/nowhere")
	assert.Equal(t, http.StatusNotFound, code)
}

func testVMPage(t *testing.T, f *fixture) {
	code, body := f.get(t, nil, "/cluster/edge-store-1/vm/vms/pos-server")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "<dt>defined at</dt><dd><code>clusters/edge-store-1/vms/pos.yaml:7</code></dd>")
	assert.Contains(t, body, "<dt>status</dt><dd>Running (ready)</dd>")
	assert.Contains(t, body, "<dt>node</dt><dd>store-node-2</dd>")
	assert.Contains(t, pres(body), "-  runStrategy: Halted\n+  runStrategy: Always\n", "its drift")
	assert.Contains(t, body, `<pre class="yaml">`)
	assert.Contains(t, body, "runStrategy: Always", "as git wants it")
	// A VM in sync shows no drift.
	_, body = f.get(t, nil, "/cluster/edge-store-1/vm/vms/cctv-nvr")
	assert.Contains(t, body, "in sync with git")
	assert.Contains(t, body, "<code>clusters/edge-store-1/cluster.cue:")
}

func testSearch(t *testing.T, f *fixture) {
	_, body := f.get(t, nil, "/search?q="+url.QueryEscape("06-C7-0A-00-01-42"))
	assert.Contains(t, body, "1 interfaces with MAC 06:c7:0a:00:01:42")
	assert.Contains(t, body, `<a href="/cluster/edge-store-1/vm/vms/cctv-nvr">vms/cctv-nvr</a>`)
	_, body = f.get(t, nil, "/search?q="+url.QueryEscape("vlan 20"))
	assert.Contains(t, body, "interfaces on VLAN 20")
	assert.Contains(t, body, `<a href="/cluster/edge-store-1/vm/vms/pos-server">vms/pos-server</a>`)
	assert.Contains(t, body, `<a href="/cluster/edge-store-2/vm/vms/pos-server">vms/pos-server</a>`)
	assert.NotContains(t, body, "cctv-nvr")
}

func testInjection(t *testing.T, f *fixture) {
	for _, p := range []string{"/cluster/edge-factory-1/vm/ot/scada-hmi", "/cluster/edge-factory-1"} {
		code, body := f.get(t, nil, p)
		require.Equal(t, http.StatusOK, code, p)
		assert.NotContains(t, body, "<script>alert", p)
	}
	_, body := f.get(t, nil, "/cluster/edge-factory-1/vm/ot/scada-hmi")
	assert.Contains(t, body, `<span class="label">owner=&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;</span>`)
}

func testSecurity(t *testing.T, f *fixture) {
	kc, err := os.ReadFile(f.env.Kubeconfig)
	require.NoError(t, err)
	tokens := regexp.MustCompile(`token: (\S+)`).FindAllStringSubmatch(string(kc), -1)
	require.NotEmpty(t, tokens)
	for _, p := range []string{"/", "/cluster/edge-store-1", "/cluster/edge-store-2", "/cluster/edge-store-1/vm/vms/pos-server", "/search?q=vlan+30", "/vm/new"} {
		code, body := f.get(t, nil, p)
		require.Equal(t, http.StatusOK, code, p)
		for _, tok := range tokens {
			assert.NotContains(t, body, tok[1], "a token in %s", p)
		}
		assert.NotContains(t, body, "certificate-authority-data", p)
	}
	// Not a loopback host name: refused (DNS rebinding).
	req, err := http.NewRequest("GET", f.ts.URL+"/", nil)
	require.NoError(t, err)
	req.Host = "dashboard.example.com"
	resp, err := f.ts.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	// Every response has the CSP.
	resp, err = f.ts.Client().Get(f.ts.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	// A POST without the CSRF token, or from another origin, commits nothing.
	resp, err = f.ts.Client().PostForm(f.ts.URL+"/vm/new", url.Values{"cluster": {"edge-store-1"}, "template": {"vms/pos-server"}, "name": {"x"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	req, _ = http.NewRequest("POST", f.ts.URL+"/vm/new", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = f.ts.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	// Read-only unless commits are allowed.
	ro := f.server(t, nil)
	rec := newRecorder()
	ro.Handler().ServeHTTP(rec, loopbackRequest("GET", "/vm/new"))
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "changes through git are off")
}
