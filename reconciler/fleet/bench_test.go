package fleet_test

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// simRun is what one scheduled simulation gave.
type simRun struct {
	wall    time.Duration // Run, start to end
	rest    time.Duration // until the last reachable cluster finished
	byState map[clusterstatus.State]int
}

func runSimulation(s simulation, concurrency int) simRun {
	// One wave: a simulated failure must not stop the rollout (a Failed cluster stops the waves after
	// its own, never its own wave), so every cluster is scheduled and the figure is the scheduler's.
	w := fleet.Wave{Name: "all", Targets: s.targets()}
	var progress atomic.Int64
	start := time.Now()
	outs := fleet.Run(context.Background(), []fleet.Wave{w}, fleet.Schedule{
		MaxConcurrent: concurrency,
		Progress:      func(fleet.Outcome) { progress.Add(1) }, // the CLI prints a line per event
	})
	r := simRun{wall: time.Since(start), byState: map[clusterstatus.State]int{}}
	for _, o := range outs {
		r.byState[o.State]++
		if o.State != clusterstatus.Offline {
			if end := o.Started.Add(o.Took).Sub(start); end > r.rest {
				r.rest = end
			}
		}
	}
	return r
}

// peakMemory samples the heap in use while it runs, and reads the process's peak RSS at the end.
type peakMemory struct {
	stop     chan struct{}
	done     sync.WaitGroup
	heapPeak uint64
}

func watchMemory() *peakMemory {
	m := &peakMemory{stop: make(chan struct{})}
	m.done.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			m.heapPeak = max(m.heapPeak, ms.HeapInuse)
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	})
	return m
}

func (m *peakMemory) end() (heapPeak, heapSys, vmHWM uint64) {
	close(m.stop)
	m.done.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return m.heapPeak, ms.HeapSys, vmHWMBytes()
}

// vmHWMBytes is the peak resident set size of this process (VmHWM in /proc/self/status).
func vmHWMBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkScheduler runs the fleet scheduler over 1,000 SIMULATED clusters (simulatedCluster: a
// stand-in with set latencies and failure rate, no Kubernetes) at 50 changes at once, and reports:
//
//   - total time against the ideal (clusters × per-cluster time ÷ concurrency), target ≤ 1.2×;
//   - peak memory (heap in use, sampled; heap reserved; peak RSS of the process), target ≤ 1 GiB;
//   - with 10% of the clusters offline (each takes the whole connection timeout to fail), the time
//     until the other 900 finish against the time the same 900 take with no offline cluster in the
//     fleet, target ≤ 1.1×.
//
// Scaled times: per-cluster sync 200 ms, connect 20 ms, connection timeout 1 s (the real defaults
// are 5 s and seconds to minutes per sync: the ratios are what is measured). 2% of the syncs fail;
// one wave, so failures do not stop the rollout (a failed wave holds only the waves after it).
//
//	go test -run '^$' -bench BenchmarkScheduler -benchtime 1x ./reconciler/fleet/
func BenchmarkScheduler(b *testing.B) {
	const concurrency = 50
	sim := simulation{clusters: 1000, connectLatency: 20 * time.Millisecond, connectTimeout: time.Second,
		syncTime: 200 * time.Millisecond, failRate: 0.02}
	withOffline := sim
	withOffline.offline = 1 // every tenth cluster
	reachableOnly := sim
	reachableOnly.clusters = 900
	ideal := time.Duration(sim.clusters) * sim.syncTime / concurrency

	var all, off, alone simRun
	var heapPeak, heapSys, hwm uint64
	for b.Loop() {
		mem := watchMemory()
		all = runSimulation(sim, concurrency)
		heapPeak, heapSys, hwm = mem.end()
		off = runSimulation(withOffline, concurrency)
		alone = runSimulation(reachableOnly, concurrency)
	}

	ratio := all.wall.Seconds() / ideal.Seconds()
	offRatio := off.rest.Seconds() / alone.wall.Seconds()
	b.ReportMetric(ideal.Seconds(), "ideal_s")
	b.ReportMetric(all.wall.Seconds(), "total_s")
	b.ReportMetric(ratio, "x_ideal")
	b.ReportMetric(float64(heapPeak)/(1<<20), "heap_peak_MiB")
	b.ReportMetric(float64(heapSys)/(1<<20), "heap_sys_MiB")
	b.ReportMetric(float64(hwm)/(1<<20), "rss_peak_MiB")
	b.ReportMetric(alone.wall.Seconds(), "900_alone_s")
	b.ReportMetric(off.rest.Seconds(), "900_with_100_offline_s")
	b.ReportMetric(off.wall.Seconds(), "with_offline_wall_s")
	b.ReportMetric(offRatio, "x_offline")
	b.ReportMetric(float64(all.byState[clusterstatus.Failed]), "failed")
	b.Logf("1,000 simulated clusters, %d at once: %s (ideal %s, %.3f×), %v; peak heap in use %.1f MiB, heap reserved %.1f MiB, peak RSS %.1f MiB",
		concurrency, all.wall.Round(time.Millisecond), ideal, ratio, all.byState, float64(heapPeak)/(1<<20), float64(heapSys)/(1<<20), float64(hwm)/(1<<20))
	b.Logf("with 100 offline: the other 900 done in %s, the run in %s (offline checks included); the same 900 alone: %s (%.3f×); %v",
		off.rest.Round(time.Millisecond), off.wall.Round(time.Millisecond), alone.wall.Round(time.Millisecond), offRatio, off.byState)

	// Failures did not stop the rollout: every reachable cluster was synced.
	if n := all.byState[clusterstatus.Synced] + all.byState[clusterstatus.Failed]; n != sim.clusters || all.byState[clusterstatus.Failed] == 0 {
		b.Errorf("all reachable clusters scheduled and some simulated failures expected: %v", all.byState)
	}
	if off.byState[clusterstatus.Offline] != 100 || off.byState[clusterstatus.Synced]+off.byState[clusterstatus.Failed] != 900 {
		b.Errorf("with offline clusters: %v", off.byState)
	}
	if ratio > 1.2 {
		b.Errorf("total %s is %.2f× the ideal %s (target ≤ 1.2×)", all.wall, ratio, ideal)
	}
	if offRatio > 1.1 {
		b.Errorf("with 10%% offline the rest took %.2f× the time without them (target ≤ 1.1×)", offRatio)
	}
	if max(heapSys, hwm) > 1<<30 {
		b.Errorf("peak memory %d MiB (target ≤ 1 GiB)", max(heapSys, hwm)>>20)
	}
}

// BenchmarkNoChangeSync: a sync of the example fleet's three edge clusters (real API servers) when
// nothing changed — load and render the fleet, check each cluster (one LIST per kind), record
// nothing new. Target < 1 s. load_s is the part spent reading, evaluating and validating the fleet
// (in a process that already loaded the embedded CUE module once: first_load_s).
//
//	go test -run '^$' -bench BenchmarkNoChangeSync -benchtime 1x ./reconciler/fleet/
func BenchmarkNoChangeSync(b *testing.B) {
	// The first load in a process also loads the embedded CUE module (once per process): what a
	// `vmo-cue sync` command pays on top of the in-process figure.
	coldStart := time.Now()
	_, err := desired.Load(exampleFleet, desired.Options{})
	require.NoError(b, err)
	cold := time.Since(coldStart)
	env := testcluster.StartWithCRDs(b, edgeClusters...)
	ctx := context.Background()
	opts := fleet.Options{Dir: exampleFleet, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: edgeOnly, Health: "accepted",
		ConnectTimeout: 3 * time.Second}
	rep, err := fleet.Sync(ctx, opts)
	require.NoError(b, err)
	require.Equal(b, map[string]clusterstatus.State{"edge-store-1": clusterstatus.Synced, "edge-store-2": clusterstatus.Synced, "edge-factory-1": clusterstatus.Synced}, states(rep))

	var total time.Duration
	n := 0
	for b.Loop() {
		rep, err := fleet.Sync(ctx, opts)
		require.NoError(b, err)
		total += rep.Took
		n++
		require.Equal(b, map[string]clusterstatus.State{"edge-store-1": clusterstatus.InSync, "edge-store-2": clusterstatus.InSync, "edge-factory-1": clusterstatus.InSync}, states(rep))
	}
	b.StopTimer()
	loadStart := time.Now()
	_, err = desired.Load(exampleFleet, desired.Options{})
	require.NoError(b, err)
	load := time.Since(loadStart)

	per := total / time.Duration(n)
	b.ReportMetric(per.Seconds(), "s/sync")
	b.ReportMetric(load.Seconds(), "load_s")
	b.ReportMetric(cold.Seconds(), "first_load_s")
	b.Logf("no-change sync of 3 edge clusters: %s (of which loading the fleet ≈ %s; the first load in a process: %s)",
		per.Round(time.Millisecond), load.Round(time.Millisecond), cold.Round(time.Millisecond))
	if per >= time.Second {
		b.Errorf("no-change sync took %s (target < 1 s)", per)
	}
}
