package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// Benchmarks of the agent against a real API server, 1,000 applied objects (the example edge
// cluster's 54 and 946 VMs), the agent run as a process (VMO_CUE_BIN: build it without -race for
// these figures):
//
//	go build -o /tmp/vmo-cue ./cmd/vmo-cue
//	VMO_CUE_BIN=/tmp/vmo-cue go test ./internal/agent -run '^$' -bench . -benchtime 1x -v
//
// BenchmarkDriftLatency: a kubectl-edit-style change to one VM, until the VM is as git says again
// (read every 5 ms), 30 times; the median and p99 against Flux's re-apply at its interval (at least
// 60 s after the change, 30 s on average).
// BenchmarkAgentRSS: the agent's resident memory, idle, with the 1,000 objects watched: total,
// anonymous (its heap) and file-backed (its binary's pages), as /proc/PID/status counts them. The agent
// runs as vmo-cue-agent (`vmo-cue agent` hands over to it) and evaluates in a worker that has ended.

const benchVMs = 946

// benchVMsYAML is n VMs with one CPU socket each.
func benchVMsYAML(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: bench-%04d\nspec:\n  runStrategy: Halted\n"+
			"  template:\n    spec:\n      domain:\n        cpu:\n          sockets: 1\n        memory:\n          guest: 1Gi\n        devices: {}\n", i)
	}
	return b.String()
}

type benchEnv struct {
	agent *agentProc
	edge  clientT
}

func startBench(b *testing.B) *benchEnv {
	b.Helper()
	env := startClusters(b, edge)
	c := clientOf(b, env.Cluster(edge).Config())
	r := newRepo(b)
	r.write("clusters/edge-store-1/vms/bench.yaml", benchVMsYAML(benchVMs))
	rev := r.commit("1,000 objects")
	dir := b.TempDir()
	kc := writeKubeconfig(b, env.Cluster(edge).Config(), "", filepath.Join(dir, "edge.kubeconfig"))
	a := startAgent(b, dir, "--kubeconfig", kc, "--repo", r.url(), "--interval", "1h", "--pending-timeout", "2s", "--fight-max", "0")
	waitLocal(b, c, 3*time.Minute, "InSync", func(s clusterstatus.ClusterStatus) bool {
		return s.State == clusterstatus.InSync && s.Revision == "main@sha1:"+rev
	})
	return &benchEnv{agent: a, edge: c}
}

func BenchmarkDriftLatency(b *testing.B) {
	e := startBench(b)
	var took []time.Duration
	for b.Loop() {
		took = took[:0]
		for i := range 30 {
			name := fmt.Sprintf("bench-%04d", (i*31)%benchVMs)
			start := time.Now()
			kubectlEdit(b, e.edge, name, 4)
			for sockets(b, e.edge, name) != 1 {
				if time.Since(start) > time.Minute {
					b.Fatalf("%s not corrected within a minute", name)
				}
				time.Sleep(5 * time.Millisecond)
			}
			took = append(took, time.Since(start))
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	median, p99 := took[len(took)/2], took[(len(took)*99+99)/100-1]
	b.ReportMetric(median.Seconds(), "median-s")
	b.ReportMetric(p99.Seconds(), "p99-s")
	b.Logf("drift latency, edit to corrected, 1,000 applied objects, %d edits: median %s, p99 %s (targets 1 s, 3 s); Flux re-applies at its interval (≥ 60 s): %.0f× faster at the median",
		len(took), median.Round(time.Millisecond), p99.Round(time.Millisecond), 60/median.Seconds())
}

func BenchmarkAgentRSS(b *testing.B) {
	e := startBench(b)
	var m map[string]int64
	for b.Loop() {
		time.Sleep(5 * time.Second) // idle: the informers' caches filled, nothing to do
		m = procStatus(b, e.agent.cmd.Process.Pid)
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", e.agent.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	if filepath.Base(exe) != "vmo-cue-agent" {
		b.Fatalf("the agent runs as %s, not vmo-cue-agent", exe)
	}
	mib := func(k string) float64 { return float64(m[k]) / (1 << 20) }
	b.ReportMetric(mib("VmRSS"), "rss-MiB")
	b.ReportMetric(mib("RssAnon"), "anon-MiB")
	b.ReportMetric(mib("RssFile"), "file-MiB")
	b.Logf("agent RSS idle, 1,000 objects watched: %.1f MiB = %.1f MiB anonymous (heap, stacks, runtime) + %.1f MiB file-backed (pages of %s: code and tables, clean, shared); "+
		"%.2f× the 64 MiB target; Open Cluster Management's agents, about 568 MB per cluster with all add-ons: %.1f× more",
		mib("VmRSS"), mib("RssAnon"), mib("RssFile"), filepath.Base(exe), mib("VmRSS")/64, 568e6/float64(m["VmRSS"]))
}

// procStatus reads a process's memory figures (VmRSS, RssAnon, RssFile, in bytes) from /proc.
func procStatus(b *testing.B, pid int) map[string]int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.HasSuffix(f[0], ":") {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out[strings.TrimSuffix(f[0], ":")] = kb << 10
			}
		}
	}
	return out
}
