package agent_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// TestStandaloneSyncsCommitsAndCorrectsDrift: an agent on its own follows the branch of a local git
// repository: it applies its cluster, then a new commit at the next poll; a kubectl-edit-style change
// to a VM it applied is seen by the watch (not a poll: the log says so) and corrected within 5 s, and
// so is a VM deleted by hand. `vmo-cue status` against the edge cluster shows the agent's state.
func TestStandaloneSyncsCommitsAndCorrectsDrift(t *testing.T) {
	env := startClusters(t, edge)
	c := clientOf(t, env.Cluster(edge).Config())
	r := newRepo(t)
	rev1 := r.commit("The canary store")
	dir := t.TempDir()
	kc := writeKubeconfig(t, env.Cluster(edge).Config(), "", filepath.Join(dir, "edge.kubeconfig"))
	a := startAgent(t, dir, "--kubeconfig", kc, "--repo", r.url(), "--interval", "1s", "--pending-timeout", "2s")

	s := waitLocal(t, c, time.Minute, "InSync at the first commit", func(s clusterstatus.ClusterStatus) bool {
		return s.State == clusterstatus.InSync && s.Revision == "main@sha1:"+rev1
	})
	assert.Equal(t, "standalone", s.Agent)
	assert.Equal(t, "main@sha1:"+rev1, s.Released)
	require.Equal(t, int64(2), sockets(t, c, "pos-server"))

	// A commit: applied at the next poll.
	r.edit("clusters/edge-store-1/vms/pos.yaml", "          sockets: 2\n          maxSockets: 8\n          cores: 1\n        memory:\n          guest: 6Gi",
		"          sockets: 3\n          maxSockets: 8\n          cores: 1\n        memory:\n          guest: 6Gi")
	rev2 := r.commit("More CPU for the POS server")
	waitLocal(t, c, 30*time.Second, "InSync at the second commit", func(s clusterstatus.ClusterStatus) bool {
		return s.State == clusterstatus.InSync && s.Revision == "main@sha1:"+rev2
	})
	require.Equal(t, int64(3), sockets(t, c, "pos-server"))

	// Drift: corrected by the watch, within 5 s (an agent that polls once an hour: no poll does it).
	a.stop()
	a = startAgent(t, dir, "--kubeconfig", kc, "--repo", r.url(), "--interval", "1h", "--pending-timeout", "2s")
	require.Eventually(t, func() bool { return a.count("state InSync") == 1 }, 30*time.Second, 50*time.Millisecond)
	before := a.count("drift: 1 objects corrected")
	kubectlEdit(t, c, "pos-server", 7)
	edited := time.Now()
	require.Eventually(t, func() bool { return sockets(t, c, "pos-server") == 3 }, 5*time.Second, 20*time.Millisecond,
		"the edit was not corrected within 5 s")
	t.Logf("edit corrected in %s", time.Since(edited).Round(time.Millisecond))
	assert.Eventually(t, func() bool { return a.count("drift: 1 objects corrected") == before+1 }, 5*time.Second, 50*time.Millisecond)
	assert.Equal(t, 1, a.count("drift: 1 objects changed by someone (kubevirt.io/VirtualMachine/vms/pos-server)"))

	// A VM deleted by hand is made again.
	vm := getVM(t, c, "pos-backoffice")
	require.NotNil(t, vm)
	require.NoError(t, c.Delete(context.Background(), vm))
	require.Eventually(t, func() bool {
		now := getVM(t, c, "pos-backoffice")
		return now != nil && now.GetUID() != vm.GetUID()
	}, 5*time.Second, 20*time.Millisecond, "the deleted VM was not made again within 5 s")

	// vmo-cue status, against the edge cluster itself.
	out, err := exec.Command(vmoCue, "status", "--kubeconfig", kc, "--state-dir", t.TempDir()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.GreaterOrEqual(t, len(lines), 2, "%s", out)
	assert.Regexp(t, `^edge-store-1\s+InSync\s+main@sha1:`+rev2[:12]+`\s`, lines[1])
	assert.Contains(t, string(out), "\nedge-store-1: agent: standalone, released main@sha1:"+rev2[:12]+"\n", "%s", out)
}
