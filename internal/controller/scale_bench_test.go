package controller_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

// fluxRSS is Flux's figure the issue compares with: kustomize-controller at 175 MiB for 1,000
// Kustomizations.
const fluxRSS = 175.0

// BenchmarkControllerScale runs `vmo-cue controller` (a process, with its evaluation worker) against
// a Fleet of N SIMULATED clusters (N = 10, 100, 1,000; VMO_BENCH_SIMULATED="10,100,1000") and 10 real
// ones (real kube-apiservers; VMO_BENCH_REAL), 5 VMs per cluster (internal/genfleet, YAML). A simulated
// cluster is what reconciler/fleet's simulatedCluster models as offline: its Secret's kubeconfig
// points at an endpoint that accepts connections and never answers, so it costs the controller its
// connection timeout (1 s here), its credentials, its FleetCluster and its state, like a site that is
// away. For each N, a fresh controller (--eval-batch VMO_BENCH_EVAL_BATCH, 25 by default as the
// controller's; 0 is the design before batches; --eval-worker-gomemlimit VMO_BENCH_WORKER_GOMEMLIMIT
// if set; VMO_BENCH_CONTROLLER_ARGS, more flags, e.g. "--kube-api-qps 1000 --kube-api-burst 2000"; VMO_BENCH_PPROF, a folder, gets its heap profile at rest): the first pass (the real clusters get everything, the simulated ones go
// Offline), then a second of the same revision (its evaluation kept: no worker; the real ones in
// sync, the simulated ones in backoff), then the pod at rest.
//
// The pod's memory is sampled every 50 ms as a container's is counted: the controller's and its
// worker's anonymous memory, and the pages of files once (both map the one binary). It prints, per
// N: the pod's peak and its steady state (after the passes: the controller alone), the controller's
// and the worker's peak RSS, both passes' times and CPU (the controller's and its workers': the
// machine may be busy) and the time and CPU per cluster; from each N to the next, the ratios of the
// time and CPU per cluster (linear growth: near 1) and of the memory; and the pod's figures against
// Flux's 175 MiB for 1,000 Kustomizations. It fails when the pod's peak at 1,000 is 200 MiB or more.
//
//	make bench-controller
func BenchmarkControllerScale(b *testing.B) {
	nReal := envInt(b, "VMO_BENCH_REAL", 10)
	batch := envInt(b, "VMO_BENCH_EVAL_BATCH", 25)    // the controller's default
	goMem := os.Getenv("VMO_BENCH_WORKER_GOMEMLIMIT") // --eval-worker-gomemlimit; empty: the default
	counts := []int{10, 100, 1000}
	if v := os.Getenv("VMO_BENCH_SIMULATED"); v != "" {
		counts = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			require.NoError(b, err)
			counts = append(counts, n)
		}
	}
	var real []string
	for i := range nReal {
		real = append(real, fmt.Sprintf("c-%03d", i))
	}
	started := time.Now()
	env := startClustersWithin(b, 10*time.Minute, real...)
	b.Logf("%d real clusters and the management cluster started in %s", nReal, time.Since(started).Round(time.Second))
	mgmt := clientOf(b, env.Cluster("mgmt").Config())
	setup(b, env, mgmt, real...)
	hole := blackhole(b)

	type figures struct {
		n                       int
		pod1, ctl1, worker1     float64 // MiB, peaks of the first pass
		pod2, ctl2, worker2     float64 // MiB, peaks of the second
		podSteady, ctlSteady    float64 // MiB, at rest after the passes
		pass1, pass2            time.Duration
		cpu1, cpu2              time.Duration // CPU of the controller and its workers in each pass
		eval1, eval2            string
		sync1, record1          string // the first pass's rollout (evaluation included) and record, from its "reconciled" line
		sync2, record2          string // the second's
		inSync, offline, others int32
	}
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	var rows []figures
	for b.Loop() {
		rows = rows[:0]
		for _, n := range counts {
			secrets := simulatedSecrets(b, mgmt, hole, nReal, n)
			r := generatedRepo(b, nReal+n)
			// The evaluation of 1,000 clusters on a busy 2-core machine may take more than the default
			// 10 minutes: the passes have the Fleet's timeout (30 minutes).
			args := []string{"--connect-timeout", "1s", "--eval-batch", strconv.Itoa(batch), "--eval-deadline", "30m"}
			if goMem != "" {
				args = append(args, "--eval-worker-gomemlimit", goMem)
			}
			args = append(args, strings.Fields(os.Getenv("VMO_BENCH_CONTROLLER_ARGS"))...)
			pprofDir := os.Getenv("VMO_BENCH_PPROF") // a folder: the controller's heap profile at rest goes there
			var pprofAddr string
			if pprofDir != "" {
				pprofAddr = freeAddr(b)
				args = append(args, "--pprof-bind-address", pprofAddr)
			}
			ctl := startController(b, env, args...)
			mem := samplePod(ctl.cmd.Process.Pid)
			hour := metav1.Duration{Duration: time.Hour}
			start, cpu := time.Now(), podCPU(ctl.cmd.Process.Pid)
			require.NoError(b, mgmt.Create(b.Context(), &fleetv1.Fleet{
				ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
				Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}}, Interval: &hour,
					Timeout: &metav1.Duration{Duration: 30 * time.Minute}},
			}))
			f := waitPass(b, mgmt, "", 30*time.Minute)
			row := figures{n: n, pass1: time.Since(start), cpu1: podCPU(ctl.cmd.Process.Pid) - cpu}
			pod, c, w := mem.peaks()
			row.pod1, row.ctl1, row.worker1 = mib(pod), mib(c), mib(w)
			require.Equal(b, int32(nReal+n), f.Status.Clusters.Total, "%+v", f.Status)
			start, cpu = time.Now(), podCPU(ctl.cmd.Process.Pid)
			requestReconcile(b, mgmt, "pass-2")
			f = waitPass(b, mgmt, "pass-2", 30*time.Minute)
			row.pass2, row.cpu2 = time.Since(start), podCPU(ctl.cmd.Process.Pid)-cpu
			pod, c, w = mem.peaks()
			row.pod2, row.ctl2, row.worker2 = mib(pod), mib(c), mib(w)
			time.Sleep(3 * time.Second)
			mem.close()
			if pprofDir != "" {
				saveHeap(b, pprofAddr, filepath.Join(pprofDir, fmt.Sprintf("heap-%d.pb.gz", n)))
			}
			pod, c, _ = mem.now()
			row.podSteady, row.ctlSteady = mib(pod), mib(c)
			cs := f.Status.Clusters
			row.inSync, row.offline, row.others = cs.InSync, cs.Offline, cs.Total-cs.InSync-cs.Offline
			row.eval1, row.eval2 = "kept", "kept"
			if passes := logLines(b, ctl.log, "reconciled"); len(passes) > 0 {
				row.sync1, row.record1 = passes[0].Sync, passes[0].Record
				if len(passes) > 1 {
					row.sync2, row.record2 = passes[len(passes)-1].Sync, passes[len(passes)-1].Record
				}
			}
			for i, l := range logLines(b, ctl.log, "evaluation worker ended") {
				if i == 0 {
					row.eval1 = l.Evaluation
				} else {
					row.eval2 = l.Evaluation
				}
			}
			rows = append(rows, row)
			b.Logf("%d simulated + %d real (--eval-batch %d): pod peak %.1f MiB (controller %.1f, worker %.1f) in the first pass %s, CPU %s (evaluation %s, sync %s, record %s), %.1f MiB (controller %.1f, worker %.1f) in the second %s, CPU %s (evaluation %s, sync %s, record %s); at rest %.1f MiB (controller %.1f); %d in sync, %d offline, %d otherwise",
				n, nReal, batch, row.pod1, row.ctl1, row.worker1, row.pass1.Round(time.Millisecond), row.cpu1.Round(time.Millisecond), row.eval1, row.sync1, row.record1,
				row.pod2, row.ctl2, row.worker2, row.pass2.Round(time.Millisecond), row.cpu2.Round(time.Millisecond), row.eval2, row.sync2, row.record2,
				row.podSteady, row.ctlSteady, row.inSync, row.offline, row.others)

			require.NoError(b, mgmt.Delete(b.Context(), &fleetv1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace}}))
			require.Eventually(b, func() bool {
				err := mgmt.Get(b.Context(), client.ObjectKey{Namespace: namespace, Name: fleetName}, &fleetv1.Fleet{})
				return err != nil
			}, 5*time.Minute, 200*time.Millisecond, "the Fleet is deleted")
			ctl.stop()
			for _, s := range secrets {
				require.NoError(b, mgmt.Delete(b.Context(), s))
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("--eval-batch %d, --eval-worker-gomemlimit %q (empty: the default), more flags %q; MiB; pod = anonymous memory of the controller and its worker + the binary's pages once; load average %s",
		batch, goMem, os.Getenv("VMO_BENCH_CONTROLLER_ARGS"), strings.Join(strings.Fields(string(load))[:3], " "))
	b.Logf("%-18s %8s %8s %8s %8s %8s %8s %8s %9s %8s %8s %9s %9s", "clusters", "ctl RSS", "wrk peak", "pod peak", "pod rest",
		"pass 1", "per clst", "CPU 1", "CPU/clst", "pass 2", "CPU 2", "peak/Flux", "rest/Flux")
	perCluster := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	for _, r := range rows {
		total := r.n + nReal
		pod := max(r.pod1, r.pod2)
		b.Logf("%-18s %8.1f %8.1f %8.1f %8.1f %8s %6.0fms %8s %7.0fms %8s %8s %8.2f× %8.2f×", fmt.Sprintf("%d sim + %d real", r.n, nReal),
			max(r.ctl1, r.ctl2), max(r.worker1, r.worker2), pod, r.podSteady,
			r.pass1.Round(100*time.Millisecond), perCluster(r.pass1, total), r.cpu1.Round(100*time.Millisecond), perCluster(r.cpu1, total),
			r.pass2.Round(100*time.Millisecond), r.cpu2.Round(100*time.Millisecond), pod/fluxRSS, r.podSteady/fluxRSS)
		b.ReportMetric(pod, fmt.Sprintf("pod_peak_MiB_%d", r.n))
		b.ReportMetric(r.podSteady, fmt.Sprintf("pod_rest_MiB_%d", r.n))
		b.ReportMetric(max(r.ctl1, r.ctl2), fmt.Sprintf("ctl_rss_MiB_%d", r.n))
		b.ReportMetric(max(r.worker1, r.worker2), fmt.Sprintf("worker_rss_MiB_%d", r.n))
		b.ReportMetric(r.pass1.Seconds(), fmt.Sprintf("pass1_s_%d", r.n))
		b.ReportMetric(r.cpu1.Seconds(), fmt.Sprintf("cpu1_s_%d", r.n))
		b.ReportMetric(r.pass2.Seconds(), fmt.Sprintf("pass2_s_%d", r.n))
	}
	// Linear growth: the time (and CPU) per cluster stays about the same from one count to the next
	// (a ratio near 1), the memory grows far less than the clusters.
	for i := 1; i < len(rows); i++ {
		a, z := rows[i-1], rows[i]
		na, nz := a.n+nReal, z.n+nReal
		b.Logf("from %d to %d clusters (×%.1f): per cluster, first pass ×%.2f (CPU ×%.2f), second pass ×%.2f (CPU ×%.2f); pod peak ×%.2f, pod at rest ×%.2f, controller ×%.2f, worker ×%.2f",
			na, nz, float64(nz)/float64(na), perCluster(z.pass1, nz)/perCluster(a.pass1, na), perCluster(z.cpu1, nz)/perCluster(a.cpu1, na),
			perCluster(z.pass2, nz)/perCluster(a.pass2, na), perCluster(z.cpu2, nz)/perCluster(a.cpu2, na),
			max(z.pod1, z.pod2)/max(a.pod1, a.pod2), z.podSteady/a.podSteady, max(z.ctl1, z.ctl2)/max(a.ctl1, a.ctl2), max(z.worker1, z.worker2)/max(a.worker1, a.worker2))
	}
	for _, r := range rows {
		if pod := max(r.pod1, r.pod2); r.n == 1000 && pod >= 200 {
			b.Fatalf("pod peak %.1f MiB with %d clusters: the target is under 200 MiB (%.2f× Flux's %.0f MiB)", pod, r.n+nReal, pod/fluxRSS, fluxRSS)
		}
	}
}

// saveHeap writes the controller's heap profile (after a collection) to file.
func saveHeap(b *testing.B, addr, file string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1")
	require.NoError(b, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(file, data, 0o600))
	b.Logf("heap profile of the controller: %s", file)
}

// podCPU is the CPU time of a process and of its children it has waited for (its workers), from
// /proc/<pid>/stat (utime, stime, cutime, cstime).
func podCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command (in parentheses, which may hold spaces): utime is the 14th field.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, name)
	return n
}

// blackhole is an endpoint that accepts connections and never answers (the connections are held
// until the benchmark ends).
func blackhole(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// simulatedSecrets creates the kubeconfig Secrets of the simulated clusters c-<from>... (n of them),
// each pointing at the black hole (the TLS handshake never starts).
func simulatedSecrets(b *testing.B, mgmt client.Client, hole string, from, n int) []*corev1.Secret {
	b.Helper()
	var out []*corev1.Secret
	for i := from; i < from+n; i++ {
		name := fmt.Sprintf("c-%03d", i)
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: "https://" + hole}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "simulated"}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
		cfg.CurrentContext = name
		data, err := clientcmd.Write(*cfg)
		require.NoError(b, err)
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-kubeconfig", Namespace: namespace, Labels: map[string]string{fleetv1.ClusterLabel: name}},
			Data:       map[string][]byte{fleetv1.KubeconfigKey: data},
		}
		require.NoError(b, mgmt.Create(b.Context(), s))
		out = append(out, s)
	}
	return out
}

// generatedRepo is a git repository of a generated fleet (internal/genfleet) of n clusters with 5
// VMs each, the rollout's health "accepted".
func generatedRepo(b *testing.B, n int) *repo {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "fleet")
	_, err := genfleet.Generate(dir, genfleet.Options{Clusters: n, VMs: 5 * n, Form: genfleet.FormYAML, Seed: 1})
	require.NoError(b, err)
	f, err := os.OpenFile(filepath.Join(dir, "fleet.cue"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(b, err)
	_, err = f.WriteString("\nfleet: rollout: health: \"accepted\"\n")
	require.NoError(b, err)
	require.NoError(b, f.Close())
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	require.NoError(b, err)
	wt, err := g.Worktree()
	require.NoError(b, err)
	r := &repo{t: b, dir: dir, wt: wt, tick: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r.commit(fmt.Sprintf("%d generated clusters", n))
	return r
}

// waitPass waits until a pass has ended: the Fleet has a revision attempted, handled the request
// token (if any), and is not Reconciling.
func waitPass(b *testing.B, mgmt client.Client, token string, timeout time.Duration) *fleetv1.Fleet {
	var f *fleetv1.Fleet
	require.Eventually(b, func() bool {
		f = &fleetv1.Fleet{}
		if err := mgmt.Get(b.Context(), client.ObjectKey{Namespace: namespace, Name: fleetName}, f); err != nil {
			return false
		}
		return f.Status.LastAttemptedRevision != "" && f.Status.LastHandledReconcileAt == token &&
			!conditions.Has(f, meta.ReconcilingCondition) && conditions.Has(f, meta.ReadyCondition) &&
			f.Status.ObservedGeneration == f.Generation
	}, timeout, 50*time.Millisecond, "a pass ends")
	return f
}

// logLine is what the benchmark reads of a line of the controller's log: the worker's figures
// ("evaluation worker ended") and a pass's phases ("reconciled").
type logLine struct {
	Msg        string `json:"msg"`
	Evaluation string `json:"evaluation"`
	Sync       string `json:"sync"`
	Record     string `json:"record"`
}

// logLines reads the JSON lines of a controller's log with the message msg, in order.
func logLines(b *testing.B, log, msg string) []logLine {
	f, err := os.Open(log)
	require.NoError(b, err)
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == msg {
			out = append(out, l)
		}
	}
	return out
}
