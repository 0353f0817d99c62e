package engine

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// budgetFleet is the vet base fleet with a third cluster whose file does not even parse: evaluated,
// it reports a syntax error; known to break the budget, only the budget finding.
func budgetFleet(t *testing.T) string {
	return writeFleet(t, filepath.Join("..", "..", "testdata", "vet"), filepath.Join("..", "..", "testdata", "vet", "base"),
		map[string][]byte{"clusters/heavy/cluster.cue": []byte("package fleet\n\ncluster: {name: \"heavy\", kind: \"edge\"\n")})
}

func engineFor(t *testing.T, dir string, b Budget) *Engine {
	repo, err := fleetfs.Read(dir, fleetfs.Options{})
	require.NoError(t, err)
	e, err := New(repo, Options{Budget: b})
	require.NoError(t, err)
	return e
}

func clusterNamed(f *Fleet, name string) *Cluster {
	for _, c := range f.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestKnownFailuresAreNotEvaluatedAgain(t *testing.T) {
	dir := budgetFleet(t)
	probe := engineFor(t, dir, Budget{})
	heavy := Unit{Name: "heavy", e: probe}.Hash()
	shared := Unit{e: probe}.Hash()
	const reason = "evaluation of cluster heavy stopped: it ran past the time budget of 3s (raise it with --eval-timeout)"

	for _, tc := range []struct {
		name      string
		failed    []Failure
		wantHeavy []string // findings of cluster heavy
		wantFleet []string
		evaluated []string // clusters evaluated (the others stand for a stopped evaluation)
	}{
		{"a cluster known to break the budget fails at its files, unevaluated", []Failure{{Unit: "heavy", Hash: heavy, Reason: reason}},
			[]string{reason + " (rule eval-budget):\n    ./clusters/heavy/cluster.cue"}, nil, []string{"dc-1", "edge-1"}},
		{"a changed cluster is evaluated again", []Failure{{Unit: "heavy", Hash: shared, Reason: reason}},
			[]string{"expected '}', found 'EOF' (rule cue-syntax):\n    ./clusters/heavy/cluster.cue:3:39"}, nil, []string{"dc-1", "edge-1", "heavy"}},
		{"shared definitions known to break the budget: no cluster is evaluated", []Failure{{Unit: "", Hash: shared, Reason: "evaluation of the shared definitions stopped"}},
			nil, []string{"evaluation of the shared definitions stopped (rule eval-budget):\n    ./fleet.cue"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := engineFor(t, dir, Budget{Timeout: time.Minute, Known: Known{Reruns: 1, Failed: tc.failed}}).Evaluate()
			require.NoError(t, err)
			assert.Equal(t, tc.wantFleet, findingsOrNil(f.Diags))
			assert.Equal(t, tc.wantHeavy, findingsOrNil(clusterNamed(f, "heavy").OwnDiags))
			var evaluated []string
			for _, c := range f.Clusters {
				if c.Unevaluated == "" {
					evaluated = append(evaluated, c.Name)
				}
			}
			assert.Equal(t, tc.evaluated, evaluated)
		})
	}
}

func findingsOrNil(l diag.List) []string {
	if len(l) == 0 {
		return nil
	}
	return findings(l)
}

func TestKnownAfterABreach(t *testing.T) {
	e := engineFor(t, budgetFleet(t), Budget{})
	b := &Budget{Timeout: 3 * time.Second, Memory: 512 << 20, TimeoutSetting: "--eval-timeout", MemorySetting: "--eval-memory"}
	u := func(name string) Unit { return Unit{Name: name, e: e} }
	all := []Unit{u(""), u("dc-1"), u("edge-1"), u("heavy")}
	hash := func(name string) string { return u(name).Hash() }

	for _, tc := range []struct {
		name   string
		known  Known
		breach Breach
		want   Known
	}{
		{"time: the clusters past it fail", Known{},
			Breach{Units: []Unit{u("heavy")}, Pending: all[1:]},
			Known{Reruns: 1, Failed: []Failure{{Unit: "heavy", Hash: hash("heavy"),
				Reason: "evaluation of cluster heavy stopped: it ran past the time budget of 3s (raise it with --eval-timeout)"}}}},
		{"memory, one in flight: it fails", Known{Reruns: 2, Serial: []string{"heavy"}},
			Breach{Memory: true, Heap: 600 << 20, Units: []Unit{u("heavy")}, Pending: all[3:]},
			Known{Reruns: 3, Serial: []string{"heavy"}, Failed: []Failure{{Unit: "heavy", Hash: hash("heavy"),
				Reason: "evaluation of cluster heavy stopped: the heap reached 600MiB while it was evaluated alone, over the memory budget of 512MiB (raise it with --eval-memory)"}}}},
		{"memory, several in flight: they become suspects, evaluated alone next time", Known{},
			Breach{Memory: true, Heap: 600 << 20, Units: []Unit{u("edge-1"), u("heavy")}, Pending: all[2:]},
			Known{Reruns: 1, Serial: []string{"edge-1", "heavy"}}},
		{"the last re-run: whatever is not finished fails", Known{Reruns: MaxReruns - 1},
			Breach{Units: []Unit{u("heavy")}, Pending: all[2:]},
			Known{Reruns: MaxReruns, Failed: []Failure{
				{Unit: "edge-1", Hash: hash("edge-1"), Reason: "cluster edge-1 not evaluated: the evaluation budget was exceeded in 8 runs, the most vmo-cue makes to find what exceeds it, and it was still in doubt (the last breach: evaluation of cluster heavy stopped: it ran past the time budget of 3s (raise it with --eval-timeout))"},
				{Unit: "heavy", Hash: hash("heavy"), Reason: "cluster heavy not evaluated: the evaluation budget was exceeded in 8 runs, the most vmo-cue makes to find what exceeds it, and it was still in doubt (the last breach: evaluation of cluster heavy stopped: it ran past the time budget of 3s (raise it with --eval-timeout))"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.breach.budget = b
			assert.Equal(t, tc.want, tc.known.After(tc.breach))
		})
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{512: "512B", 4 << 30: "4GiB", 512 << 20: "512MiB", 1536 << 20: "1.5GiB", 1 << 40: "1TiB"} {
		assert.Equal(t, want, Bytes(n))
	}
}
