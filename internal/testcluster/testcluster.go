// Package testcluster runs real Kubernetes API servers for tests and for local demos: one etcd and
// one kube-apiserver per cluster, each cluster isolated from the others by its own etcd prefix.
//
// There is no kubelet, scheduler or controller manager: objects are stored, validated (by built-in
// and CRD schemas), admitted and watched as in a real cluster, but no pod ever runs, garbage
// collection does not happen and a deleted namespace stays Terminating. The binaries are built from
// source by `make testenv` (hack/testenv) into $VMO_TESTBIN, by default <repo>/.cache/testbin.
//
// Tests use Start or StartWithCRDs; `make clusters` (hack/clusters) uses StartProcesses.
package testcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// EnvBinDir names the environment variable that points at the folder holding kube-apiserver and etcd.
// The Makefile exports it.
const EnvBinDir = "VMO_TESTBIN"

// Options configure StartProcesses.
type Options struct {
	// Names of the clusters to start, at least one, distinct; each is also its kubeconfig context.
	// Letters, digits, '-', '_' and '.'.
	Names []string
	// Dir holds everything the processes need and write (etcd data, certificates, token files, logs,
	// the kubeconfig). Empty: a new temporary folder that Stop removes. A given Dir is left in place.
	Dir string
	// BinDir holds kube-apiserver and etcd. Empty: BinDir().
	BinDir string
	// CRDs are installed in every cluster; StartProcesses waits until each is Established and its
	// resource served. StackCRDs returns those of the stack.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// ClusterCRDs, by cluster name, replace CRDs for that cluster: a cluster running other KubeVirt
	// and CDI releases has their CRDs (StackCRDsFor).
	ClusterCRDs map[string][]*apiextensionsv1.CustomResourceDefinition
	// Timeout bounds the start of everything, CRDs included. Zero: 2 minutes.
	Timeout time.Duration
	// Logf, if set, receives progress lines (never secrets).
	Logf func(format string, args ...any)
}

// Cluster is one running API server.
type Cluster struct {
	// Name is the cluster's name and its kubeconfig context.
	Name string
	// URL is the API server's address, https://127.0.0.1:<port>.
	URL string
	// EtcdPrefix is where its objects are kept in the shared etcd.
	EtcdPrefix string

	config    *rest.Config
	apiserver *process
}

// Config returns a new admin client configuration for the cluster (member of system:masters).
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Env is a running set of clusters sharing one etcd.
type Env struct {
	// Clusters, in the order of Options.Names.
	Clusters []*Cluster
	// Kubeconfig is the path of a kubeconfig with one context per cluster (named like the cluster;
	// the first cluster is the current context) and admin credentials. Treat it as a secret.
	Kubeconfig string
	// Dir is the folder of the processes' files.
	Dir string
	// StartTime is how long StartProcesses took.
	StartTime time.Duration

	etcd      *process
	etcdURL   string
	removeDir bool
	stopOnce  sync.Once
	stopErr   error
	logf      func(format string, args ...any)
}

// Cluster returns the cluster with that name, or nil.
func (e *Env) Cluster(name string) *Cluster {
	for _, c := range e.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Names returns the names of the clusters, in order.
func (e *Env) Names() []string {
	names := make([]string, len(e.Clusters))
	for i, c := range e.Clusters {
		names[i] = c.Name
	}
	return names
}

// Processes lists the child processes: etcd first, then one kube-apiserver per cluster.
// Each runs in its own process group, whose id is its pid.
func (e *Env) Processes() []ProcessInfo {
	var ps []ProcessInfo
	if e.etcd != nil {
		ps = append(ps, e.etcd.info())
	}
	for _, c := range e.Clusters {
		if c.apiserver != nil {
			ps = append(ps, c.apiserver.info())
		}
	}
	return ps
}

// EtcdExited returns a channel closed when the shared etcd has ended: every cluster is gone then. One
// API server ending takes only its own cluster down (an edge site going offline, in the demo).
func (e *Env) EtcdExited() <-chan struct{} {
	return e.etcd.done
}

func (e *Env) all() []*process {
	var ps []*process
	for _, c := range e.Clusters {
		if c.apiserver != nil {
			ps = append(ps, c.apiserver)
		}
	}
	if e.etcd != nil {
		ps = append(ps, e.etcd)
	}
	return ps
}

// Stop ends every process (their whole process groups) and waits until they are gone; it removes
// Dir if StartProcesses created it. It is safe to call more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var wg sync.WaitGroup
		for _, c := range e.Clusters {
			if c.apiserver != nil {
				wg.Go(func() { c.apiserver.stop() })
			}
		}
		wg.Wait()
		if e.etcd != nil {
			e.etcd.stop()
		}
		var left []string
		for _, p := range e.all() {
			if groupAlive(p.cmd.Process.Pid) {
				left = append(left, fmt.Sprintf("%s (pid %d)", p.name, p.cmd.Process.Pid))
			}
		}
		if len(left) > 0 {
			e.stopErr = fmt.Errorf("testcluster: processes still running after stop: %s", strings.Join(left, ", "))
			return
		}
		if e.removeDir {
			e.stopErr = os.RemoveAll(e.Dir)
		}
	})
	return e.stopErr
}

// Start starts one etcd and one API server per name (default: one cluster, "test"), and stops them
// when the test and its subtests end, whether they pass, fail or panic. It fails the test if the
// binaries are missing (run `make testenv`) or a server does not become ready.
func Start(t testing.TB, names ...string) *Env {
	t.Helper()
	return StartWith(t, Options{Names: names})
}

// StartWithCRDs is Start with the stack's CRDs (StackCRDs) installed and Established in every cluster.
func StartWithCRDs(t testing.TB, names ...string) *Env {
	t.Helper()
	crds, err := StackCRDs()
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	return StartWith(t, Options{Names: names, CRDs: crds})
}

// StartWith is Start with all options. Logf defaults to t.Logf; the measured start time is logged.
func StartWith(t testing.TB, opts Options) *Env {
	t.Helper()
	if len(opts.Names) == 0 {
		opts.Names = []string{"test"}
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	env, err := StartProcesses(context.Background(), opts)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	// Registered after any t.TempDir of the caller, so it runs before those are removed.
	t.Cleanup(func() {
		start := time.Now()
		if err := env.Stop(); err != nil {
			t.Errorf("testcluster: stop: %v", err)
			return
		}
		t.Logf("testcluster: stopped %d clusters in %s", len(env.Clusters), time.Since(start).Round(time.Millisecond))
	})
	t.Logf("testcluster: started %d clusters (%s) in %s", len(env.Clusters), strings.Join(env.Names(), ", "),
		env.StartTime.Round(time.Millisecond))
	return env
}

var validName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// StartProcesses starts one etcd and one kube-apiserver per name, waits until all are ready and the
// CRDs Established, and writes the kubeconfig. The processes keep running after ctx ends: call
// Stop. On error nothing it started is left running.
func StartProcesses(ctx context.Context, opts Options) (env *Env, err error) {
	begin := time.Now()
	if len(opts.Names) == 0 {
		return nil, errors.New("no cluster names")
	}
	seen := map[string]bool{}
	for _, n := range opts.Names {
		if !validName.MatchString(n) {
			return nil, fmt.Errorf("invalid cluster name %q: use letters, digits, '-', '_' and '.'", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("cluster name %q given twice", n)
		}
		seen[n] = true
	}
	bins, err := findBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	crds, err := parseCRDs(opts.CRDs)
	if err != nil {
		return nil, err
	}
	clusterCRDs := map[string][]crd{}
	for name, list := range opts.ClusterCRDs {
		if clusterCRDs[name], err = parseCRDs(list); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}

	env = &Env{Dir: opts.Dir, logf: logf}
	if env.Dir == "" {
		if env.Dir, err = os.MkdirTemp("", "vmo-testcluster-"); err != nil {
			return nil, err
		}
		env.removeDir = true
	} else if err := os.MkdirAll(env.Dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = env.Stop()
			env = nil
		}
	}()

	if err := env.startEtcd(ctx, bins.etcd); err != nil {
		return env, err
	}
	logf("testcluster: etcd ready at %s after %s", env.etcdURL, time.Since(begin).Round(time.Millisecond))

	authority, err := newCA()
	if err != nil {
		return env, err
	}
	env.Clusters = make([]*Cluster, len(opts.Names))
	for i, name := range opts.Names {
		env.Clusters[i] = &Cluster{Name: name, EtcdPrefix: "/vmo-cue-testcluster/" + name}
	}
	errs := make([]error, len(env.Clusters))
	var wg sync.WaitGroup
	for i, c := range env.Clusters {
		wg.Go(func() {
			own, ok := clusterCRDs[c.Name]
			if !ok {
				own = crds
			}
			errs[i] = env.startCluster(ctx, c, bins.apiserver, authority, own, begin)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return env, err
	}
	if err := env.writeKubeconfig(authority); err != nil {
		return env, err
	}
	env.StartTime = time.Since(begin)
	return env, nil
}

type binaries struct{ apiserver, etcd string }

// BinDir is where kube-apiserver and etcd are looked for: $VMO_TESTBIN, else <repo>/.cache/testbin.
func BinDir() string {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d
	}
	if root := repoRoot(); root != "" {
		return filepath.Join(root, ".cache", "testbin")
	}
	return filepath.Join(".cache", "testbin")
}

func findBinaries(dir string) (binaries, error) {
	if dir == "" {
		dir = BinDir()
	}
	b := binaries{apiserver: filepath.Join(dir, "kube-apiserver"), etcd: filepath.Join(dir, "etcd")}
	for _, p := range []string{b.apiserver, b.etcd} {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return b, fmt.Errorf("%s not found: run `make testenv` to build the test API servers "+
				"(or set %s to the folder that holds kube-apiserver and etcd)", p, EnvBinDir)
		}
	}
	return b, nil
}

// repoRoot finds the root of this repository: upwards from the working directory, else from
// this source file.
func repoRoot() string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && regexp.MustCompile(`(?m)^module github\.com/vmo-cue/vmo-cue\s*$`).Match(data) {
				return dir
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return ""
}

func (e *Env) startEtcd(ctx context.Context, bin string) error {
	dir := filepath.Join(e.Dir, "etcd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // another program may take a port we chose
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		dataDir := filepath.Join(dir, "data")
		_ = os.RemoveAll(dataDir)
		args := []string{
			"--name", "vmo-cue-testcluster",
			"--data-dir", dataDir,
			"--listen-client-urls", client,
			"--advertise-client-urls", client,
			"--listen-peer-urls", peer,
			"--initial-advertise-peer-urls", peer,
			"--initial-cluster", "vmo-cue-testcluster=" + peer,
			"--unsafe-no-fsync",
			"--log-level", "warn",
		}
		p, err := startProcess("etcd", bin, args, filepath.Join(dir, "etcd.log"))
		if err != nil {
			return err
		}
		e.etcd = p
		e.etcdURL = client
		lastErr = waitReady(ctx, p, client+"/health", nil, "", func(body string) bool {
			return strings.Contains(body, `"health":"true"`)
		})
		if lastErr == nil {
			return nil
		}
		p.stop()
		e.etcd = nil
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("etcd did not start: %w", lastErr)
}

func (e *Env) startCluster(ctx context.Context, c *Cluster, bin string, authority *ca, crds []crd, begin time.Time) error {
	dir := filepath.Join(e.Dir, "clusters", c.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")
	if err := authority.writeServingCert(certFile, keyFile); err != nil {
		return err
	}
	saPub, saKey, err := writeServiceAccountKey(dir)
	if err != nil {
		return err
	}
	token := newToken()
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(authority.cert)

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // another program may take the port we chose
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		c.URL = "https://127.0.0.1:" + strconv.Itoa(ports[0])
		args := []string{
			"--etcd-servers", e.etcdURL,
			"--etcd-prefix", c.EtcdPrefix,
			"--bind-address", "127.0.0.1",
			"--advertise-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(ports[0]),
			"--cert-dir", dir,
			"--tls-cert-file", certFile,
			"--tls-private-key-file", keyFile,
			"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file", saPub,
			"--service-account-signing-key-file", saKey,
			"--token-auth-file", tokenFile,
			"--authorization-mode", "RBAC",
			"--service-cluster-ip-range", "10.0.0.0/24",
			"--disable-admission-plugins", "ServiceAccount",
			"--allow-privileged",
			"--endpoint-reconciler-type", "none",
		}
		p, err := startProcess("kube-apiserver/"+c.Name, bin, args, filepath.Join(dir, "kube-apiserver.log"))
		if err != nil {
			return err
		}
		c.apiserver = p
		lastErr = waitReady(ctx, p, c.URL+"/readyz", pool, token, func(body string) bool { return body == "ok" })
		if lastErr == nil {
			break
		}
		p.stop()
		c.apiserver = nil
		if ctx.Err() != nil || !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		return fmt.Errorf("cluster %s: kube-apiserver did not become ready: %w", c.Name, lastErr)
	}
	c.config = &rest.Config{
		Host:            c.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: authority.certPEM},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
	}
	e.logf("testcluster: cluster %s ready at %s after %s", c.Name, c.URL, time.Since(begin).Round(time.Millisecond))
	if len(crds) > 0 {
		if err := installCRDs(ctx, c.config, crds); err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		e.logf("testcluster: cluster %s: %d CRDs Established after %s", c.Name, len(crds), time.Since(begin).Round(time.Millisecond))
	}
	return nil
}

// waitReady polls url until ok(body) holds for a 200 answer, the process exits, or ctx ends.
func waitReady(ctx context.Context, p *process, url string, roots *x509.CertPool, token string, ok func(string) bool) error {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Proxy: nil},
	}
	defer client.CloseIdleConnections()
	var last string
	for {
		if exited, werr := p.exited(); exited {
			return fmt.Errorf("%s exited (%v) before it was ready; the end of its log %s:\n%s", p.name, werr, p.logPath, p.logTail(15))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && ok(strings.TrimSpace(string(body))) {
				return nil
			}
			last = fmt.Sprintf("HTTP %d", resp.StatusCode)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (last answer: %s): %w; the end of its log %s:\n%s", p.name, last, ctx.Err(), p.logPath, p.logTail(15))
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeKubeconfig writes one context per cluster, each with its own admin user.
func (e *Env) writeKubeconfig(authority *ca) error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range e.Clusters {
		cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: authority.certPEM}
		cfg.AuthInfos[c.Name+"-admin"] = &clientcmdapi.AuthInfo{Token: c.config.BearerToken}
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name + "-admin"}
	}
	cfg.CurrentContext = e.Clusters[0].Name
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
	return clientcmd.WriteToFile(*cfg, e.Kubeconfig) // mode 0600
}
