package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// The evaluation budget is a matter of processes (a runaway evaluation cannot be stopped, the process
// re-executes itself), so these tests run the real binary: $VMO_CUE_BIN, or one built from this tree.

// bomb never finishes: a list of 10^8 numbers, built one by one.
const bomb = "\n_x: [for i in list.Range(0, 1e8, 1) {i}]\n"

func bombCluster(name string) []byte {
	return []byte("package fleet\n\nimport \"list\"\n\ncluster: {name: \"" + name + "\", kind: \"edge\"}\n" + bomb)
}

// A third benign cluster, so that each fleet has three.
const edge2 = "package fleet\n\ncluster: {name: \"edge-2\", kind: \"edge\"}\n"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// vmoCueBin returns $VMO_CUE_BIN, or a vmo-cue built once from this tree.
func vmoCueBin(t *testing.T) string {
	if bin := os.Getenv("VMO_CUE_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		require.NoError(t, err)
		require.FileExists(t, abs, "$VMO_CUE_BIN")
		return abs
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vmo-cue-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "vmo-cue")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// binRun is one run of the binary.
type binRun struct {
	code           int
	stdout, stderr string
	wall           time.Duration
	maxRSS         int64 // bytes, the largest of every image the process ran (rusage survives exec)
}

func runBin(t *testing.T, env []string, args ...string) binRun {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vmoCueBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := binRun{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		require.NoError(t, err)
	}
	r.maxRSS = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("vmo-cue %s: exit %d in %s, max RSS %d MiB\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code,
		r.wall.Round(time.Millisecond), r.maxRSS>>20, r.stdout, r.stderr)
	return r
}

// assertBounded checks that a run ended well within the default budget, in bounded memory.
func assertBounded(t *testing.T, r binRun, wall time.Duration) {
	assert.Less(t, r.wall, wall, "the process ends within a bound")
	assert.Less(t, r.maxRSS, int64(1536<<20), "its memory stays bounded (peak RSS)")
}

// stoppedRE matches the budget finding of a unit, by time or by memory (whichever the machine hits first).
func stoppedRE(unit, file string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^evaluation of ` + regexp.QuoteMeta(unit) + ` stopped: (it ran past the time budget of 3s \(raise it with --eval-timeout\)|` +
		`the heap reached [0-9.]+[MG]iB while it was evaluated alone, over the memory budget of 512MiB \(raise it with --eval-memory\)) \(rule eval-budget\):\n` +
		`    ` + regexp.QuoteMeta(file) + "\n")
}

func TestEvalBudgetStopsARunawayEvaluation(t *testing.T) {
	withBomb := func(fleetCUE []byte) []byte {
		s := strings.Replace(string(fleetCUE), `import "vmo-cue.dev/vmo/schemas"`, "import (\n\t\"list\"\n\n\t\"vmo-cue.dev/vmo/schemas\"\n)", 1)
		return []byte(s + bomb)
	}
	base, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vet", "base", "fleet.cue"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  *regexp.Regexp
		tail  string
	}{
		{"in a cluster: that cluster fails, the two others are valid",
			map[string][]byte{"clusters/bomb/cluster.cue": bombCluster("bomb")},
			stoppedRE("cluster bomb", "./clusters/bomb/cluster.cue"), "1 error, 0 warnings: 1 of 3 clusters invalid\n"},
		{"in the shared definitions: every cluster fails",
			map[string][]byte{"fleet.cue": withBomb(base), "clusters/edge-2/cluster.cue": []byte(edge2)},
			stoppedRE("the shared definitions", "./fleet.cue"), "1 error, 0 warnings: 3 of 3 clusters invalid\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := setUp(t, badCase{Files: tc.files})
			r := runBin(t, nil, "vet", dir, "--eval-timeout", "3s", "--eval-memory", "512MiB")
			assert.Equal(t, exitInvalid, r.code)
			assert.Regexp(t, regexp.MustCompile(tc.want.String()+regexp.QuoteMeta(tc.tail)+`\z`), r.stderr, "the budget finding, and nothing else")
			assert.Empty(t, r.stdout)
			assert.NotContains(t, r.stderr, runsOnNote, "stopped for good: the process re-executed itself")
			assertBounded(t, r, 60*time.Second)
		})
	}
}

// runsOnNote ends a finding when the evaluation could not be stopped (no re-run left).
const runsOnNote = "it cannot be stopped and runs on until the process ends"

func TestEvalBudgetFailsTheL2DomainCheck(t *testing.T) {
	dir := setUp(t, badCase{Files: map[string][]byte{
		"clusters/bomb/cluster.cue": bombCluster("bomb"),
		"clusters/dc-1/l2.cue":      []byte("package fleet\n\ncluster: l2Domain: \"lan\"\n"),
	}})
	r := runBin(t, nil, "vet", dir, "--eval-timeout", "3s", "--eval-memory", "512MiB")
	assert.Equal(t, exitInvalid, r.code)
	assert.Contains(t, r.stderr, "cluster.l2Domain: MACs of layer-2 domain lan cannot be checked across clusters: the evaluation of cluster bomb "+
		"was stopped (its eval-budget finding), so its MACs and layer-2 domain are unknown (rule mac-unique-l2):\n    ./clusters/dc-1/l2.cue:3:20\n")
	assert.Regexp(t, stoppedRE("cluster bomb", "./clusters/bomb/cluster.cue"), r.stderr)
	assert.Contains(t, r.stderr, "2 errors, 0 warnings: 2 of 3 clusters invalid\n")
	assertBounded(t, r, 60*time.Second)
}

func TestEvalBudgetFindsEachMemoryCulpritAlone(t *testing.T) {
	dir := setUp(t, badCase{Files: map[string][]byte{
		"clusters/bomb-a/cluster.cue": bombCluster("bomb-a"),
		"clusters/bomb-b/cluster.cue": bombCluster("bomb-b"),
	}})
	r := runBin(t, nil, "vet", dir, "--eval-memory", "256MiB", "--eval-timeout", "2m")
	assert.Equal(t, exitInvalid, r.code)
	for _, c := range []string{"bomb-a", "bomb-b"} {
		assert.Regexp(t, `(?m)^evaluation of cluster `+c+` stopped: the heap reached [0-9.]+[MG]iB while it was evaluated alone, `+
			`over the memory budget of 256MiB \(raise it with --eval-memory\) \(rule eval-budget\):\n    ./clusters/`+c+`/cluster.cue\n`, r.stderr)
	}
	assert.Contains(t, r.stderr, "2 errors, 0 warnings: 2 of 4 clusters invalid\n")
	assertBounded(t, r, 2*time.Minute)
}

func TestEvalBudgetWithoutReRunsLeftFailsInProcess(t *testing.T) {
	dir := setUp(t, badCase{Files: map[string][]byte{"clusters/bomb/cluster.cue": bombCluster("bomb")}})
	args := []string{"vet", dir, "--eval-timeout", "3s", "--eval-memory", "512MiB"}
	state, err := json.Marshal(rerunState{Args: args, Known: engine.Known{Reruns: engine.MaxReruns}})
	require.NoError(t, err)
	r := runBin(t, []string{rerunEnv + "=" + string(state)}, args...)
	assert.Equal(t, exitInvalid, r.code)
	assert.Regexp(t, `(?m)^evaluation of cluster bomb stopped: .*; `+runsOnNote+` \(rule eval-budget\):\n    ./clusters/bomb/cluster.cue\n`, r.stderr)
	assert.Contains(t, r.stderr, "1 error, 0 warnings: 1 of 3 clusters invalid\n")
	assertBounded(t, r, 60*time.Second)
}

func TestSyncPrintsNothingTwiceWhenReRun(t *testing.T) {
	repo := fleetRepo(t, nil)
	cache, state, kubeconfig := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "none")
	sync := []string{"sync", "--repo", repo, "--selector", "nobody=here", "--kubeconfig", kubeconfig, "--cache-dir", cache, "--state-dir", state}
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(sync, &out, &errOut), errOut.String())
	g, err := git.PlainOpen(repo)
	require.NoError(t, err)
	head, err := g.Head()
	require.NoError(t, err)

	require.NoError(t, os.MkdirAll(filepath.Join(repo, "clusters", "bomb"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "clusters", "bomb", "cluster.cue"), bombCluster("bomb"), 0o644))
	wt, err := g.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddGlob("."))
	_, err = wt.Commit("a runaway cluster", &git.CommitOptions{Author: &object.Signature{Name: "ops", Email: "ops@example.com", When: time.Now()}})
	require.NoError(t, err)

	r := runBin(t, nil, append(sync, "--eval-timeout", "3s", "--eval-memory", "512MiB")...)
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "revision "), "the revision is printed once, after the evaluation")
	assert.Regexp(t, `^revision [0-9a-f]{40} \(refs/heads/master\): new since `+head.Hash().String()[:12]+"\n", r.stderr,
		"first, as the first run fetched it (the re-run fetched nothing new)")
	assert.Contains(t, r.stderr, "cluster bomb skipped:\n")
	assert.Regexp(t, stoppedRE("cluster bomb", "./clusters/bomb/cluster.cue"), r.stderr, "whatever the selector: its labels are unknown")
	assert.Regexp(t, `(?m)^bomb +\S* +Invalid `, r.stdout)
	assertBounded(t, r, 60*time.Second)
}
