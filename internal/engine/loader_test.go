package engine

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// writeFiles makes files (relative path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
}

// evaluateSoon reads and evaluates a fleet, calling between before evaluating; it fails instead of
// hanging when something blocks.
func evaluateSoon(t *testing.T, dir string, noFast bool, between func()) *Fleet {
	t.Helper()
	done := make(chan *Fleet, 1)
	go func() {
		repo, err := fleetfs.Read(dir, fleetfs.Options{})
		if !assert.NoError(t, err) {
			done <- nil
			return
		}
		if between != nil {
			between()
		}
		e, err := New(repo, Options{NoFastPath: noFast})
		if !assert.NoError(t, err) {
			done <- nil
			return
		}
		f, err := e.Evaluate()
		assert.NoError(t, err)
		done <- f
	}()
	select {
	case f := <-done:
		require.NotNil(t, f)
		return f
	case <-time.After(60 * time.Second):
		t.Fatal("evaluation did not return: something opened a file that blocks")
		return nil
	}
}

// allFindings are the fleet's and every cluster's findings, as vet prints them.
func allFindings(f *Fleet) []string {
	l := append(f.Diags, f.Repo.Problems...)
	for _, c := range f.Clusters {
		l = append(l, c.OwnDiags...)
	}
	return findings(l)
}

// at is a finding as vet prints it: the message (with its rule) and where.
func at(pos, msg string) string { return msg + ":\n    " + pos }

// importCUE makes cluster edge-1 label itself with a value of the package evil.dev/e.
const importCUE = "package fleet\n\nimport \"evil.dev/e\"\n\ncluster: labels: leak: e.token\n"

// The CUE loader gets its files only from fleetfs: a file on disk that fleetfs did not read (written
// after the read, above the repository's root, behind a refused symlink) is never seen.
func TestLoaderReadsOnlyWhatFleetfsRead(t *testing.T) {
	const token = "ON-DISK-ONLY"
	pkg := "package e\n\ntoken: \"" + token + "\"\n"
	notFound := at("./clusters/edge-1/import.cue:3:8", `import failed: cannot find package "evil.dev/e": cannot find module providing package evil.dev/e (rule cue-syntax)`)
	cases := []struct {
		name string
		// setup makes the fleet at parent/fleet; between runs after fleetfs read it.
		setup   func(t *testing.T, parent, fleet string) (between func())
		want    []string
		noLabel bool
	}{
		{
			name: "package written after the read",
			setup: func(t *testing.T, _, fleet string) func() {
				return func() { writeFiles(t, fleet, map[string]string{"cue.mod/pkg/evil.dev/e/e.cue": pkg}) }
			},
			want: []string{notFound},
		},
		{
			name: "module above the repository's root",
			setup: func(t *testing.T, parent, _ string) func() {
				writeFiles(t, parent, map[string]string{
					"cue.mod/module.cue":           "module: \"parent.dev@v0\"\nlanguage: version: \"v0.17.0\"\n",
					"cue.mod/pkg/evil.dev/e/e.cue": pkg,
				})
				return nil
			},
			want: []string{notFound},
		},
		{
			name: "a FIFO as the module file above the repository's root",
			setup: func(t *testing.T, parent, _ string) func() {
				require.NoError(t, os.MkdirAll(filepath.Join(parent, "cue.mod"), 0o755))
				require.NoError(t, syscall.Mkfifo(filepath.Join(parent, "cue.mod", "module.cue"), 0o644))
				return nil
			},
			want: []string{notFound},
		},
		{
			name: "package folder behind a refused symlink",
			setup: func(t *testing.T, parent, fleet string) func() {
				writeFiles(t, parent, map[string]string{"elsewhere/e/e.cue": pkg})
				require.NoError(t, os.MkdirAll(filepath.Join(fleet, "cue.mod", "pkg"), 0o755))
				require.NoError(t, os.Symlink(filepath.Join(parent, "elsewhere"), filepath.Join(fleet, "cue.mod", "pkg", "evil.dev")))
				return nil
			},
			want: []string{notFound,
				at("./cue.mod/pkg/evil.dev", "symlink in cue.mod: refused, not followed (commit the files themselves) (rule symlink)")},
		},
		{
			name: "a FIFO in a package folder",
			setup: func(t *testing.T, _, fleet string) func() {
				writeFiles(t, fleet, map[string]string{"cue.mod/pkg/evil.dev/e/a.cue": "package e\n"})
				require.NoError(t, syscall.Mkfifo(filepath.Join(fleet, "cue.mod", "pkg", "evil.dev", "e", "e.cue"), 0o644))
				return nil
			},
			want: []string{
				at("./cue.mod/pkg/evil.dev/e/e.cue", "not a regular file (a named pipe): refused, never opened (rule file-type)"),
				at("./clusters/edge-1/import.cue:5:26", "cluster.labels.leak: undefined field: token (rule schema)")},
		},
	}
	for _, tc := range cases {
		for _, noFast := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{true: ", general path"}[noFast], func(t *testing.T) {
				parent := t.TempDir()
				fleet := filepath.Join(parent, "fleet")
				require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), fleet))
				writeFiles(t, fleet, map[string]string{"clusters/edge-1/import.cue": importCUE})
				between := tc.setup(t, parent, fleet)

				f := evaluateSoon(t, fleet, noFast, between)
				got := allFindings(f)
				for _, w := range tc.want {
					assert.Contains(t, got, w)
				}
				for _, c := range f.Clusters {
					assert.NotContains(t, c.Labels["leak"], token, "cluster %s", c.Name)
				}
			})
		}
	}
}

// @extern(embed) is refused wherever it is, at its line, and fails what the file belongs to.
func TestEmbedRefused(t *testing.T) {
	const refusal = "@extern(embed): a fleet may not embed files into values; write the data in CUE, or VMs as YAML files (rule embed)"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{name: "in a cluster file", files: map[string]string{
			"clusters/edge-1/embed.cue": "// The cluster's own VM, embedded.\n@extern(embed)\n\npackage fleet\n\n_web: _ @embed(file=vms/web.yaml)\n",
		}, want: at("./clusters/edge-1/embed.cue:2:1", refusal)},
		{name: "in a shared file", files: map[string]string{
			"embed.cue": "@extern(embed)\npackage fleet\n\n_web: _ @embed(file=clusters/edge-1/vms/web.yaml)\n",
		}, want: at("./embed.cue:1:1", refusal)},
		{name: "in a package of cue.mod", files: map[string]string{
			"cue.mod/pkg/evil.dev/e/e.cue": "@extern(embed)\npackage e\n\ntoken: _ @embed(file=e.cue,type=text)\n",
			"clusters/edge-1/import.cue":   importCUE,
		}, want: at("./cue.mod/pkg/evil.dev/e/e.cue:1:1", refusal)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fleet := filepath.Join(t.TempDir(), "fleet")
			require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), fleet))
			writeFiles(t, fleet, tc.files)

			f := evaluateSoon(t, fleet, false, nil)
			assert.Contains(t, allFindings(f), tc.want)
			for _, c := range f.Clusters {
				if c.Name == "edge-1" || !strings.Contains(tc.want, "./clusters/") {
					assert.NotEmpty(t, append(f.Diags.Errors(), c.OwnDiags.Errors()...), "cluster %s must fail", c.Name)
				}
			}
		})
	}
}
