package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
)

// commitAll commits the whole folder (a git repository is made if there is none): the fleet as sync
// fetches it.
func commitAll(t *testing.T, dir, msg string) {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(dir, false)
	}
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddWithOptions(&git.AddOptions{All: true}))
	_, err = wt.Commit(msg, &git.CommitOptions{AllowEmptyCommits: true,
		Author: &object.Signature{Name: "ops", Email: "ops@example.com", When: time.Now()}})
	require.NoError(t, err)
}

// outcomeLine returns the line of sync's summary table for a cluster.
func outcomeLine(t *testing.T, table, cluster string) string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, cluster+" ") {
			return l
		}
	}
	t.Fatalf("no line for %s in:\n%s", cluster, table)
	return ""
}

// TestSyncInterruptedExitsNonZero: edge-store-2's API server is killed in the middle of its apply (300
// VMs, some written). `vmo-cue sync` reports it Interrupted, not Offline, says so on stderr and exits 1;
// `vmo-cue status` shows it Interrupted while it does not answer. (A cluster that does not answer
// before anything is written stays Offline with exit 0: TestStatusReportsOfflineFromLocalState and
// the fleet tests.)
func TestSyncInterruptedExitsNonZero(t *testing.T) {
	const victim = "edge-store-2"
	dir := twoStoreFleet(t)
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "---\napiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: bulk-%03d, labels: {app: bulk}}\n"+
			"spec:\n  runStrategy: Halted\n  template: {spec: {domain: {memory: {guest: 1Gi}, devices: {}}}}\n", i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", victim, "vms", "bulk.yaml"), []byte(b.String()), 0o644))
	commitAll(t, dir, "fleet with a large edge-store-2")
	env := testcluster.StartWithCRDs(t, "edge-store-1", victim)
	stateDir := t.TempDir()

	var pgid int
	for _, p := range env.Processes() {
		if p.Name == "kube-apiserver/"+victim {
			pgid = p.Pid
		}
	}
	require.NotZero(t, pgid)
	watch, err := client.New(env.Cluster(victim).Config(), client.Options{})
	require.NoError(t, err)
	// Kill the server once the apply has reached the VMs (its last stage) and written some.
	killed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachineList"})
			if err := watch.List(t.Context(), list, client.MatchingLabels{"app": "bulk"}); err == nil && len(list.Items) > 0 {
				killed <- syscall.Kill(-pgid, syscall.SIGKILL)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		killed <- errors.New("no VM appeared")
	}()

	code, out, stderr := cli(t, "sync", "--repo", dir, "--kubeconfig", env.Kubeconfig, "--health", "accepted", "--connect-timeout", "3s",
		"--state-dir", stateDir, "--cache-dir", t.TempDir())
	require.NoError(t, <-killed)
	t.Logf("sync exit %d\n%s\n%s", code, out, stderr)
	assert.Equal(t, exitInvalid, code, "a half-applied cluster is not a success")
	line := outcomeLine(t, out, victim)
	assert.Contains(t, line, " Interrupted ")
	assert.Contains(t, line, "interrupted: lost after the writes began, partly applied (the next sync resumes it): cluster edge-store-2: ")
	assert.Contains(t, outcomeLine(t, out, "edge-store-1"), " Synced ")
	assert.True(t, strings.HasSuffix(stderr, "vmo-cue: 1 of 2 clusters not in sync: edge-store-2 Interrupted\n"), stderr)

	require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) }, 10*time.Second, 10*time.Millisecond)
	code, out, stderr = cli(t, "status", "--kubeconfig", env.Kubeconfig, "--state-dir", stateDir, "--timeout", "3s")
	require.Equal(t, 0, code, stderr)
	t.Logf("vmo-cue status:\n%s", out)
	assert.Contains(t, outcomeLine(t, out, victim), " Interrupted ")
	assert.Contains(t, outcomeLine(t, out, "edge-store-1"), " InSync ")
}

// TestPruneRefusedByShareGuardExitsNonZero: a prune over the cluster's prune.maxShare of the inventory
// deletes nothing, and `apply --prune` and `sync --prune` say so and exit 1 (they exited 0).
func TestPruneRefusedByShareGuardExitsNonZero(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	dir := t.TempDir()
	copyDir(t, "../../testdata/reconcile/fleet", dir)
	commitAll(t, dir, "shop")
	flags := []string{"--cluster", "shop", "--kubeconfig", env.Kubeconfig}
	code, out, stderr := cli(t, append([]string{"apply", dir, "--prune"}, flags...)...)
	require.Equal(t, 0, code, "%s\n%s", out, stderr)

	// The dashboard switched off: 6 of its objects leave git, over a maxShare of 5%.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters/shop/prune.cue"), []byte("package fleet\n\ncluster: prune: maxShare: 0.05\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters/shop/dashboard.cue"), []byte("package fleet\n\ncluster: stack: dashboard: enabled: false\n"), 0o644))
	commitAll(t, dir, "dashboard off")
	const refused = "prune refused, nothing pruned: pruning 6 of 53 inventory objects is over the limit of 5%"

	code, out, stderr = cli(t, append([]string{"apply", dir, "--prune"}, flags...)...)
	assert.Equal(t, exitInvalid, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "Service vm-dashboard/vm-dashboard orphaned, kept: pruning 6 of 53 inventory objects is over the limit of 5% (force to allow)")
	assert.Contains(t, out, "shop: 0 applied, 0 corrected, 0 drifted, 47 unchanged, 0 pending, 0 failed, 0 pruned, 6 orphans")
	assert.True(t, strings.HasSuffix(stderr, "\nvmo-cue: cluster shop: "+refused+" (--force-prune allows it)\n"), stderr)

	code, out, stderr = cli(t, "sync", "--repo", dir, "--prune", "--kubeconfig", env.Kubeconfig, "--health", "accepted",
		"--state-dir", t.TempDir(), "--cache-dir", t.TempDir())
	t.Logf("sync exit %d\n%s\n%s", code, out, stderr)
	assert.Equal(t, exitInvalid, code)
	line := outcomeLine(t, out, "shop")
	assert.Contains(t, line, " Failed ")
	assert.Contains(t, line, refused)
	assert.True(t, strings.HasSuffix(stderr, "vmo-cue: 1 of 1 cluster not in sync: shop Failed\n"), stderr)

	// Forced, the prune goes through and the apply exits 0.
	code, out, stderr = cli(t, append([]string{"apply", dir, "--prune", "--force-prune"}, flags...)...)
	assert.Equal(t, 0, code, "%s\n%s", out, stderr)
	assert.Contains(t, out, "6 pruned, 0 orphans")
}
