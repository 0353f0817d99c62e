package source

import (
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gitHTTPBackend finds git's CGI program; a missing one fails the test (it ships with Debian's git
// package, which hack/ci-deps.sh installs).
func gitHTTPBackend(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/lib/git-core/git-http-backend"}
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		candidates = append(candidates, filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return c
		}
	}
	t.Fatalf("git-http-backend not found (looked at %v): install git (Debian package git; hack/ci-deps.sh does it)", candidates)
	return ""
}

// httpCount records what the git HTTP server saw.
type httpCount struct {
	mu       sync.Mutex
	requests []string // "GET /fleet/info/refs?service=git-upload-pack 200"
	bytesIn  int64    // request bodies
	bytesOut int64    // response bodies
}

func (c *httpCount) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests, c.bytesIn, c.bytesOut = nil, 0, 0
}

func (c *httpCount) snapshot() ([]string, int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.requests...), c.bytesIn, c.bytesOut
}

type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (w *countingWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

type countingBody struct {
	r interface {
		Read([]byte) (int, error)
		Close() error
	}
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}
func (b *countingBody) Close() error { return b.r.Close() }

// gitHTTPServer serves the repositories under root with git http-backend (CGI), behind basic auth
// that requires token as the password, and counts requests and bytes.
func gitHTTPServer(t *testing.T, root, token string, useTLS bool) (*httptest.Server, *httpCount) {
	t.Helper()
	backend := &cgi.Handler{
		Path: gitHTTPBackend(t),
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + t.TempDir(),
		},
		InheritEnv: []string{"PATH"},
	}
	count := &httpCount{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		body := &countingBody{r: r.Body}
		r.Body = body
		defer func() {
			count.mu.Lock()
			count.requests = append(count.requests, fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), cw.status))
			count.bytesIn += body.n
			count.bytesOut += cw.n
			count.mu.Unlock()
		}()
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			cw.Header().Set("WWW-Authenticate", `Basic realm="fleet"`)
			http.Error(cw, "token required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(cw, r)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are part of the tests
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, count
}

func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	return p
}

func TestHTTPSWithToken(t *testing.T) {
	const token = "glpat-Zx81TokenValue"
	root := t.TempDir()
	r := newTestRepo(t, root)
	r.commit("first", filesA)
	b := r.commit("add a VM", filesB)
	srv, count := gitHTTPServer(t, root, token, true)
	ca := writeCA(t, srv)
	url := srv.URL + "/fleet"
	spec := Spec{URL: url, CacheDir: t.TempDir(), CAFile: ca, Auth: Auth{Password: token}, Timeout: 30 * time.Second}

	// First use: a clone.
	rev := fetch(t, spec)
	assert.Equal(t, b.String(), rev.Commit)
	assert.Equal(t, "refs/heads/main", rev.Ref)
	assert.True(t, rev.Fetched)
	assert.Equal(t, filesA["fleet.cue"], readTree(t, rev.Dir)["fleet.cue"])
	reqs, in, out := count.snapshot()
	t.Logf("clone: %d requests %v, %d bytes up, %d bytes down", len(reqs), reqs, in, out)
	assert.Contains(t, strings.Join(reqs, "\n"), "POST /fleet/git-upload-pack 200")

	// No new commit: only the refs are asked for.
	count.reset()
	again := fetch(t, spec)
	assert.False(t, again.Fetched)
	assert.Equal(t, rev.Dir, again.Dir)
	reqs, in, out = count.snapshot()
	t.Logf("no-change fetch: %d request(s) %v, %d bytes up, %d bytes down", len(reqs), reqs, in, out)
	assert.Equal(t, []string{"GET /fleet/info/refs?service=git-upload-pack 200"}, reqs, "a no-change fetch is one ref advertisement, no upload-pack POST")
	assert.Zero(t, in)
	assert.Less(t, out, int64(1024), "the ref advertisement of a two-ref repository is a few hundred bytes")

	// A new commit: refs, then a pack.
	count.reset()
	c := r.commit("third", map[string]string{"README": "x\n"})
	rev = fetch(t, spec)
	assert.Equal(t, c.String(), rev.Commit)
	assert.True(t, rev.Fetched)
	assert.Equal(t, b.String(), rev.Previous)
	reqs, in, out = count.snapshot()
	t.Logf("one-commit fetch: %d requests %v, %d bytes up, %d bytes down", len(reqs), reqs, in, out)
	assert.Contains(t, strings.Join(reqs, "\n"), "POST /fleet/git-upload-pack 200")

	// The token in the URL's userinfo works too and never shows.
	viaURL := spec
	viaURL.Auth = Auth{}
	viaURL.URL = strings.Replace(url, "https://", "https://git:"+token+"@", 1)
	assert.Equal(t, c.String(), fetch(t, viaURL).Commit)

	// Wrong token: refused, and the error does not carry it.
	for _, wrong := range []Spec{
		{URL: url, CacheDir: t.TempDir(), CAFile: ca, Auth: Auth{Password: "wrong-token-123"}},
		{URL: strings.Replace(url, "https://", "https://git:wrong-token-123@", 1), CacheDir: t.TempDir(), CAFile: ca},
	} {
		err := fetchErr(t, wrong)
		t.Logf("wrong token: %v", err)
		assert.ErrorIs(t, err, ErrAuthentication)
		assert.Contains(t, err.Error(), "git source "+url+": authentication failed: the server refused the credentials")
		requireNoSecret(t, err.Error(), "wrong-token-123", token)
	}
	// No token.
	err := fetchErr(t, Spec{URL: url, CacheDir: t.TempDir(), CAFile: ca})
	assert.ErrorIs(t, err, ErrAuthentication)
	assert.Contains(t, err.Error(), "none were given")
	// The test CA not given: the server's certificate is not trusted (and that is not "unreachable").
	err = fetchErr(t, Spec{URL: url, CacheDir: t.TempDir(), Auth: Auth{Password: token}})
	t.Logf("no CA: %v", err)
	assert.NotErrorIs(t, err, ErrUnreachable)
	assert.Contains(t, err.Error(), "TLS certificate of the server not trusted")
	requireNoSecret(t, err.Error(), token)

	// Wrong token on a warm cache: still an error, not a stale revision.
	warmWrong := spec
	warmWrong.Auth.Password = "wrong-token-123"
	err = fetchErr(t, warmWrong)
	assert.ErrorIs(t, err, ErrAuthentication)
}

func TestHTTPUnreachableKeepsLastGoodRevision(t *testing.T) {
	const token = "t0ken-for-http"
	root := t.TempDir()
	r := newTestRepo(t, root)
	r.commit("first", filesA)
	b := r.commit("add a VM", filesB)
	srv, _ := gitHTTPServer(t, root, token, false)
	cache := t.TempDir()
	spec := Spec{URL: srv.URL + "/fleet", CacheDir: cache, Auth: Auth{Password: token}, AllowInsecureHTTP: true, Timeout: 20 * time.Second}
	good := fetch(t, spec)
	require.Equal(t, b.String(), good.Commit)
	want := readTree(t, good.Dir)

	srv.Close()
	r.commit("never seen", map[string]string{"README": "x\n"})
	stale := fetch(t, spec)
	t.Logf("stale: %s", stale.StaleReason)
	assert.True(t, stale.Stale)
	assert.Equal(t, b.String(), stale.Commit, "the last good commit")
	assert.Equal(t, good.Dir, stale.Dir)
	assert.Equal(t, want, readTree(t, stale.Dir), "the last good checkout is intact")
	assert.False(t, stale.Fetched)
	assert.Contains(t, stale.StaleReason, "remote unreachable")
	assert.Contains(t, stale.StaleReason, "connection refused")
	assert.Contains(t, stale.StaleReason, "serving the last good revision")
	requireNoSecret(t, stale.StaleReason, token)

	// Another ref never fetched has no cached revision: an error.
	other := spec
	other.Ref = "tag:v9"
	err := fetchErr(t, other)
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.Contains(t, err.Error(), "no cached revision")

	// Without a cache at all: an error.
	fresh := spec
	fresh.CacheDir = t.TempDir()
	err = fetchErr(t, fresh)
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.Contains(t, err.Error(), "connection refused")
}

// A remote that accepts connections and never answers: the Spec's Timeout makes it unreachable, over
// HTTP and over SSH (whose handshake go-git runs without a context; see ssh_dial.go).
func TestTimeoutCountsAsUnreachable(t *testing.T) {
	const token = "t0ken"
	root := t.TempDir()
	r := newTestRepo(t, root)
	b := r.commit("first", filesA)

	t.Run("http", func(t *testing.T) {
		srv, _ := gitHTTPServer(t, root, token, false)
		cache := t.TempDir()
		good := fetch(t, Spec{URL: srv.URL + "/fleet", CacheDir: cache, Auth: Auth{Password: token}, AllowInsecureHTTP: true})
		require.Equal(t, b.String(), good.Commit)
		srv.Close()
		silentListener(t, strings.TrimPrefix(srv.URL, "http://"))

		start := time.Now()
		stale := fetch(t, Spec{URL: srv.URL + "/fleet", CacheDir: cache, Auth: Auth{Password: token}, AllowInsecureHTTP: true, Timeout: 500 * time.Millisecond})
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.True(t, stale.Stale)
		assert.Equal(t, b.String(), stale.Commit)
		assert.Contains(t, stale.StaleReason, "no answer within 500ms")
	})

	t.Run("ssh", func(t *testing.T) {
		key, pub := sshClientKey(t, "")
		srv := startSSHServer(t, root, pub)
		spec := Spec{URL: "ssh://" + srv.addr + "/fleet", CacheDir: t.TempDir(),
			Auth: Auth{SSHKeyFile: key, KnownHostsFile: writeKnownHosts(t, srv.addr, srv.hostKey)}}
		good := fetch(t, spec)
		require.Equal(t, b.String(), good.Commit)
		srv.stop()
		silentListener(t, srv.addr)

		spec.Timeout = 500 * time.Millisecond
		start := time.Now()
		stale := fetch(t, spec)
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.True(t, stale.Stale)
		assert.Equal(t, b.String(), stale.Commit)
		assert.Contains(t, stale.StaleReason, "no answer within 500ms")

		spec.CacheDir = t.TempDir()
		start = time.Now()
		err := fetchErr(t, spec)
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.ErrorIs(t, err, ErrUnreachable)
	})
}

// silentListener listens on addr (a just-closed server's) and holds every connection open without a
// word until the test ends.
func silentListener(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err, "re-listening on the closed server's address")
	var conns sync.WaitGroup
	done := make(chan struct{})
	conns.Add(1) // the accept loop: no Add can race with the final Wait
	go func() {
		defer conns.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); <-done; c.Close() }()
		}
	}()
	t.Cleanup(func() { l.Close(); close(done); conns.Wait() })
}

// Credentials are never sent over plain http unless AllowInsecureHTTP says so: the Spec is refused
// before any request, naming the URL without them. Without credentials (a public repository) plain
// http is not refused.
func TestCredentialsRefusedOverPlainHTTP(t *testing.T) {
	const token = "glpat-Pl41nHttpT0ken"
	root := t.TempDir()
	r := newTestRepo(t, root)
	b := r.commit("first", filesA)
	srv, count := gitHTTPServer(t, root, token, false)
	url := srv.URL + "/fleet"
	bare := strings.TrimPrefix(url, "http://")
	want := "git source " + url + ": credentials refused over plain http: they would cross the network in clear text " +
		"(use https, or AllowInsecureHTTP (--allow-insecure-http) for a local test server)"

	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"a token", Spec{URL: url, Auth: Auth{Password: token}}},
		{"a username and a token", Spec{URL: url, Auth: Auth{Username: "deploy", Password: token}}},
		{"a username alone", Spec{URL: url, Auth: Auth{Username: "deploy"}}},
		{"a token in the URL", Spec{URL: "http://git:" + token + "@" + bare}},
		{"a token as the URL's user", Spec{URL: "http://" + token + "@" + bare}},
		{"an upper-case scheme", Spec{URL: "HTTP://" + bare, Auth: Auth{Password: token}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			count.reset()
			tc.spec.CacheDir = t.TempDir()
			err := fetchErr(t, tc.spec)
			assert.Equal(t, want, err.Error())
			requireNoSecret(t, err.Error(), token, "deploy")
			reqs, _, _ := count.snapshot()
			assert.Empty(t, reqs, "refused before any request")
		})
	}

	t.Run("allowed with AllowInsecureHTTP", func(t *testing.T) {
		count.reset()
		rev := fetch(t, Spec{URL: url, CacheDir: t.TempDir(), Auth: Auth{Password: token}, AllowInsecureHTTP: true})
		assert.Equal(t, b.String(), rev.Commit)
		reqs, _, _ := count.snapshot()
		assert.Contains(t, strings.Join(reqs, "\n"), "POST /fleet/git-upload-pack 200")
	})

	t.Run("no credentials: plain http is not refused", func(t *testing.T) {
		count.reset()
		err := fetchErr(t, Spec{URL: url, CacheDir: t.TempDir()})
		assert.ErrorIs(t, err, ErrAuthentication, "the server asked for credentials")
		assert.Contains(t, err.Error(), "none were given")
		reqs, _, _ := count.snapshot()
		assert.NotEmpty(t, reqs)
	})
}
