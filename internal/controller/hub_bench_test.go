package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/hubjoin"
)

// BenchmarkHubHeartbeats: the hub's cost of pull clusters. 1,000 simulated agents (goroutines of the
// test, each with its own credential from hubjoin.Join: its ServiceAccount's token, its Role) write
// their FleetCluster's status into one real API server, where the controller runs as a process. The
// heartbeat period is shortened from the agent's default 30 s to 5 s (six times the load) and the
// Offline threshold from 90 s to 15 s, to keep the run short. It prints the controller's RSS, the API
// writes per heartbeat (from the API server's apiserver_request_total: every write of FleetClusters by
// anyone, over the heartbeats sent in a steady window; 1 means the controller writes nothing back),
// and how long after their last heartbeat the stopped agents were marked Offline (must be within the
// threshold + 10 s).
func BenchmarkHubHeartbeats(b *testing.B) {
	const (
		agents       = 1000
		period       = 5 * time.Second
		offlineAfter = 15 * time.Second
		stopped      = 100
	)
	env := startClusters(b)
	admin := env.Cluster("mgmt").Config()
	mgmt := clientOf(b, admin)
	ctx := b.Context()
	setup(b, env, mgmt)
	r := newRepo(b)
	for i := range agents {
		name := fmt.Sprintf("agent-%04d", i)
		dir := filepath.Join(r.dir, "clusters", name)
		require.NoError(b, os.MkdirAll(dir, 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(fmt.Sprintf(
			"package fleet\n\ncluster: {\n\tname: %q\n\tkind: \"edge\"\n\tmode: \"pull\"\n\tlabels: tier: \"edge\"\n}\n", name)), 0o644))
	}
	rev := "main@sha1:" + r.commit("1,000 pull clusters")
	ctl := startController(b, env, "--agent-offline-after", offlineAfter.String())
	hour := metav1.Duration{Duration: time.Hour}
	require.NoError(b, mgmt.Create(ctx, &fleetv1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: fleetName, Namespace: namespace},
		Spec:       fleetv1.FleetSpec{Source: fleetv1.GitSource{URL: r.url(), Ref: &fleetv1.GitRef{Branch: "main"}}, Interval: &hour},
	}))

	// Each agent's credential, as `vmo-cue hub join` makes it.
	joinStart := time.Now()
	cfgs := make([]*rest.Config, agents)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	fast := rest.CopyConfig(admin)
	fast.QPS, fast.Burst = 500, 1000
	joiner, err := client.New(fast, client.Options{Scheme: scheme})
	require.NoError(b, err)
	cs, err := kubernetes.NewForConfig(fast)
	require.NoError(b, err)
	for i := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := hubjoin.JoinWith(ctx, joiner, cs, fast, hubjoin.Options{Namespace: namespace, Fleet: fleetName, Cluster: fmt.Sprintf("agent-%04d", i), TokenDuration: time.Hour})
			if err != nil {
				b.Error(err)
				return
			}
			cfg, err := restConfigOf(res.Kubeconfig)
			if err != nil {
				b.Error(err)
				return
			}
			cfgs[i] = cfg
		}()
	}
	wg.Wait()
	require.False(b, b.Failed())
	b.Logf("%d agents joined in %s", agents, time.Since(joinStart).Round(time.Millisecond))

	// The agents: one merge patch of their status per period, from the start (before their
	// FleetCluster exists, the patch fails and is not counted).
	var sent atomic.Int64
	lastBeat := make([]atomic.Int64, agents)
	stops := make([]chan struct{}, agents)
	var agentsDone sync.WaitGroup
	for i := range agents {
		stops[i] = make(chan struct{})
		// Its own credential; the API's mapping shared (no discovery per agent).
		c, err := client.New(cfgs[i], client.Options{Scheme: scheme, Mapper: mgmt.RESTMapper()})
		require.NoError(b, err)
		name := fmt.Sprintf("%s.agent-%04d", fleetName, i)
		agentsDone.Add(1)
		go func() {
			defer agentsDone.Done()
			time.Sleep(time.Duration(i) * period / agents) // spread over the period
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
				body, _ := json.Marshal(map[string]any{"status": map[string]any{"state": "InSync", "revision": rev,
					"lastHeartbeatTime": now, "lastSeenTime": now, "lastSyncTime": now, "message": "applied"}})
				fc := &fleetv1.FleetCluster{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
				if err := c.Status().Patch(context.Background(), fc, client.RawPatch(types.MergePatchType, body)); err == nil {
					sent.Add(1)
					lastBeat[i].Store(now.Unix())
				}
				select {
				case <-stops[i]:
					return
				case <-tick.C:
				}
			}
		}()
	}
	defer func() {
		for i := range agents {
			select {
			case <-stops[i]:
			default:
				close(stops[i])
			}
		}
		agentsDone.Wait()
	}()

	readyStart := time.Now()
	f := &fleetv1.Fleet{}
	require.Eventually(b, func() bool {
		if mgmt.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fleetName}, f) != nil {
			return false
		}
		return conditions.IsReady(f) && f.Status.Clusters.InSync == agents
	}, 10*time.Minute, time.Second, "Ready with %d clusters in sync; last %+v", agents, f.Status.Clusters)
	b.Logf("Fleet Ready with %d pull clusters in sync %s after the agents started", agents, time.Since(readyStart).Round(time.Millisecond))

	// A steady window: every write to FleetClusters, by anyone, over the heartbeats sent.
	time.Sleep(period)
	writes0, sent0 := fleetClusterWrites(b, admin), sent.Load()
	time.Sleep(3 * period)
	writes, beats := fleetClusterWrites(b, admin)-writes0, sent.Load()-sent0
	perBeat := float64(writes) / float64(beats)
	rss, hwm := procStatus(b, ctl.cmd.Process.Pid, "VmRSS"), procStatus(b, ctl.cmd.Process.Pid, "VmHWM")

	// Stop some agents; watch their FleetClusters turn Offline.
	wc, err := client.NewWithWatch(admin, client.Options{Scheme: scheme})
	require.NoError(b, err)
	w, err := wc.Watch(ctx, &fleetv1.FleetClusterList{}, client.InNamespace(namespace))
	require.NoError(b, err)
	defer w.Stop()
	for i := range stopped {
		close(stops[i])
	}
	offlineAt := map[string]time.Time{}
	deadline := time.After(offlineAfter + time.Minute)
	for len(offlineAt) < stopped {
		select {
		case ev := <-w.ResultChan():
			fc, ok := ev.Object.(*fleetv1.FleetCluster)
			if ok && ev.Type == watch.Modified && fc.Status.State == fleetv1.StateOffline && offlineAt[fc.Name].IsZero() {
				offlineAt[fc.Name] = time.Now()
			}
		case <-deadline:
			b.Fatalf("%d of %d stopped agents marked Offline within %s", len(offlineAt), stopped, offlineAfter+time.Minute)
		}
	}
	var worst time.Duration
	for i := range stopped {
		at := offlineAt[fmt.Sprintf("%s.agent-%04d", fleetName, i)]
		if d := at.Sub(time.Unix(lastBeat[i].Load(), 0)); d > worst {
			worst = d
		}
	}
	b.ReportMetric(float64(rss)/1024, "controller_rss_MiB")
	b.ReportMetric(float64(hwm)/1024, "controller_rss_peak_MiB")
	b.ReportMetric(perBeat, "writes/heartbeat")
	b.ReportMetric(worst.Seconds(), "offline_after_last_heartbeat_s")
	b.Logf("%d agents, a heartbeat every %s: controller RSS %d MiB (peak %d MiB); %d FleetCluster writes for %d heartbeats in %s = %.3f writes per heartbeat; "+
		"%d stopped agents Offline at most %s after their last heartbeat (threshold %s, bound %s)",
		agents, period, rss/1024, hwm/1024, writes, beats, 3*period, perBeat, stopped, worst.Round(10*time.Millisecond), offlineAfter, offlineAfter+10*time.Second)
	require.Less(b, worst, offlineAfter+10*time.Second)
	for b.Loop() {
	}
}

// fleetClusterWrites sums the API server's count of writes (every verb but reads) to FleetClusters
// and their status, by anyone.
func fleetClusterWrites(b testing.TB, cfg *rest.Config) int64 {
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(b, err)
	data, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(b.Context())
	require.NoError(b, err)
	var n float64
	for _, verb := range []string{"PATCH", "POST", "PUT", "DELETE", "APPLY"} {
		v, _ := sample(string(data), "apiserver_request_total", map[string]string{"resource": "fleetclusters", "verb": verb})
		n += v
	}
	return int64(n)
}

func restConfigOf(kubeconfig []byte) (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // each agent writes once a period: no client-side limit needed
	return cfg, nil
}
