package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLocalResolveAndCheckoutSubfolder(t *testing.T) {
	r := newTestRepo(t, "")
	a := r.commit("first", map[string]string{"README.md": "outside\n", "fleet/fleet.cue": "package fleet\n", "fleet/clusters/a/cluster.cue": "v1\n"})
	r.tag("v1", a, true)
	b := r.commit("second\n\nbody", map[string]string{"fleet/clusters/a/cluster.cue": "v2\n", "fleet/clusters/b/vm.yaml": "b\n"})
	// The work tree has an uncommitted change: never read.
	require.NoError(t, os.WriteFile(filepath.Join(r.dir, "fleet/clusters/a/cluster.cue"), []byte("dirty\n"), 0o644))

	l, err := OpenLocal(filepath.Join(r.dir, "fleet", "clusters", ".."))
	require.NoError(t, err)
	assert.Equal(t, "fleet", l.Prefix())

	tests := []struct {
		rev, want, msg string
	}{
		{"HEAD", b.String(), "second"},
		{"main", b.String(), "second"},
		{"HEAD~1", a.String(), "first"},
		{"v1", a.String(), "first"}, // an annotated tag peeled to its commit
		{b.String()[:10], b.String(), "second"},
	}
	for _, tt := range tests {
		t.Run(tt.rev, func(t *testing.T) {
			rev, err := l.Resolve(tt.rev)
			require.NoError(t, err)
			assert.Equal(t, tt.want, rev.Commit)
			assert.Equal(t, tt.msg, rev.Message)
		})
	}
	_, err = l.Resolve("no-such-branch")
	assert.EqualError(t, err, `revision "no-such-branch": reference not found`)
	_, err = l.Resolve("--upload-pack=x")
	assert.EqualError(t, err, `revision "--upload-pack=x": not a revision`)

	dst := t.TempDir()
	require.NoError(t, l.Checkout(a.String(), dst))
	assert.Equal(t, map[string]string{"fleet.cue": "package fleet\n", "clusters/a/cluster.cue": "v1\n"}, readTree(t, dst),
		"only the folder opened, at the revision: nothing above it, not the work tree")
	dst = t.TempDir()
	require.NoError(t, l.Checkout(b.String(), dst))
	assert.Equal(t, "v2\n", readTree(t, dst)["clusters/a/cluster.cue"])
	assert.EqualError(t, l.Checkout(b.String(), dst), "checkout into "+dst+": not empty")

	// A folder that did not exist at a revision.
	l2, err := OpenLocal(filepath.Join(r.dir, "fleet", "clusters", "b"))
	require.NoError(t, err)
	err = l2.Checkout(a.String(), t.TempDir())
	assert.ErrorIs(t, err, ErrNoFolder)
	assert.EqualError(t, err, "commit "+a.String()[:12]+": fleet/clusters/b: folder not in the revision")
}

func TestLocalCheckoutKeepsSymlinksAsLinks(t *testing.T) {
	r := newTestRepo(t, "")
	require.NoError(t, os.MkdirAll(filepath.Join(r.dir, "clusters", "a"), 0o755))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(r.dir, "clusters", "a", "vm.yaml")))
	c := r.commit("a link", map[string]string{"fleet.cue": "package fleet\n"})
	l, err := OpenLocal(r.dir)
	require.NoError(t, err)
	dst := t.TempDir()
	require.NoError(t, l.Checkout(c.String(), dst))
	fi, err := os.Lstat(filepath.Join(dst, "clusters", "a", "vm.yaml"))
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "written as a link for fleetfs to refuse, never read through")
}
