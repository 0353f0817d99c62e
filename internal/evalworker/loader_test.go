package evalworker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/evalworker"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// vmoCue is the worker's binary: $VMO_CUE_BIN (make test builds it), else built by TestMain.
var vmoCue string

func TestMain(m *testing.M) {
	vmoCue = os.Getenv("VMO_CUE_BIN")
	if vmoCue == "" {
		dir, err := os.MkdirTemp("", "vmo-cue-evalworker-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		vmoCue = filepath.Join(dir, "vmo-cue")
		build := exec.Command("go", "build", "-o", vmoCue, "../../cmd/vmo-cue")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building vmo-cue:", err)
			os.Exit(2)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// exampleFleet copies the example fleet, with an error in edge-store-2's declaration (a KubeVirt
// version vmo-cue does not know), so that one cluster carries findings.
func exampleFleet(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	require.NoError(t, testfleet.CopyDir("../../fleet", dir))
	f, err := os.OpenFile(filepath.Join(dir, "clusters", "edge-store-2", "cluster.cue"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("\ncluster: stack: kubevirt: featureGates: NoSuchGate: true\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return dir
}

// TestWorkerGivesWhatInProcessGives: the worker's revision — fleet, rollout, every cluster's labels
// and findings (file:line:col), every cluster's rendered objects — is what the in-process loader
// gives, whether the worker evaluates the fleet at once or a cluster at a time (dc-east and dc-west
// share layer-2 domain dc-stretched: their MACs are assigned and checked together all the same, in
// one round, MAC assignment carried from batch to batch); the worker is gone once the revision is
// loaded, and its renders with Close.
func TestWorkerGivesWhatInProcessGives(t *testing.T) {
	dir := exampleFleet(t)
	for _, batch := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			got, stats := sameAsInProcess(t, dir, batch)
			assert.Equal(t, 1, stats.Rounds)
			var withFindings int
			for _, c := range got.Clusters {
				for _, d := range c.Errors {
					withFindings++
					require.NotEmpty(t, d.Positions, d.Message)
					assert.Equal(t, "clusters/edge-store-2/cluster.cue", d.Positions[0].File)
					assert.Positive(t, d.Positions[0].Line, "a line")
				}
			}
			assert.Equal(t, 1, withFindings)
		})
	}
}

// TestWorkerSplitChecks: when a check that spans clusters compares clusters of different batches —
// a MAC written in two clusters of a layer-2 domain, a MAC assigned in one that a later cluster of
// the domain writes, one kubeconfig context for two clusters — the worker evaluates again with the
// groups whole (a second round), and gives what the in-process loader gives.
func TestWorkerSplitChecks(t *testing.T) {
	base := exampleFleet(t)
	whole, err := desired.Load(base, desired.Options{})
	require.NoError(t, err)
	var assignedEast string // a MAC assigned in dc-east, the first cluster of dc-stretched
	for _, vm := range whole.Cluster("dc-east").VMs {
		for _, ifc := range vm.Interfaces {
			if ifc.Assigned != "" && assignedEast == "" {
				assignedEast = ifc.Assigned
			}
		}
	}
	require.NotEmpty(t, assignedEast)
	const dnsWest = "clusters/dc-west/vms/dns-west.yaml"
	tests := []struct {
		name       string
		file, from string
		to         string
		rule       string // a finding the whole fleet's load gives ("": none)
	}{
		{"a MAC written in two clusters of a domain", dnsWest, "0A:58:6E:10:00:53", "0a:58:6e:00:01:01", "mac-unique-l2"},
		{"a MAC assigned in an earlier cluster of the domain", dnsWest, "0A:58:6E:10:00:53", assignedEast, ""},
		{"one context for two clusters", "clusters/edge-store-1/cluster.cue", "cluster: {", "cluster: {\n\tcontext: \"platform-admin@dc-east-prod\"", "cluster-context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fleet")
			require.NoError(t, testfleet.CopyDir(base, dir))
			file := filepath.Join(dir, tt.file)
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Contains(t, string(data), tt.from)
			require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(data), tt.from, tt.to, 1)), 0o644))

			got, stats := sameAsInProcess(t, dir, 1)
			assert.Equal(t, 2, stats.Rounds, "the groups evaluated whole")
			var rules []string
			for _, c := range got.Clusters {
				for _, d := range c.Errors {
					rules = append(rules, c.Name+" "+d.Rule)
				}
			}
			if tt.rule == "" {
				assert.Equal(t, []string{"edge-store-2 feature-gate"}, rules, "valid otherwise")
			} else {
				assert.Contains(t, strings.Join(rules, ","), tt.rule)
			}
		})
	}
}

// sameAsInProcess loads the fleet at dir with a worker of batch clusters and asserts that it gives
// what the in-process loader gives (every cluster's summary, findings and rendered objects); it
// returns the worker's revision (its renders gone) and figures.
func sameAsInProcess(t *testing.T, dir string, batch int) (*fleet.Loaded, evalworker.Stats) {
	t.Helper()
	ctx := t.Context()
	want, err := fleet.InProcess(desired.Options{})(ctx, dir)
	require.NoError(t, err)
	var stats []evalworker.Stats
	got, err := evalworker.Loader(evalworker.Options{Binary: vmoCue, Batch: batch, Observe: func(s evalworker.Stats) { stats = append(stats, s) }})(ctx, dir)
	require.NoError(t, err)
	require.Len(t, stats, 1)
	assert.Empty(t, stats[0].Killed)
	assert.Positive(t, stats[0].PeakRSS)
	assert.True(t, errors.Is(syscall.Kill(stats[0].PID, 0), syscall.ESRCH), "the worker is gone before the rollout")

	assert.Equal(t, want.Fleet, got.Fleet)
	assert.Equal(t, want.Rollout, got.Rollout)
	assert.Empty(t, got.Shared)
	require.Equal(t, want.Clusters, got.Clusters)
	for _, c := range got.Clusters {
		if !c.Valid() {
			continue
		}
		w, err := want.Render(ctx, c.Name)
		require.NoError(t, err)
		g, err := got.Render(ctx, c.Name)
		require.NoError(t, err, c.Name)
		// Objects compare as the JSON that is applied: in this process, numbers from YAML are
		// float64, from the worker int64 (as client-go decodes objects); both encode alike.
		require.Equal(t, objectsJSON(t, w), objectsJSON(t, g), c.Name)
		w.Objects, g.Objects = nil, nil
		require.Equal(t, w, g, c.Name)
	}
	_, err = got.Render(ctx, "no-such-cluster")
	assert.EqualError(t, err, "cluster no-such-cluster: not in the revision")
	require.NoError(t, got.Close())
	_, err = got.Render(ctx, "dc-east")
	assert.EqualError(t, err, "cluster dc-east: not in the revision", "the renders went with Close")
	return got, stats[0]
}

// TestWorkerEvaluationKept: with a cache folder, the evaluation of a revision is kept: loading the
// same revision again starts no worker and gives the same; another revision starts one, and replaces
// what was kept.
func TestWorkerEvaluationKept(t *testing.T) {
	dir := exampleFleet(t)
	ctx := t.Context()
	cache := filepath.Join(t.TempDir(), "evaluations")
	var stats []evalworker.Stats
	o := evalworker.Options{Binary: vmoCue, Batch: 2, CacheDir: cache, Key: "main@sha1:1111", Observe: func(s evalworker.Stats) { stats = append(stats, s) }}
	first, err := evalworker.Loader(o)(ctx, dir)
	require.NoError(t, err)
	require.Len(t, stats, 1)
	assert.False(t, stats[0].Reused)
	assert.Positive(t, stats[0].PID, "a worker ran")
	want, err := first.Render(ctx, "dc-west")
	require.NoError(t, err)
	if first.Close != nil {
		require.NoError(t, first.Close())
	}

	again, err := evalworker.Loader(o)(ctx, dir)
	require.NoError(t, err)
	require.Len(t, stats, 2)
	assert.Equal(t, evalworker.Stats{Reused: true}, stats[1], "no worker for the same revision")
	assert.Equal(t, first.Clusters, again.Clusters)
	got, err := again.Render(ctx, "dc-west")
	require.NoError(t, err)
	assert.Equal(t, objectsJSON(t, want), objectsJSON(t, got))
	kept, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Len(t, kept, 1)

	o.Key = "main@sha1:2222"
	_, err = evalworker.Loader(o)(ctx, dir)
	require.NoError(t, err)
	require.Len(t, stats, 3)
	assert.False(t, stats[2].Reused, "another revision is evaluated")
	now, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Len(t, now, 1, "only the last evaluation is kept")
	assert.NotEqual(t, kept[0].Name(), now[0].Name())
}

func objectsJSON(t *testing.T, d *reconciler.Desired) []string {
	t.Helper()
	out := make([]string, len(d.Objects))
	for i, o := range d.Objects {
		data, err := json.Marshal(o.Object)
		require.NoError(t, err)
		out[i] = string(data)
	}
	return out
}

// TestWorkerSharedErrors: a revision whose shared definitions fail comes back with their findings and
// nothing to render; the worker has already gone.
func TestWorkerSharedErrors(t *testing.T) {
	dir := exampleFleet(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.cue"), []byte("package fleet\n\nfleet: rollout: maxConcurrent: \"four\"\n"), 0o644))
	var stats []evalworker.Stats
	got, err := evalworker.Loader(evalworker.Options{Binary: vmoCue, Observe: func(s evalworker.Stats) { stats = append(stats, s) }})(t.Context(), dir)
	require.NoError(t, err)
	require.NotEmpty(t, got.Shared)
	assert.Equal(t, "broken.cue", got.Shared[0].Positions[0].File)
	assert.Equal(t, 3, got.Shared[0].Positions[0].Line)
	assert.Nil(t, got.Render)
	require.Len(t, stats, 1, "the worker ended with the header")
	assert.True(t, errors.Is(syscall.Kill(stats[0].PID, 0), syscall.ESRCH), "the worker is gone")
}

// TestWorkerKilled: a worker over its resident-memory limit, past its evaluation deadline, or whose
// reconciliation ended, is killed with its process group; the load fails saying why, and nothing
// is left.
func TestWorkerKilled(t *testing.T) {
	tests := []struct {
		name   string
		opts   evalworker.Options
		cancel bool
		want   string
	}{
		{"memory", evalworker.Options{MaxRSS: 16 << 20}, false, `killed: its resident memory reached [0-9.]+MiB, over the limit of 16MiB`},
		{"deadline", evalworker.Options{Deadline: 100 * time.Millisecond}, false, `killed: its evaluation ran past the deadline of 100ms`},
		{"reconciliation ended", evalworker.Options{}, true, `killed: the reconciliation ended \(context canceled\)`},
	}
	dir := exampleFleet(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			var stats []evalworker.Stats
			o := tt.opts
			o.Binary, o.Observe = vmoCue, func(s evalworker.Stats) { stats = append(stats, s) }
			_, err := evalworker.Loader(o)(ctx, dir)
			require.Error(t, err)
			assert.Regexp(t, `^evaluation worker \(pid [0-9]+\): evaluating the revision: `+tt.want, err.Error())
			require.Len(t, stats, 1)
			assert.True(t, strings.HasPrefix(tt.want, "killed: "+stats[0].Killed[:5]), stats[0].Killed)
			assert.True(t, errors.Is(syscall.Kill(stats[0].PID, 0), syscall.ESRCH), "the worker is gone")
		})
	}
}
