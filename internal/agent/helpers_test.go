package agent_test

// Helpers of the agent's tests: real API servers (an edge cluster with the stack's CRDs and a hub
// with the controller's), a fleet repository made with go-git and served as file://, the vmo-cue
// binary run as `vmo-cue agent`, a link to the hub that can be cut, and edits as another field
// manager would make them (kubectl edit).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/deploy"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

const (
	edge      = "edge-store-1"
	hubNS     = "fleets"
	fleetName = "stores"
)

// vmoCue is the binary under test: $VMO_CUE_BIN (make build builds it and vmo-cue-agent beside it,
// which `vmo-cue agent` hands over to), else both built by TestMain.
var vmoCue string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	vmoCue = os.Getenv("VMO_CUE_BIN")
	if vmoCue == "" {
		dir, err := os.MkdirTemp("", "vmo-cue-agent-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(dir)
		vmoCue = filepath.Join(dir, "vmo-cue")
		for _, cmd := range []string{"vmo-cue", "vmo-cue-agent"} {
			build := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "../../cmd/"+cmd)
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n", cmd, err)
				return 2
			}
		}
		// The package's own tests (eval_test.go) start the worker from it too.
		os.Setenv("VMO_CUE_BIN", vmoCue)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(vmoCue), "vmo-cue-agent")); err != nil {
		fmt.Fprintf(os.Stderr, "the agent's binary is not beside $VMO_CUE_BIN (make build builds both; go build -o %s ./cmd/vmo-cue-agent): %v\n",
			filepath.Join(filepath.Dir(vmoCue), "vmo-cue-agent"), err)
		return 2
	}
	return m.Run()
}

// startClusters starts the given clusters, sharing one etcd, each with the stack's CRDs and the
// controller's (a hub is any of them).
func startClusters(t testing.TB, names ...string) *testcluster.Env {
	t.Helper()
	stack, err := testcluster.StackCRDs()
	require.NoError(t, err)
	ours, err := deploy.CRDs()
	require.NoError(t, err)
	crds := append(append([]*apiextensionsv1.CustomResourceDefinition{}, stack...), ours...)
	return testcluster.StartWith(t, testcluster.Options{Names: names, CRDs: crds})
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

// writeKubeconfig writes a kubeconfig reaching cfg's API server at server (its own address if "").
func writeKubeconfig(t testing.TB, cfg *rest.Config, server, path string) string {
	t.Helper()
	if server == "" {
		server = cfg.Host
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["c"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, Impersonate: cfg.Impersonate.UserName, ImpersonateGroups: cfg.Impersonate.Groups}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "c"}
	kc.CurrentContext = "c"
	data, err := clientcmd.Write(*kc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// repo is a fleet repository (go-git) on the local disk, the agent's remote as file://.
type repo struct {
	t    testing.TB
	dir  string
	wt   *git.Worktree
	tick time.Time
}

// newRepo makes a repository from the example fleet narrowed to edge-store-1, with the rollout's
// health "accepted" (no operator runs in the test API servers to make objects healthy).
func newRepo(t testing.TB) *repo {
	t.Helper()
	r := newRepoOf(t, edge)
	r.edit("fleet.cue", "\tmaxConcurrent: 4\n", "\tmaxConcurrent: 4\n\thealth: \"accepted\"\n")
	return r
}

// newRepoOf makes a repository from the example fleet narrowed to the given clusters, its health
// check kstatus as the example's.
func newRepoOf(t testing.TB, clusters ...string) *repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	require.NoError(t, testfleet.CopyDir("../../fleet", dir))
	entries, err := os.ReadDir(filepath.Join(dir, "clusters"))
	require.NoError(t, err)
	for _, e := range entries {
		if !slices.Contains(clusters, e.Name()) {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "clusters", e.Name())))
		}
	}
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	require.NoError(t, err)
	wt, err := g.Worktree()
	require.NoError(t, err)
	return &repo{t: t, dir: dir, wt: wt, tick: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
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

// write writes a file of the repository.
func (r *repo) write(file, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, file)
	require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(r.t, os.WriteFile(p, []byte(content), 0o644))
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

// agentProc is a `vmo-cue agent` process.
type agentProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startAgent runs `vmo-cue agent --cluster edge-store-1` with the given arguments (the edge's
// kubeconfig, the source, ...), its log in dir; it is stopped when the test ends and its log shown
// if the test failed.
func startAgent(t testing.TB, dir string, args ...string) *agentProc {
	t.Helper()
	return startAgentOf(t, dir, edge, args...)
}

// startAgentOf is startAgent for the given cluster.
func startAgentOf(t testing.TB, dir, cluster string, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{t: t, log: filepath.Join(dir, fmt.Sprintf("agent-%s-%d.log", cluster, time.Now().UnixNano())), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	require.NoError(t, err)
	defer logFile.Close()
	p.cmd = exec.Command(vmoCue, append([]string{"agent", "--cluster", cluster, "--cache-dir", filepath.Join(dir, "cache")}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if t.Failed() {
			// Where it stands: Go prints every goroutine's stack on SIGQUIT.
			_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGQUIT)
			select {
			case <-p.done:
			case <-time.After(2 * time.Second):
			}
		}
		p.stop()
		data, _ := os.ReadFile(p.log)
		if strings.Contains(string(data), "WARNING: DATA RACE") {
			t.Errorf("the agent (built with -race) found a data race")
		}
		if t.Failed() {
			t.Logf("agent log (%s):\n%s", p.log, tail(string(data), 5000))
		}
	})
	return p
}

// stop ends the agent: SIGTERM, then SIGKILL after 10 s.
func (p *agentProc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// kill ends the agent at once (SIGKILL), as a crash would.
func (p *agentProc) kill() {
	p.t.Helper()
	require.NoError(p.t, syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
	<-p.done
}

// count returns how many lines of the log contain s.
func (p *agentProc) count(s string) int {
	data, _ := os.ReadFile(p.log)
	return strings.Count(string(data), s)
}

func (p *agentProc) logText() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var vmGVK = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"}

// getVM reads a VM of the edge (nil if absent).
func getVM(t testing.TB, c client.Client, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(vmGVK)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: name}, u); err != nil {
		return nil
	}
	return u
}

// sockets returns the VM's CPU sockets (-1 if the VM or the field is absent).
func sockets(t testing.TB, c client.Client, name string) int64 {
	t.Helper()
	u := getVM(t, c, name)
	if u == nil {
		return -1
	}
	n, ok, _ := unstructured.NestedInt64(u.Object, "spec", "template", "spec", "domain", "cpu", "sockets")
	if !ok {
		return -1
	}
	return n
}

// kubectlEdit changes the VM's CPU sockets as `kubectl edit` does: a merge patch by field manager
// kubectl-edit, which takes the field from vmo-cue.
func kubectlEdit(t testing.TB, c client.Client, name string, n int64) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(vmGVK)
	u.SetNamespace("vms")
	u.SetName(name)
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"domain":{"cpu":{"sockets":%d}}}}}}`, n)
	require.NoError(t, c.Patch(context.Background(), u, client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner("kubectl-edit")))
}

// localStatus reads the status the agent recorded in the edge cluster.
func localStatus(t testing.TB, c client.Client) clusterstatus.ClusterStatus {
	t.Helper()
	s, _, err := clusterstatus.Read(context.Background(), c)
	require.NoError(t, err)
	return s
}

// waitLocal waits until the edge's recorded status satisfies ok.
func waitLocal(t testing.TB, c client.Client, timeout time.Duration, what string, ok func(s clusterstatus.ClusterStatus) bool) clusterstatus.ClusterStatus {
	t.Helper()
	var last clusterstatus.ClusterStatus
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		s, found, err := clusterstatus.Read(context.Background(), c)
		last = s
		if err == nil && found && ok(s) {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last status: %+v", what, timeout, last)
		}
	}
}

// newFleetCluster creates the FleetCluster of edge-store-1 in the hub, in pull mode, with a released
// revision (its namespace too).
func newFleetCluster(t testing.TB, hub client.Client, released string) {
	t.Helper()
	_ = hub.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNS}})
	require.NoError(t, hub.Create(context.Background(), &fleetv1.FleetCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: hubNS, Name: fleetName + "." + edge},
		Spec:       fleetv1.FleetClusterSpec{Fleet: fleetName, Cluster: edge, Mode: fleetv1.ModePull, ReleasedRevision: released},
	}))
}

// fleetCluster reads the FleetCluster of edge-store-1 from the hub.
func fleetCluster(t testing.TB, hub client.Client) *fleetv1.FleetCluster {
	t.Helper()
	fc := &fleetv1.FleetCluster{}
	require.NoError(t, hub.Get(context.Background(), client.ObjectKey{Namespace: hubNS, Name: fleetName + "." + edge}, fc))
	return fc
}

// waitHub waits until the FleetCluster's status satisfies ok.
func waitHub(t testing.TB, hub client.Client, timeout time.Duration, what string, ok func(st fleetv1.FleetClusterStatus) bool) fleetv1.FleetClusterStatus {
	t.Helper()
	var last fleetv1.FleetClusterStatus
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		fc := &fleetv1.FleetCluster{}
		if err := hub.Get(context.Background(), client.ObjectKey{Namespace: hubNS, Name: fleetName + "." + edge}, fc); err == nil {
			last = fc.Status
			if ok(fc.Status) {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last status: %+v", what, timeout, last)
		}
	}
}

// link is a TCP proxy between the agent and the hub that can be cut (every connection closed, new
// ones refused) and restored on the same address: a site's uplink going down and coming back.
type link struct {
	t      testing.TB
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newLink(t testing.TB, target string) *link {
	t.Helper()
	l := &link{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l.addr = ln.Addr().String()
	l.serve(ln)
	t.Cleanup(l.down)
	return l
}

func (l *link) serve(ln net.Listener) {
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.pipe(c)
		}
	}()
}

func (l *link) pipe(c net.Conn) {
	s, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	l.mu.Lock()
	l.conns[c], l.conns[s] = true, true
	l.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

// down cuts the link.
func (l *link) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		c.Close()
	}
	l.conns = map[net.Conn]bool{}
}

// up restores the link on the same address.
func (l *link) up() {
	l.t.Helper()
	ln, err := net.Listen("tcp", l.addr)
	require.NoError(l.t, err)
	l.serve(ln)
}

// url is the link's address as an https URL.
func (l *link) url() string { return "https://" + l.addr }

type clientT = client.Client

// hubT is the hub's address and a writer of kubeconfigs for it.
type hubT struct {
	host       string
	config     *rest.Config
	kubeconfig func(server, path string) string
}

// rest4 copies a client configuration.
func rest4(cfg *rest.Config) *rest.Config { return rest.CopyConfig(cfg) }
