package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/preview"
)

// gitFleet is a git repository (go-git) holding the vet base fleet in the folder sub.
type gitFleet struct {
	t    *testing.T
	root string // the work tree
	dir  string // the fleet's folder
	wt   *git.Worktree
	n    int
}

func newGitFleet(t *testing.T, sub string) *gitFleet {
	root := t.TempDir()
	repo, err := git.PlainInitWithOptions(root, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	g := &gitFleet{t: t, root: root, dir: filepath.Join(root, sub), wt: wt}
	copyDir(t, filepath.Join("..", "..", "testdata", "vet", "base"), g.dir)
	g.commit("base", nil)
	return g
}

// commit writes files into the fleet's folder (an empty value deletes the file) and commits everything.
func (g *gitFleet) commit(msg string, files map[string]string) string {
	g.t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(g.dir, filepath.FromSlash(n))
		if files[n] == "" {
			require.NoError(g.t, os.RemoveAll(p))
			continue
		}
		require.NoError(g.t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(g.t, os.WriteFile(p, []byte(files[n]), 0o644))
	}
	require.NoError(g.t, g.wt.AddWithOptions(&git.AddOptions{All: true}))
	g.n++
	h, err := g.wt.Commit(msg, &git.CommitOptions{AllowEmptyCommits: true,
		Author: &object.Signature{Name: "a", Email: "a@example.com", When: time.Date(2026, 1, 1, 0, g.n, 0, 0, time.UTC)}})
	require.NoError(g.t, err)
	return h.String()
}

const edge1Upgrade = `package fleet

cluster: {
	name: "edge-1"
	kind: "edge"
	stack: kubevirt: version: "v1.7.0"
	stack: multus: networks: "vlan-100": {vlan: 100}
}
`

const newVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: cache, namespace: shop}
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices: {}
`

func TestDiffRevisions(t *testing.T) {
	g := newGitFleet(t, "")
	base := g.commit("docs only", map[string]string{"README.md": "not part of the fleet\n"})
	upgrade := g.commit("edge-1 to v1.7.0, a VM on dc-1", map[string]string{
		"clusters/edge-1/cluster.cue": edge1Upgrade,
		"clusters/dc-1/cache.yaml":    newVM,
	})
	removeVM := g.commit("remove web", map[string]string{"clusters/edge-1/vms/web.yaml": ""})
	broken := g.commit("a typo", map[string]string{"clusters/dc-1/cache.yaml": strings.Replace(newVM, "runStrategy: Always", "runStrategy: Always\n  running: true", 1)})
	g.commit("clusters come and go", map[string]string{
		"clusters/dc-1/cache.yaml":    newVM,
		"clusters/edge-1/cluster.cue": "", "clusters/edge-1/vms/web.yaml": "",
		"clusters/edge-2/cluster.cue": strings.ReplaceAll(edge1Upgrade, "edge-1", "edge-2"),
	})

	tests := []struct {
		name     string
		args     []string
		exit     int
		want     []string
		wantNot  []string
		clusters map[string]string // touched cluster → state
	}{
		{name: "no change", args: []string{"--from", base + "~1", "--to", base}, exit: 0,
			want: []string{"no cluster changes", "not touched (2): dc-1, edge-1", "ok: 2 clusters, 2 VMs, 0 warnings"}},
		{name: "changes", args: []string{"--from", base, "--to", upgrade}, exit: 1,
			clusters: map[string]string{"dc-1": preview.Changed, "edge-1": preview.Changed},
			want: []string{
				"cluster dc-1: 2 to create\n# create Namespace shop\n",
				"# create VirtualMachine.kubevirt.io shop/cache\n--- " + base[:12] + "/VirtualMachine.kubevirt.io shop/cache\n+++ " + upgrade[:12] + "/VirtualMachine.kubevirt.io shop/cache\n",
				"cluster edge-1: ",
				"-          value: quay.io/kubevirt/virt-operator:v1.6.3\n+          value: quay.io/kubevirt/virt-operator:v1.7.0\n",
				"vet " + upgrade[:12] + ": ok: 2 clusters, 3 VMs, 0 warnings",
			}},
		{name: "default --to is HEAD~0 of the branch; a removed VM", args: []string{"--from", upgrade, "--to", removeVM}, exit: 1,
			clusters: map[string]string{"edge-1": preview.Changed},
			want:     []string{"cluster edge-1: 1 to remove\n# remove VirtualMachine.kubevirt.io default/web\n", "not touched (1): dc-1"}},
		{name: "invalid at the new revision", args: []string{"--from", removeVM, "--to", broken}, exit: 1,
			clusters: map[string]string{"dc-1": preview.Invalid},
			want: []string{"cluster dc-1: does not validate at " + broken[:12] + " (1 error, below): sync skips it, nothing is applied",
				"./clusters/dc-1/cache.yaml:6:", "1 error, 0 warnings: 1 of 2 clusters invalid"}},
		{name: "clusters added and removed", args: []string{"--from", removeVM}, exit: 1,
			clusters: map[string]string{"edge-1": preview.Removed, "edge-2": preview.Added},
			want: []string{"not touched (1): dc-1", "cluster edge-1: leaves the fleet: nothing more is applied to it, and what it runs stays",
				"cluster edge-2: added to the fleet: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"diff", "--repo", g.dir}, tt.args...), &stdout, &stderr)
			out := stdout.String()
			t.Log(out, stderr.String())
			require.Equal(t, tt.exit, code, stderr.String())
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			for _, w := range tt.wantNot {
				assert.NotContains(t, out, w)
			}

			stdout.Reset()
			require.Equal(t, tt.exit, run(append([]string{"diff", "--repo", g.dir, "-o", "json"}, tt.args...), &stdout, &stderr))
			var rep preview.Report
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep))
			got := map[string]string{}
			for _, c := range rep.Clusters {
				got[c.Name] = c.State
			}
			if tt.clusters == nil {
				tt.clusters = map[string]string{}
			}
			assert.Equal(t, tt.clusters, got)
			assert.Equal(t, code == 0, len(rep.Clusters) == 0)
		})
	}
}

func TestDiffRevisionsMarkdown(t *testing.T) {
	g := newGitFleet(t, "fleet") // a fleet in a folder of a larger repository
	require.NoError(t, os.WriteFile(filepath.Join(g.root, "outside.cue"), []byte("package fleet\nnot: valid: cue: ("), 0o644))
	g.commit("upgrade", map[string]string{"clusters/edge-1/cluster.cue": edge1Upgrade})
	var stdout, stderr bytes.Buffer
	code := run([]string{"diff", "--from", "HEAD~1", "--repo", g.dir, "-o", "markdown"}, &stdout, &stderr)
	out := stdout.String()
	t.Log(out, stderr.String())
	require.Equal(t, 1, code)
	assert.Contains(t, out, "### vmo-cue diff ")
	assert.Contains(t, out, "**1 cluster touched**, 1 not touched · ✅ vet ok\n\n| cluster | state | create | change | remove |\n|---|---|---:|---:|---:|\n| edge-1 | changed | 0 | 2 | 0 |\n")
	// KubeVirt v1.6.3 → v1.7.0: the operator's image and the release's own KubeVirt CRD.
	assert.Contains(t, out, "<details><summary><b>edge-1</b>: 2 to change</summary>\n\nchange CustomResourceDefinition.apiextensions.k8s.io kubevirts.kubevirt.io\n\n```diff\n--- ")
	assert.Contains(t, out, "\nchange Deployment.apps kubevirt/virt-operator\n\n```diff\n--- ")
	assert.Contains(t, out, "<details><summary>Not touched: 1 cluster</summary>\n\ndc-1\n\n</details>")
	assert.Contains(t, out, "ok: 2 clusters, 2 VMs, 0 warnings")
	assert.NotContains(t, out, "outside.cue", "nothing above the fleet's folder is read")
}

func TestDiffRevisionsRefusesWhatIsNotInGit(t *testing.T) {
	g := newGitFleet(t, "")
	// A symlink committed in the new revision: written as a link, refused by fleetfs unread.
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(g.dir, "clusters", "dc-1", "passwd.yaml")))
	g.commit("a link", nil)
	// Uncommitted changes in the work tree are not part of any revision.
	require.NoError(t, os.WriteFile(filepath.Join(g.dir, "clusters", "dc-1", "cluster.cue"), []byte("garbage"), 0o644))

	var stdout, stderr bytes.Buffer
	code := run([]string{"diff", "--from", "HEAD~1", "--repo", g.dir}, &stdout, &stderr)
	out := stdout.String()
	t.Log(out, stderr.String())
	require.Equal(t, 1, code)
	assert.Contains(t, out, "./clusters/dc-1/passwd.yaml")
	assert.Contains(t, out, "symlink")
	assert.NotContains(t, out, "root:")
	assert.NotContains(t, out, "garbage")
}

func TestDiffRevisionsUsage(t *testing.T) {
	g := newGitFleet(t, "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "nope"}, `vmo-cue: revision "nope": reference not found`},
		{[]string{"--to", "HEAD"}, "vmo-cue: --to needs --from"},
		{[]string{"--from", "HEAD", "-o", "yaml"}, "vmo-cue: -o yaml: want text, markdown or json"},
		{[]string{"--from", "HEAD", "--cluster", "edge-1"}, "vmo-cue: --from compares the whole fleet in git: --cluster, --kubeconfig and --context are for the live diff"},
		{[]string{"--from", "HEAD", g.dir}, "vmo-cue: --from compares revisions of --repo: give the folder with --repo, not as an argument"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"diff"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), g.dir) {
				args = append(args, "--repo", g.dir)
			}
			assert.Equal(t, 2, run(args, &stdout, &stderr))
			assert.Equal(t, tt.want+"\n", stderr.String())
			assert.Empty(t, stdout.String())
		})
	}
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"diff", "--from", "HEAD", "--repo", t.TempDir()}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "not in a git repository")
}
