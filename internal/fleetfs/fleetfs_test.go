package fleetfs

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// write makes files (relative path → content) under dir.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
}

// readSoon reads the repository, failing the test instead of hanging when a read blocks (a FIFO
// opened for reading waits for a writer forever).
func readSoon(t *testing.T, dir string) *Repo {
	t.Helper()
	type result struct {
		repo *Repo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		r, err := Read(dir, Options{})
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		require.NoError(t, res.err)
		return res.repo
	case <-time.After(30 * time.Second):
		t.Fatal("Read did not return: it opened a file that blocks")
		return nil
	}
}

const clusterCUE = "package fleet\n\ncluster: {name: \"edge-1\", kind: \"edge\"}\n"

// base is a small fleet every case adds to.
var base = map[string]string{
	"fleet.cue":                    "package fleet\n",
	"clusters/edge-1/cluster.cue":  clusterCUE,
	"clusters/edge-1/vms/web.yaml": "kind: VirtualMachine\n",
}

func mkfifo(name string) func(t *testing.T, root, outside string) {
	return func(t *testing.T, root, _ string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, syscall.Mkfifo(p, 0o644))
	}
}

// symlink makes name a symlink to target: an absolute target as is, one starting with "." as written
// (relative to the link), any other relative to the folder outside the repository.
func symlink(name, target string) func(t *testing.T, root, outside string) {
	return func(t *testing.T, root, outside string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		if !filepath.IsAbs(target) && target[0] != '.' {
			target = filepath.Join(outside, filepath.FromSlash(target))
		}
		require.NoError(t, os.Symlink(target, p))
	}
}

func TestReadRefuses(t *testing.T) {
	outsideFiles := map[string]string{
		"secret.txt":                     "TOKEN-OUTSIDE\n",
		"pkg/evil.cue":                   "package evil\n",
		"mod/module.cue":                 "module: \"x.dev@v0\"\n",
		"mod/pkg/evil.dev/e/e.cue":       "package e\n",
		"clusters/edge-9/cluster.cue":    clusterCUE,
		"clusters/edge-9/vms/other.yaml": "kind: VirtualMachine\n",
	}
	const (
		outsideMsg = "symlink points outside the repository: refused, not followed"
		cueModMsg  = "symlink in cue.mod: refused, not followed (commit the files themselves)"
	)
	cases := []struct {
		name  string
		setup func(t *testing.T, root, outside string)
		rule  string
		file  string
		msg   string
		// clusters are the cluster folders read.
		clusters []string
	}{
		{name: "fifo named vms.yaml", setup: mkfifo("clusters/edge-1/vms/vms.yaml"),
			rule: "file-type", file: "clusters/edge-1/vms/vms.yaml", msg: "not a regular file (a named pipe): refused, never opened",
			clusters: []string{"edge-1"}},
		{name: "fifo as a shared CUE file", setup: mkfifo("more.cue"),
			rule: "file-type", file: "more.cue", msg: "not a regular file (a named pipe): refused, never opened",
			clusters: []string{"edge-1"}},
		{name: "fifo in a cue.mod package", setup: mkfifo("cue.mod/pkg/evil.dev/e/e.cue"),
			rule: "file-type", file: "cue.mod/pkg/evil.dev/e/e.cue", msg: "not a regular file (a named pipe): refused, never opened",
			clusters: []string{"edge-1"}},
		{name: "fifo as cue.mod/module.cue", setup: mkfifo("cue.mod/module.cue"),
			rule: "file-type", file: "cue.mod/module.cue", msg: "not a regular file (a named pipe): refused, never opened",
			clusters: []string{"edge-1"}},
		{name: "fifo named clusters", setup: func(t *testing.T, root, _ string) {
			require.NoError(t, os.RemoveAll(filepath.Join(root, "clusters")))
			mkfifo("clusters")(t, root, "")
		}, rule: "layout", file: "clusters", msg: "clusters is not a folder: nothing read from it"},
		{name: "socket named vms.yaml", setup: func(t *testing.T, root, _ string) {
			l, err := net.Listen("unix", filepath.Join(root, "clusters", "edge-1", "s.yaml"))
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
		}, rule: "file-type", file: "clusters/edge-1/s.yaml", msg: "not a regular file (a socket): refused, never opened",
			clusters: []string{"edge-1"}},
		{name: "symlink to /dev/zero", setup: symlink("clusters/edge-1/vms/zero.yaml", "/dev/zero"),
			rule: "symlink", file: "clusters/edge-1/vms/zero.yaml", msg: outsideMsg, clusters: []string{"edge-1"}},
		{name: "top-level clusters symlinked out", setup: func(t *testing.T, root, outside string) {
			require.NoError(t, os.RemoveAll(filepath.Join(root, "clusters")))
			symlink("clusters", "clusters")(t, root, outside)
		}, rule: "symlink", file: "clusters", msg: outsideMsg},
		{name: "cue.mod symlinked out", setup: symlink("cue.mod", "mod"),
			rule: "symlink", file: "cue.mod", msg: cueModMsg, clusters: []string{"edge-1"}},
		{name: "cue.mod package folder symlinked out", setup: symlink("cue.mod/pkg/evil.dev", "mod/pkg/evil.dev"),
			rule: "symlink", file: "cue.mod/pkg/evil.dev", msg: cueModMsg, clusters: []string{"edge-1"}},
		{name: "cue.mod package folder symlinked inside the repository", setup: symlink("cue.mod/pkg/evil.dev", "../../clusters"),
			rule: "symlink", file: "cue.mod/pkg/evil.dev", msg: cueModMsg, clusters: []string{"edge-1"}},
		{name: "cue.mod file symlinked to a token", setup: symlink("cue.mod/pkg/evil.dev/e/tok.txt", "secret.txt"),
			rule: "symlink", file: "cue.mod/pkg/evil.dev/e/tok.txt", msg: cueModMsg, clusters: []string{"edge-1"}},
		{name: "cue.mod file symlinked to /etc/passwd", setup: symlink("cue.mod/pkg/evil.dev/e/passwd.txt", "/etc/passwd"),
			rule: "symlink", file: "cue.mod/pkg/evil.dev/e/passwd.txt", msg: cueModMsg, clusters: []string{"edge-1"}},
		{name: "cue.mod CUE file symlinked inside the repository", setup: symlink("cue.mod/pkg/evil.dev/e/e.cue", "../../../../fleet.cue"),
			rule: "symlink", file: "cue.mod/pkg/evil.dev/e/e.cue", msg: cueModMsg, clusters: []string{"edge-1"}},
	}
	if dev, ok := charDevice(t); ok {
		cases = append(cases, struct {
			name     string
			setup    func(t *testing.T, root, outside string)
			rule     string
			file     string
			msg      string
			clusters []string
		}{name: "device node named vms.yaml", setup: func(t *testing.T, root, _ string) {
			require.NoError(t, syscall.Mknod(filepath.Join(root, "clusters", "edge-1", "zero.yaml"), syscall.S_IFCHR|0o644, dev))
		}, rule: "file-type", file: "clusters/edge-1/zero.yaml", msg: "not a regular file (a device): refused, never opened",
			clusters: []string{"edge-1"}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			root, outside := filepath.Join(tmp, "repo"), filepath.Join(tmp, "outside")
			write(t, root, base)
			write(t, outside, outsideFiles)
			tc.setup(t, root, outside)

			repo := readSoon(t, root)
			errs := repo.Problems.Errors()
			require.Len(t, errs, 1, "findings: %v", repo.Problems)
			assert.Equal(t, diag.Diagnostic{Severity: diag.Error, Rule: tc.rule, Message: tc.msg,
				Positions: []diag.Position{{File: tc.file}}}, errs[0])
			var names []string
			for _, c := range repo.Clusters {
				names = append(names, c.Name)
				for _, f := range append(append([]File(nil), c.CUE...), c.YAML...) {
					assert.NotContains(t, string(f.Data), "TOKEN-OUTSIDE")
				}
			}
			assert.Equal(t, tc.clusters, names)
			for _, f := range append(append([]File(nil), repo.CUE...), repo.Module...) {
				assert.NotEqual(t, tc.file, f.Path, "a refused file was read")
			}
		})
	}
}

// charDevice returns the device number of /dev/null when this process may make device nodes.
func charDevice(t *testing.T) (int, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat("/dev/null", &st); err != nil {
		return 0, false
	}
	probe := filepath.Join(t.TempDir(), "probe")
	if err := syscall.Mknod(probe, syscall.S_IFCHR|0o644, int(st.Rdev)); err != nil {
		return 0, false
	}
	return int(st.Rdev), true
}

func TestReadModule(t *testing.T) {
	root := t.TempDir()
	write(t, root, base)
	write(t, root, map[string]string{
		"cue.mod/module.cue":                            "module: \"example.com/fleet@v0\"\n",
		"cue.mod/pkg/a.dev/x/x.cue":                     "package x\n",
		"cue.mod/pkg/a.dev/x/notes.txt":                 "not read\n",
		"cue.mod/usr/a.dev/x/y.cue":                     "package x\n",
		"cue.mod/gen/k8s.io/api/core/v1/types.cue":      "package v1\n",
		"cue.mod/pkg/.hidden/h.cue":                     "package h\n",
		"cue.mod/pkg/vmo-cue.dev/vmo/schemas/stack.cue": "package schemas\n", // the binary provides it
	})
	require.NoError(t, syscall.Mkfifo(filepath.Join(root, "cue.mod", "pkg", "a.dev", "x", "pipe.txt"), 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(root, "cue.mod", "pkg", "vmo-cue.dev", "vmo", "passwd.txt")))

	repo := readSoon(t, root)
	assert.Empty(t, repo.Problems)
	var paths []string
	for _, f := range repo.Module {
		paths = append(paths, f.Path)
		assert.Equal(t, filepath.Join(repo.Root, filepath.FromSlash(f.Path)), f.Abs)
	}
	assert.Equal(t, []string{
		"cue.mod/gen/k8s.io/api/core/v1/types.cue",
		"cue.mod/module.cue",
		"cue.mod/pkg/a.dev/x/x.cue",
		"cue.mod/usr/a.dev/x/y.cue",
	}, paths)
	require.NotNil(t, repo.ModuleFile())
	assert.Equal(t, "module: \"example.com/fleet@v0\"\n", string(repo.ModuleFile().Data))
}

func TestReadSizeAndEncoding(t *testing.T) {
	root := t.TempDir()
	write(t, root, base)
	write(t, root, map[string]string{
		"cue.mod/pkg/a.dev/x/big.cue":    "package x\n// " + string(make([]byte, 100)) + "\n",
		"clusters/edge-1/vms/latin.yaml": "name: caf\xe9\n",
	})
	repo, err := Read(root, Options{MaxFileSize: 100})
	require.NoError(t, err)
	assert.Equal(t, diag.List{
		{Severity: diag.Error, Rule: "encoding", Message: "file is not valid UTF-8", Positions: []diag.Position{{File: "clusters/edge-1/vms/latin.yaml", Line: 1, Col: 10}}},
		{Severity: diag.Error, Rule: "file-size", Message: "file is 114 bytes, over the limit of 100 bytes", Positions: []diag.Position{{File: "cue.mod/pkg/a.dev/x/big.cue"}}},
	}, sorted(repo.Problems))
}

func sorted(l diag.List) diag.List {
	l = append(diag.List(nil), l...)
	l.Sort()
	return l
}

// TestReadClustersConcurrently: cluster folders are read concurrently; the clusters, their files and
// every folder's findings still come in name order, as one reader would give them.
func TestReadClustersConcurrently(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"fleet.cue": "package fleet\n"}
	var want []string
	for i := range 12 {
		c := "clusters/c-" + string(rune('a'+i))
		files[c+"/cluster.cue"] = clusterCUE
		files[c+"/vms/a.yaml"] = "kind: VirtualMachine\n"
		files[c+"/vms/b.yaml"] = "\xff\n"
		files[c+"/vms/deep/c.cue"] = "package fleet\n"
		want = append(want,
			"file is not valid UTF-8 (rule encoding):\n    ./"+c+"/vms/b.yaml:1:1",
			"CUE files of a cluster belong directly in "+c+"/, not in a subfolder (YAML files may be anywhere below it) (rule layout):\n    ./"+c+"/vms/deep/c.cue")
	}
	write(t, dir, files)
	repo := readSoon(t, dir)
	var got []string
	for _, p := range repo.Problems {
		got = append(got, p.Error())
	}
	assert.Equal(t, want, got)
	require.Len(t, repo.Clusters, 12)
	for i, c := range repo.Clusters {
		assert.Equal(t, "c-"+string(rune('a'+i)), c.Name)
		require.Len(t, c.YAML, 1)
		assert.Equal(t, c.Dir+"/vms/a.yaml", c.YAML[0].Path)
		assert.Equal(t, "kind: VirtualMachine\n", string(c.YAML[0].Data))
	}
}
