package dashboard_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/dashboard"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// gitFleet is a copy of the example fleet committed in a fresh repository (no remote).
func gitFleet(t *testing.T) (string, *git.Repository) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	require.NoError(t, testfleet.CopyDir("../../fleet", dir))
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddGlob("."))
	sig := &object.Signature{Name: "a", Email: "a@example.com", When: time.Now()}
	_, err = wt.Commit("fleet", &git.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	return dir, repo
}

var macLine = regexp.MustCompile(`(?m)^ +macAddress: "[0-9a-f:]{17}"\n`)

// TestApplyEditsInPlace: an edit replaces the values where they are written, and gives MACs to the
// edited VM only; comments and layout stay.
func TestApplyEditsInPlace(t *testing.T) {
	dir, repo := gitFleet(t)
	path := filepath.Join(dir, "clusters", "edge-store-1", "vms", "pos.yaml")
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	done, err := dashboard.Apply(dir, &dashboard.CommitOptions{Name: "Dash", Email: "d@example.com"},
		dashboard.Change{Cluster: "edge-store-1", Namespace: "vms", Name: "pos-server", Memory: "7Gi", Sockets: "3", RunStrategy: "Always"})
	require.NoError(t, err)
	assert.Equal(t, "master", done.Branch)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	want := strings.Replace(string(before), "          sockets: 2\n          maxSockets: 8\n          cores: 1\n        memory:\n          guest: 6Gi",
		"          sockets: 3\n          maxSockets: 8\n          cores: 1\n        memory:\n          guest: 7Gi", 1)
	require.NotEqual(t, want, string(before))
	require.Len(t, macLine.FindAllString(string(after), -1), 1, "pos-server's VLAN interface gets its MAC; pos-backoffice is left alone:\n%s", after)
	assert.Contains(t, string(after), "            - name: pos\n              macAddress: ")
	assert.Equal(t, want, macLine.ReplaceAllString(string(after), ""), "only the values changed: comments and layout kept")
	head, err := repo.Head()
	require.NoError(t, err)
	assert.Equal(t, done.Hash, head.Hash().String())

	// A CUE VM: edited in its own declaration.
	_, err = dashboard.Apply(dir, &dashboard.CommitOptions{Name: "Dash", Email: "d@example.com"},
		dashboard.Change{Cluster: "edge-store-1", Namespace: "vms", Name: "cctv-nvr", Memory: "16Gi"})
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, "clusters", "edge-store-1", "cluster.cue"))
	require.NoError(t, err)
	assert.Contains(t, string(data), `memory: guest: "16Gi"`)

	// A value the VM takes from a template shared with others is refused, naming where it is.
	_, err = dashboard.Apply(dir, &dashboard.CommitOptions{Name: "Dash", Email: "d@example.com"},
		dashboard.Change{Cluster: "dc-east", Namespace: "shop", Name: "shop-web-1", Memory: "16Gi"})
	require.Error(t, err)
	assert.Regexp(t, `^spec\.template\.spec\.domain\.memory\.guest is not written in clusters/dc-east/vms\.cue \(the VM's own file\) but at fleet\.cue:\d+: edit it there by hand$`, err.Error())
	assertClean(t, repo)
}

// TestApplyCommitsOnABranch: with a branch set, the commit lands there and the working copy returns
// to the followed branch.
func TestApplyCommitsOnABranch(t *testing.T) {
	dir, repo := gitFleet(t)
	done, err := dashboard.Apply(dir, &dashboard.CommitOptions{Name: "Dash", Email: "d@example.com", Branch: "dashboard"},
		dashboard.Change{Cluster: "edge-store-1", Template: "vms/pos-server", Namespace: "vms", Name: "pos-server-9"})
	require.NoError(t, err)
	assert.Equal(t, "dashboard", done.Branch)
	head, err := repo.Head()
	require.NoError(t, err)
	assert.Equal(t, "master", head.Name().Short(), "back on the followed branch")
	_, err = os.Stat(filepath.Join(dir, "clusters", "edge-store-1", "vms", "pos-server-9.yaml"))
	assert.True(t, os.IsNotExist(err), "the new file is on the branch only")
	ref, err := repo.Reference("refs/heads/dashboard", true)
	require.NoError(t, err)
	c, err := repo.CommitObject(ref.Hash())
	require.NoError(t, err)
	_, err = c.File("clusters/edge-store-1/vms/pos-server-9.yaml")
	require.NoError(t, err)
}

func assertClean(t *testing.T, repo *git.Repository) {
	t.Helper()
	wt, err := repo.Worktree()
	require.NoError(t, err)
	st, err := wt.Status()
	require.NoError(t, err)
	assert.True(t, st.IsClean(), "working copy: %s", st)
}

// TestApplyRefusesWhatVetRefuses: a duplicate MAC, an unknown run strategy value, a bad name: the
// error names the file, line and rule, and the working copy is as before.
func TestApplyRefusesWhatVetRefuses(t *testing.T) {
	dir, repo := gitFleet(t)
	head, err := repo.Head()
	require.NoError(t, err)
	opts := &dashboard.CommitOptions{Name: "Dash", Email: "d@example.com"}
	_, err = dashboard.Apply(dir, opts, dashboard.Change{Cluster: "edge-store-1", Template: "vms/pos-server", Namespace: "vms", Name: "pos-2", MAC: "06:c7:0a:00:01:42"})
	var ve *dashboard.VetError
	require.ErrorAs(t, err, &ve)
	var rules []string
	for _, f := range ve.Findings {
		rules = append(rules, f.Rule+" "+f.Where)
	}
	assert.Contains(t, rules, "mac-unique clusters/edge-store-1/cluster.cue:74, clusters/edge-store-1/vms/pos-2.yaml:40")
	assertClean(t, repo)
	_, err = dashboard.Apply(dir, opts, dashboard.Change{Cluster: "edge-store-1", Template: "vms/pos-server", Namespace: "vms", Name: "pos-3", RunStrategy: "Sometimes"})
	assert.EqualError(t, err, `run strategy "Sometimes": want one of Always, RerunOnFailure, Manual, Halted, Once`)
	assertClean(t, repo)
	_, err = dashboard.Apply(dir, opts, dashboard.Change{Cluster: "edge-store-1", Template: "vms/pos-server", Namespace: "vms", Name: "Pos_4"})
	assert.EqualError(t, err, `name "Pos_4": a VM name is lower-case letters, digits and inner dashes (DNS-1123 label)`)
	after, err := repo.Head()
	require.NoError(t, err)
	assert.Equal(t, head.Hash(), after.Hash(), "nothing committed")
	assertClean(t, repo)
}
