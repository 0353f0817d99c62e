package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// recorder watches fake targets: when each Connect and Sync ran, and how many ran at once.
type recorder struct {
	mu                     sync.Mutex
	syncs                  int
	maxSyncs, maxConnects  int
	syncStart, syncEnd     map[string]time.Time
	connectEnd             map[string]time.Time
	synced                 []string
	connectNow, syncingNow int
}

func newRecorder() *recorder {
	return &recorder{syncStart: map[string]time.Time{}, syncEnd: map[string]time.Time{}, connectEnd: map[string]time.Time{}}
}

// fakeTarget is a Target for the scheduler's unit tests: Connect waits connectDelay and returns
// connectErr; Sync waits syncDelay and answers state.
type fakeTarget struct {
	name         string
	connectDelay time.Duration
	connectErr   error
	syncDelay    time.Duration
	state        clusterstatus.State
	awaiting     bool
	rec          *recorder
}

func (f *fakeTarget) Name() string { return f.name }

func (f *fakeTarget) Connect(ctx context.Context) error {
	r := f.rec
	r.mu.Lock()
	r.connectNow++
	r.maxConnects = max(r.maxConnects, r.connectNow)
	r.mu.Unlock()
	time.Sleep(f.connectDelay)
	r.mu.Lock()
	r.connectNow--
	r.connectEnd[f.name] = time.Now()
	r.mu.Unlock()
	return f.connectErr
}

func (f *fakeTarget) Sync(ctx context.Context) fleet.Outcome {
	r := f.rec
	r.mu.Lock()
	r.syncingNow++
	r.syncs++
	r.maxSyncs = max(r.maxSyncs, r.syncingNow)
	r.syncStart[f.name] = time.Now()
	r.synced = append(r.synced, f.name)
	r.mu.Unlock()
	time.Sleep(f.syncDelay)
	r.mu.Lock()
	r.syncingNow--
	r.syncEnd[f.name] = time.Now()
	r.mu.Unlock()
	st := f.state
	if st == "" {
		st = clusterstatus.Synced
	}
	return fleet.Outcome{State: st, Changed: st == clusterstatus.Synced, Message: "fake", Awaiting: f.awaiting}
}

func (r *recorder) syncedSorted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.synced...)
	sort.Strings(out)
	return out
}

// wave builds a wave of fake targets named <wave>-<i>; edit lets a test change some of them.
func wave(rec *recorder, name string, n int, delay time.Duration, edit func(i int, t *fakeTarget)) fleet.Wave {
	w := fleet.Wave{Name: name}
	for i := range n {
		t := &fakeTarget{name: fmt.Sprintf("%s-%d", name, i), syncDelay: delay, rec: rec}
		if edit != nil {
			edit(i, t)
		}
		w.Targets = append(w.Targets, t)
	}
	return w
}

func byCluster(outs []fleet.Outcome) map[string]fleet.Outcome {
	m := map[string]fleet.Outcome{}
	for _, o := range outs {
		m[o.Cluster] = o
	}
	return m
}

func TestRunSyncsWavesInOrder(t *testing.T) {
	rec := newRecorder()
	waves := []fleet.Wave{
		wave(rec, "canary", 1, 30*time.Millisecond, nil),
		wave(rec, "edge", 4, 20*time.Millisecond, func(i int, t *fakeTarget) { t.syncDelay += time.Duration(i) * 10 * time.Millisecond }),
		wave(rec, "dc", 3, 10*time.Millisecond, nil),
	}
	var mu sync.Mutex
	var progress []fleet.Outcome
	outs := fleet.Run(context.Background(), waves, fleet.Schedule{MaxConcurrent: 4, Progress: func(o fleet.Outcome) {
		mu.Lock()
		progress = append(progress, o)
		mu.Unlock()
	}})

	require.Len(t, outs, 8)
	for _, o := range outs {
		assert.Equal(t, clusterstatus.Synced, o.State, o.Cluster)
		assert.True(t, o.Changed)
		assert.Equal(t, o.Cluster[:strings.LastIndex(o.Cluster, "-")], o.Wave, "outcome names its wave")
		assert.False(t, o.Started.IsZero())
		assert.Positive(t, o.Took)
	}
	// Every cluster of a wave ended before any cluster of the next one started.
	for i := 1; i < len(waves); i++ {
		var lastEnd time.Time
		for _, tg := range waves[i-1].Targets {
			if e := rec.syncEnd[tg.Name()]; e.After(lastEnd) {
				lastEnd = e
			}
		}
		for _, tg := range waves[i].Targets {
			assert.True(t, rec.syncStart[tg.Name()].After(lastEnd), "%s started before wave %s ended", tg.Name(), waves[i-1].Name)
		}
	}
	// Progress: Syncing, then the result, for every cluster.
	seen := map[string][]clusterstatus.State{}
	for _, o := range progress {
		seen[o.Cluster] = append(seen[o.Cluster], o.State)
	}
	for _, o := range outs {
		assert.Equal(t, []clusterstatus.State{clusterstatus.Syncing, clusterstatus.Synced}, seen[o.Cluster], o.Cluster)
	}
}

// A Failed or Interrupted cluster (one lost after its writes began: partly applied) holds later waves.
func TestRunFailedWaveHoldsLaterWaves(t *testing.T) {
	for _, failure := range []clusterstatus.State{clusterstatus.Failed, clusterstatus.Interrupted} {
		t.Run(string(failure), func(t *testing.T) {
			rec := newRecorder()
			waves := []fleet.Wave{
				wave(rec, "canary", 1, 0, nil),
				wave(rec, "edge", 3, 20*time.Millisecond, func(i int, t *fakeTarget) {
					if i == 1 {
						t.state = failure
						t.syncDelay = 0 // fails first: the others of its wave still finish
					}
				}),
				wave(rec, "dc-west", 2, 0, nil),
				wave(rec, "dc-east", 1, 0, nil),
			}
			outs := byCluster(fleet.Run(context.Background(), waves, fleet.Schedule{MaxConcurrent: 4}))

			assert.Equal(t, clusterstatus.Synced, outs["canary-0"].State)
			assert.Equal(t, failure, outs["edge-1"].State)
			assert.Equal(t, clusterstatus.Synced, outs["edge-0"].State, "the rest of the failing wave completes")
			assert.Equal(t, clusterstatus.Synced, outs["edge-2"].State)
			for _, n := range []string{"dc-west-0", "dc-west-1", "dc-east-0"} {
				assert.Equal(t, clusterstatus.Held, outs[n].State, n)
				assert.Contains(t, outs[n].Message, "edge", "a held cluster names the wave that failed")
				assert.False(t, outs[n].Changed)
			}
			assert.Equal(t, []string{"canary-0", "edge-0", "edge-1", "edge-2"}, rec.syncedSorted(), "held clusters were never synced")
			assert.Len(t, outs, 7)
		})
	}
}

// A cluster released the revision but not yet at it (a pull cluster whose agent has not reported)
// holds later waves without failing them: they are Held, saying which clusters they wait for.
func TestRunAwaitingClusterHoldsLaterWaves(t *testing.T) {
	rec := newRecorder()
	waves := []fleet.Wave{
		wave(rec, "canary", 2, 0, func(i int, t *fakeTarget) {
			if i == 1 {
				t.state, t.awaiting = clusterstatus.Syncing, true
			}
		}),
		wave(rec, "rest", 2, 0, nil),
	}
	outs := byCluster(fleet.Run(context.Background(), waves, fleet.Schedule{MaxConcurrent: 4}))
	assert.Equal(t, clusterstatus.Synced, outs["canary-0"].State)
	assert.Equal(t, clusterstatus.Syncing, outs["canary-1"].State)
	for _, n := range []string{"rest-0", "rest-1"} {
		assert.Equal(t, clusterstatus.Held, outs[n].State, n)
		assert.Equal(t, "rollout waiting for wave canary: canary-1 not yet at the revision", outs[n].Message)
	}
	assert.Equal(t, []string{"canary-0", "canary-1"}, rec.syncedSorted())
}

// A sync succeeds (exit 0) only when every cluster is in sync, synced, or offline (not reached,
// nothing written).
func TestReportOK(t *testing.T) {
	for _, tc := range []struct {
		state clusterstatus.State
		ok    bool
	}{
		{clusterstatus.InSync, true}, {clusterstatus.Synced, true}, {clusterstatus.Offline, true},
		{clusterstatus.Interrupted, false}, {clusterstatus.Failed, false}, {clusterstatus.Held, false}, {clusterstatus.Invalid, false},
		{clusterstatus.Syncing, false}, {clusterstatus.Drifted, false},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			rep := &fleet.Report{Outcomes: []fleet.Outcome{{Cluster: "a", State: clusterstatus.InSync}, {Cluster: "b", State: tc.state}}}
			assert.Equal(t, tc.ok, rep.OK())
		})
	}
}

func TestRunOfflineAndInvalidDoNotFailAWave(t *testing.T) {
	rec := newRecorder()
	waves := []fleet.Wave{
		wave(rec, "canary", 2, 0, func(i int, t *fakeTarget) {
			if i == 0 {
				t.connectErr = &fleet.OfflineError{Err: errors.New("dial tcp: connection refused")}
			}
		}),
		wave(rec, "edge", 2, 0, func(i int, t *fakeTarget) {
			if i == 0 {
				t.state = clusterstatus.Invalid
			}
		}),
		wave(rec, "dc", 1, 0, nil),
	}
	outs := byCluster(fleet.Run(context.Background(), waves, fleet.Schedule{MaxConcurrent: 2}))

	assert.Equal(t, clusterstatus.Offline, outs["canary-0"].State)
	assert.Contains(t, outs["canary-0"].Message, "connection refused")
	assert.Equal(t, clusterstatus.Synced, outs["canary-1"].State)
	assert.Equal(t, clusterstatus.Invalid, outs["edge-0"].State)
	assert.Equal(t, clusterstatus.Synced, outs["edge-1"].State)
	assert.Equal(t, clusterstatus.Synced, outs["dc-0"].State, "neither Offline nor Invalid stops the rollout")
	assert.NotContains(t, rec.syncedSorted(), "canary-0", "an offline cluster is not synced")

	// A connection error that is not "unreachable" (a broken kubeconfig context) is a failure.
	rec = newRecorder()
	waves = []fleet.Wave{
		wave(rec, "canary", 1, 0, func(_ int, t *fakeTarget) { t.connectErr = errors.New(`kubeconfig context "x": not found`) }),
		wave(rec, "edge", 1, 0, nil),
	}
	outs = byCluster(fleet.Run(context.Background(), waves, fleet.Schedule{}))
	assert.Equal(t, clusterstatus.Failed, outs["canary-0"].State)
	assert.Equal(t, clusterstatus.Held, outs["edge-0"].State)
}

func TestRunNeverExceedsMaxConcurrent(t *testing.T) {
	for _, limit := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			rec := newRecorder()
			waves := []fleet.Wave{
				wave(rec, "a", 25, 15*time.Millisecond, nil),
				wave(rec, "b", 2, 15*time.Millisecond, nil),
				wave(rec, "c", 17, 15*time.Millisecond, func(i int, t *fakeTarget) { t.syncDelay += time.Duration(i%4) * time.Millisecond }),
			}
			outs := fleet.Run(context.Background(), waves, fleet.Schedule{MaxConcurrent: limit})
			assert.Len(t, outs, 44)
			assert.Equal(t, 44, rec.syncs)
			assert.LessOrEqual(t, rec.maxSyncs, limit, "clusters changed at once")
			assert.Equal(t, limit, rec.maxSyncs, "the bound is used, not only respected")
		})
	}
}

func TestRunOfflineConnectsAreParallelAndHoldNoChangeSlot(t *testing.T) {
	const connectTimeout = time.Second
	rec := newRecorder()
	// 10 unreachable sites, each taking the whole connection timeout, mixed with 10 reachable ones;
	// one change at a time.
	w := wave(rec, "edge", 20, 20*time.Millisecond, func(i int, t *fakeTarget) {
		if i%2 == 0 {
			t.connectDelay = connectTimeout
			t.connectErr = &fleet.OfflineError{Err: errors.New("i/o timeout")}
		}
	})
	start := time.Now()
	outs := fleet.Run(context.Background(), []fleet.Wave{w}, fleet.Schedule{MaxConcurrent: 1})
	took := time.Since(start)

	var offline, synced int
	var lastSync time.Time
	for _, o := range outs {
		switch o.State {
		case clusterstatus.Offline:
			offline++
			assert.Less(t, o.Took, connectTimeout+500*time.Millisecond, "an offline site costs its connection timeout")
		case clusterstatus.Synced:
			synced++
			if e := rec.syncEnd[o.Cluster]; e.After(lastSync) {
				lastSync = e
			}
		}
	}
	assert.Equal(t, 10, offline)
	assert.Equal(t, 10, synced)
	assert.Equal(t, 1, rec.maxSyncs)
	// The checks ran side by side, not one after the other...
	assert.GreaterOrEqual(t, rec.maxConnects, 10, "connection checks in flight at once")
	assert.Less(t, took, 2*connectTimeout, "10 offline sites cost one connection timeout, not ten")
	// ...and the reachable sites, one at a time (10 × 20 ms), were all done before any unreachable
	// one gave up: a pending check never held the only change slot.
	var firstOffline time.Time
	for i := 0; i < 20; i += 2 {
		e := rec.connectEnd[fmt.Sprintf("edge-%d", i)]
		if firstOffline.IsZero() || e.Before(firstOffline) {
			firstOffline = e
		}
	}
	assert.True(t, lastSync.Before(firstOffline), "reachable sites synced while unreachable ones were being checked (last sync %s after start, first offline %s)",
		lastSync.Sub(start), firstOffline.Sub(start))
}

func TestRunConnectConcurrencyBoundsChecks(t *testing.T) {
	rec := newRecorder()
	w := wave(rec, "edge", 30, 0, func(_ int, t *fakeTarget) { t.connectDelay = 10 * time.Millisecond })
	fleet.Run(context.Background(), []fleet.Wave{w}, fleet.Schedule{MaxConcurrent: 30, ConnectConcurrency: 5})
	assert.LessOrEqual(t, rec.maxConnects, 5)
	assert.Equal(t, 30, rec.syncs)
}

func TestPlanWaves(t *testing.T) {
	c := func(name string, kv ...string) fleet.Labeled {
		l := fleet.Labeled{Name: name, Labels: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			l.Labels[kv[i]] = kv[i+1]
		}
		return l
	}
	example := []fleet.Labeled{
		c("dc-east", "tier", "datacenter", "site", "ash1"),
		c("dc-west", "tier", "datacenter", "site", "sjc2"),
		c("edge-factory-1", "tier", "edge"),
		c("edge-store-1", "tier", "edge", "rollout", "canary"),
		c("edge-store-2", "tier", "edge"),
	}
	tests := []struct {
		name     string
		clusters []fleet.Labeled
		canary   map[string]string
		specs    []fleet.WaveSpec
		want     [][]string
	}{{
		name:     "example fleet: canary, edge, then each data centre",
		clusters: example,
		canary:   map[string]string{"rollout": "canary"},
		specs: []fleet.WaveSpec{
			{Name: "edge", Selector: map[string]string{"tier": "edge"}},
			{Name: "dc-west", Selector: map[string]string{"site": "sjc2"}},
			{Name: "dc-east", Selector: map[string]string{"site": "ash1"}},
		},
		want: [][]string{{"edge-store-1"}, {"edge-factory-1", "edge-store-2"}, {"dc-west"}, {"dc-east"}, nil},
	}, {
		name:     "leftovers form the last wave",
		clusters: example,
		canary:   map[string]string{"rollout": "canary"},
		specs:    []fleet.WaveSpec{{Name: "dc-west", Selector: map[string]string{"site": "sjc2"}}},
		want:     [][]string{{"edge-store-1"}, {"dc-west"}, {"dc-east", "edge-factory-1", "edge-store-2"}},
	}, {
		name:     "no canary: the canary wave is empty, declared waves follow",
		clusters: example,
		specs:    []fleet.WaveSpec{{Name: "edge", Selector: map[string]string{"tier": "edge"}}},
		want:     [][]string{nil, {"edge-factory-1", "edge-store-1", "edge-store-2"}, {"dc-east", "dc-west"}},
	}, {
		name:     "a canary matching nothing gives an empty first wave",
		clusters: example,
		canary:   map[string]string{"rollout": "nobody"},
		want:     [][]string{nil, {"dc-east", "dc-west", "edge-factory-1", "edge-store-1", "edge-store-2"}},
	}, {
		name:     "a cluster matching two selectors goes to the first wave that takes it",
		clusters: example,
		canary:   map[string]string{"rollout": "canary"},
		specs: []fleet.WaveSpec{
			{Name: "us-east", Selector: map[string]string{"site": "ash1"}},
			{Name: "datacenters", Selector: map[string]string{"tier": "datacenter"}},
			{Name: "edge", Selector: map[string]string{"tier": "edge"}},
		},
		want: [][]string{{"edge-store-1"}, {"dc-east"}, {"dc-west"}, {"edge-factory-1", "edge-store-2"}, nil},
	}, {
		name:     "a selector needs every label",
		clusters: example,
		specs:    []fleet.WaveSpec{{Name: "w", Selector: map[string]string{"tier": "edge", "rollout": "canary"}}},
		want:     [][]string{nil, {"edge-store-1"}, {"dc-east", "dc-west", "edge-factory-1", "edge-store-2"}},
	}, {
		name:     "shares of the remaining clusters, rounded up, in name order",
		clusters: numbered(10),
		canary:   map[string]string{"canary": "yes"},
		specs:    []fleet.WaveSpec{{Name: "ten-percent", Share: 0.1}, {Name: "half", Share: 0.5}, {Name: "all", Share: 1}},
		// canary c03; 10% of 9 → 1 (c00); half of 8 → 4 (c01 c02 c04 c05); all of 4 → 4.
		want: [][]string{{"c03"}, {"c00"}, {"c01", "c02", "c04", "c05"}, {"c06", "c07", "c08", "c09"}, nil},
	}, {
		name:     "a share rounds up: a third of 4 is 2",
		clusters: numbered(4)[:4],
		specs:    []fleet.WaveSpec{{Name: "third", Share: 1.0 / 3}},
		want:     [][]string{nil, {"c00", "c01"}, {"c02", "c03"}},
	}, {
		name:     "a wave with neither selector nor share takes the rest",
		clusters: example,
		canary:   map[string]string{"rollout": "canary"},
		specs:    []fleet.WaveSpec{{Name: "everything"}, {Name: "late", Selector: map[string]string{"tier": "edge"}}},
		want:     [][]string{{"edge-store-1"}, {"dc-east", "dc-west", "edge-factory-1", "edge-store-2"}, nil, nil},
	}, {
		name: "no clusters",
		specs: []fleet.WaveSpec{
			{Name: "edge", Selector: map[string]string{"tier": "edge"}},
			{Name: "half", Share: 0.5},
		},
		want: [][]string{nil, nil, nil, nil},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]fleet.Labeled(nil), tc.clusters...)
			got := fleet.PlanWaves(in, tc.canary, tc.specs)
			assert.Equal(t, tc.want, got)
			names := fleet.WaveNames(tc.specs)
			require.Len(t, names, len(got), "one name per planned wave")
			assert.Equal(t, "canary", names[0])
			assert.Equal(t, "rest", names[len(names)-1])
			// Every cluster is in exactly one wave.
			seen := map[string]int{}
			for _, w := range got {
				for _, n := range w {
					seen[n]++
				}
			}
			assert.Len(t, seen, len(tc.clusters))
			for n, k := range seen {
				assert.Equal(t, 1, k, n)
			}
			assert.Equal(t, tc.clusters, in, "the input is not reordered")
		})
	}
}

// numbered returns clusters c00..c<n-1>, in reverse order, c03 labelled canary.
func numbered(n int) []fleet.Labeled {
	var out []fleet.Labeled
	for i := n - 1; i >= 0; i-- {
		l := fleet.Labeled{Name: fmt.Sprintf("c%02d", i), Labels: map[string]string{}}
		if i == 3 {
			l.Labels["canary"] = "yes"
		}
		out = append(out, l)
	}
	return out
}

// TestCanaryFailureStopsRollout: with real clusters, a canary that is not healthy within the rollout's
// health timeout stops the rollout before the next wave, and nothing is written to the held clusters.
// The test API servers have no kubelet: the operators' Deployments never become Available, so kstatus
// (the example fleet's health mode) finds the canary unhealthy once the timeout, 3 s here, is over.
func TestCanaryFailureStopsRollout(t *testing.T) {
	dir := copyFleet(t)
	edit(t, filepath.Join(dir, "fleet.cue"), `healthTimeout: "5m"`, `healthTimeout: "3s"`)
	env := testcluster.StartWithCRDs(t, edgeClusters...)
	ctx := context.Background()

	start := time.Now()
	rep, err := fleet.Sync(ctx, fleet.Options{Dir: dir, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: edgeOnly,
		ConnectTimeout: 3 * time.Second, Progress: logProgress(t)})
	took := time.Since(start)
	require.NoError(t, err)
	require.Empty(t, rep.FleetErrors)
	outs := outcomes(rep)
	require.Len(t, outs, 3)

	canary := outs["edge-store-1"]
	assert.Equal(t, "canary", canary.Wave)
	assert.Equal(t, clusterstatus.Failed, canary.State, canary.Message)
	assert.Contains(t, canary.Message, "not healthy within 3s")
	assert.True(t, canary.Changed, "the canary was written to")
	for _, n := range []string{"edge-store-2", "edge-factory-1"} {
		assert.Equal(t, clusterstatus.Held, outs[n].State, n)
		assert.Equal(t, "edge", outs[n].Wave)
		assert.Contains(t, outs[n].Message, "wave canary failed")
	}
	assert.False(t, rep.OK())
	assert.Less(t, took, time.Minute, "the fleet's 3 s health timeout is used, not the default")

	// The canary records its failure; the held clusters were not touched at all.
	s, found, err := clusterstatus.Read(ctx, connect(t, env, "edge-store-1"))
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, clusterstatus.Failed, s.State)
	_, err = readInventory(t, env, "edge-store-1")
	assert.NoError(t, err)
	for _, n := range []string{"edge-store-2", "edge-factory-1"} {
		_, err := readInventory(t, env, n)
		assert.ErrorIs(t, err, inventory.ErrNotFound, n)
		c := connect(t, env, n)
		_, found, err := clusterstatus.Read(ctx, c)
		require.NoError(t, err)
		assert.False(t, found, "%s: no status written", n)
		var written []string
		for _, id := range desiredIDs(t, dir, n) {
			if id.Kind != "CustomResourceDefinition" && exists(t, c, id) { // the harness installs the CRDs
				written = append(written, id.String())
			}
		}
		assert.Empty(t, written, "%s: objects written to a held cluster", n)
	}

	// The retry: the same revision again writes nothing to the canary, but it is still not healthy,
	// so it fails again and the waves stay held (it used to be "InSync" and release them).
	rep, err = fleet.Sync(ctx, fleet.Options{Dir: dir, Revision: "r1", Kubeconfig: env.Kubeconfig, Selector: edgeOnly,
		ConnectTimeout: 3 * time.Second, Progress: logProgress(t)})
	require.NoError(t, err)
	outs = outcomes(rep)
	canary = outs["edge-store-1"]
	assert.Equal(t, clusterstatus.Failed, canary.State, canary.Message)
	assert.False(t, canary.Changed, "nothing to write the second time")
	assert.Contains(t, canary.Message, "not healthy within 3s")
	for _, n := range []string{"edge-store-2", "edge-factory-1"} {
		assert.Equal(t, clusterstatus.Held, outs[n].State, n)
		_, err := readInventory(t, env, n)
		assert.ErrorIs(t, err, inventory.ErrNotFound, "%s: still nothing written", n)
	}
	assert.False(t, rep.OK())
}
