package controller_test

// Helpers of the controller's tests: real API servers (a management cluster and target clusters, one
// etcd), a fleet repository made with go-git, the vmo-cue binary run as `vmo-cue controller`, and
// readers of its metrics, events and webhook receiver.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/deploy"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

const (
	namespace    = "fleets"
	webhookToken = "s3cret-webhook-token"
	gitSecret    = "fleet-git"
)

// vmoCue is the binary under test: $VMO_CUE_BIN (make test builds it), else built by TestMain.
var vmoCue string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	vmoCue = os.Getenv("VMO_CUE_BIN")
	if vmoCue == "" {
		dir, err := os.MkdirTemp("", "vmo-cue-controller-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(dir)
		vmoCue = filepath.Join(dir, "vmo-cue")
		build := exec.Command("go", "build", "-o", vmoCue, "../../cmd/vmo-cue")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building vmo-cue:", err)
			return 2
		}
	}
	return m.Run()
}

// startClusters starts a management API server ("mgmt", with the controller's CRDs) and target
// clusters (with the stack's CRDs), sharing one etcd.
func startClusters(t testing.TB, targets ...string) *testcluster.Env {
	t.Helper()
	return startClustersWithin(t, 0, targets...)
}

// startClustersWithin is startClusters with a longer time to start them (0: the harness's 2
// minutes): a benchmark starts many on a busy machine.
func startClustersWithin(t testing.TB, timeout time.Duration, targets ...string) *testcluster.Env {
	t.Helper()
	stack, err := testcluster.StackCRDs()
	require.NoError(t, err)
	ours, err := deploy.CRDs()
	require.NoError(t, err)
	crds := append(append([]*apiextensionsv1.CustomResourceDefinition{}, stack...), ours...)
	return testcluster.StartWith(t, testcluster.Options{Names: append([]string{"mgmt"}, targets...), CRDs: crds, Timeout: timeout})
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := fleetv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

func clientOf(t testing.TB, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	return c
}

// kubeconfig writes a kubeconfig with a context per cluster (named like it); current is the current
// context.
func kubeconfig(t testing.TB, env *testcluster.Env, current string, names ...string) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for _, n := range names {
		rc := env.Cluster(n).Config()
		cfg.Clusters[n] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
		cfg.AuthInfos[n] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
		cfg.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n}
	}
	cfg.CurrentContext = current
	data, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return data
}

// setup creates the Fleets' namespace, the Secrets of the target clusters (for the last one, a
// kubeconfig with every target's context whose current context is another: the cluster's declared
// context must be the one used) and the git Secret holding the webhook's secret.
func setup(t testing.TB, env *testcluster.Env, mgmt client.Client, targets ...string) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}))
	for i, name := range targets {
		data := kubeconfig(t, env, name, name)
		if i == len(targets)-1 && len(targets) > 1 {
			data = kubeconfig(t, env, targets[0], targets...)
		}
		require.NoError(t, mgmt.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-kubeconfig", Namespace: namespace, Labels: map[string]string{fleetv1.ClusterLabel: name}},
			Data:       map[string][]byte{fleetv1.KubeconfigKey: data},
		}))
	}
	require.NoError(t, mgmt.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: gitSecret, Namespace: namespace},
		Data:       map[string][]byte{"webhook-token": []byte(webhookToken)},
	}))
}

// repo is a fleet repository (go-git) on the local disk: the remote of the Fleets, as file://.
type repo struct {
	t    testing.TB
	dir  string
	wt   *git.Worktree
	tick time.Time
}

// newRepo makes a repository from the example fleet, narrowed to the given clusters, with the
// rollout's health "accepted" (no operator runs in the test API servers to make objects healthy).
func newRepo(t testing.TB, clusters ...string) *repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	require.NoError(t, testfleet.CopyDir("../../fleet", dir))
	keep := map[string]bool{}
	for _, c := range clusters {
		keep[c] = true
	}
	entries, err := os.ReadDir(filepath.Join(dir, "clusters"))
	require.NoError(t, err)
	for _, e := range entries {
		if !keep[e.Name()] {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "clusters", e.Name())))
		}
	}
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	require.NoError(t, err)
	wt, err := g.Worktree()
	require.NoError(t, err)
	r := &repo{t: t, dir: dir, wt: wt, tick: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r.edit("fleet.cue", "\tmaxConcurrent: 4\n", "\tmaxConcurrent: 4\n\thealth: \"accepted\"\n")
	return r
}

func (r *repo) url() string { return "file://" + r.dir }

// edit replaces old by new in a file of the repository; old must occur exactly once.
func (r *repo) edit(file, old, new string) {
	r.t.Helper()
	p := filepath.Join(r.dir, file)
	data, err := os.ReadFile(p)
	require.NoError(r.t, err)
	require.Equal(r.t, 1, bytes.Count(data, []byte(old)), "%q in %s", old, file)
	require.NoError(r.t, os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644))
}

// lineOf returns the line (from 1) where text starts in a file of the repository.
func (r *repo) lineOf(file, text string) int {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.dir, file))
	require.NoError(r.t, err)
	i := bytes.Index(data, []byte(text))
	require.GreaterOrEqual(r.t, i, 0, "%q in %s", text, file)
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// commit commits every change and returns the commit.
func (r *repo) commit(msg string) string {
	r.t.Helper()
	require.NoError(r.t, r.wt.AddWithOptions(&git.AddOptions{All: true}))
	r.tick = r.tick.Add(time.Minute)
	h, err := r.wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "Fleet Admin", Email: "admin@example.com", When: r.tick}, AllowEmptyCommits: true})
	require.NoError(r.t, err)
	return h.String()
}

// freeAddr returns a free TCP address on 127.0.0.1.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// proc is a `vmo-cue controller` process.
type proc struct {
	cmd                      *exec.Cmd
	log                      string
	metrics, probes, webhook string
	done                     chan struct{}
}

// startController runs `vmo-cue controller` against the management cluster, as its admin, with its
// own ports; it is stopped (SIGTERM, then SIGKILL) when the test ends, and its log shown if the test
// failed.
func startController(t testing.TB, env *testcluster.Env, extra ...string) *proc {
	t.Helper()
	return startControllerAs(t, kubeconfig(t, env, "mgmt", "mgmt"), extra...)
}

// startControllerAs is startController with the given kubeconfig of the management cluster.
func startControllerAs(t testing.TB, mgmtKubeconfig []byte, extra ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	kc := filepath.Join(dir, "mgmt.kubeconfig")
	require.NoError(t, os.WriteFile(kc, mgmtKubeconfig, 0o600))
	p := &proc{log: filepath.Join(dir, "controller.log"), metrics: freeAddr(t), probes: freeAddr(t), webhook: freeAddr(t), done: make(chan struct{})}
	args := append([]string{"controller", "--kubeconfig", kc, "--namespace", namespace, "--cache-dir", filepath.Join(dir, "cache"),
		"--metrics-bind-address", p.metrics, "--health-probe-bind-address", p.probes, "--webhook-bind-address", p.webhook,
		"--connect-timeout", "2s", "--pending-timeout", "5s"}, extra...)
	logFile, err := os.Create(p.log)
	require.NoError(t, err)
	defer logFile.Close()
	p.cmd = exec.Command(vmoCue, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		data, _ := os.ReadFile(p.log)
		if strings.Contains(string(data), "WARNING: DATA RACE") {
			t.Errorf("the controller (built with -race) found a data race")
		}
		if t.Failed() {
			t.Logf("controller log (%s):\n%s", p.log, tail(string(data), 60))
		}
	})
	ready := func() bool {
		resp, err := http.Get("http://" + p.probes + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case <-p.done:
			data, _ := os.ReadFile(p.log)
			t.Fatalf("the controller exited:\n%s", tail(string(data), 40))
		case <-time.After(100 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the controller's /readyz did not answer 200 within a minute")
	}
	return p
}

// stop ends the controller: SIGTERM, then SIGKILL after 10 s.
func (p *proc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// kill ends the controller at once (SIGKILL), as a crash would.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	require.NoError(t, syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
	<-p.done
}

// logAfter reports whether the controller's log has a line containing second after the last line
// containing first.
func (p *proc) logAfter(t testing.TB, first, second string) bool {
	t.Helper()
	data, err := os.ReadFile(p.log)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	last := -1
	for i, l := range lines {
		if strings.Contains(l, first) {
			last = i
		}
	}
	if last < 0 {
		return false
	}
	for _, l := range lines[last+1:] {
		if strings.Contains(l, second) {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) get(t testing.TB, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// hook posts a push payload to the receiver with the given headers and returns the answer.
func (p *proc) hook(t testing.TB, path string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+p.webhook+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer))
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func pushPayload(ref string) []byte {
	return []byte(fmt.Sprintf(`{"ref":%q,"before":"0000000000000000000000000000000000000000","repository":{"full_name":"corp/fleet"}}`, ref))
}

// metric returns the value of a sample of the controller's /metrics whose labels include the given
// ones (false if there is none).
func (p *proc) metric(t testing.TB, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	code, text := p.get(t, p.metrics, "/metrics")
	require.Equal(t, http.StatusOK, code, text)
	return sample(text, name, labels)
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

func sample(text, name string, labels map[string]string) (float64, bool) {
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		have := map[string]string{}
		if rest[0] == '{' {
			end := strings.LastIndex(rest, "}")
			for _, m := range labelRE.FindAllStringSubmatch(rest[:end], -1) {
				have[m[1]] = m[2]
			}
			rest = rest[end+1:]
		}
		ok := true
		for k, v := range labels {
			if have[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// events lists the events of an object of the namespace, as "Type Reason: message".
func events(t testing.TB, c client.Client, name string) []string {
	t.Helper()
	var list corev1.EventList
	require.NoError(t, c.List(context.Background(), &list, client.InNamespace(namespace)))
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e.Type+" "+e.Reason+": "+e.Message)
		}
	}
	return out
}

// hasEvent reports whether an event of the object starts with prefix ("Type Reason: ...") and
// contains every part.
func hasEvent(t testing.TB, c client.Client, name, prefix string, parts ...string) bool {
	t.Helper()
	for _, e := range events(t, c, name) {
		if !strings.HasPrefix(e, prefix) {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// killAPIServer kills a cluster's kube-apiserver (its process group, SIGKILL) and waits until it is
// gone: the cluster is unreachable, connections are refused.
func killAPIServer(t testing.TB, env *testcluster.Env, cluster string) {
	t.Helper()
	for _, p := range env.Processes() {
		if p.Name == "kube-apiserver/"+cluster {
			require.NoError(t, syscall.Kill(-p.Pid, syscall.SIGKILL))
			require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-p.Pid, 0), syscall.ESRCH) },
				10*time.Second, 10*time.Millisecond)
			return
		}
	}
	t.Fatalf("no kube-apiserver for %s", cluster)
}
