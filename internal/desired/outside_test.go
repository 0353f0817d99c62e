package desired

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/render"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// secret is what a file outside the repository holds: it must reach no rendered object.
const secret = "TOKEN-FROM-OUTSIDE"

// embedPkg is a CUE package that embeds tok.txt next to it.
const embedPkg = "@extern(embed)\n\npackage e\n\ntoken: _ @embed(file=tok.txt,type=text)\n"

// leakCUE puts the package's token into a VM annotation of cluster edge-1.
const leakCUE = `package fleet

import "evil.dev/e"

vms: leak: {
	apiVersion: "kubevirt.io/v1"
	kind:       "VirtualMachine"
	metadata: annotations: token: e.token
	spec: {runStrategy: "Halted", template: spec: domain: {memory: guest: "1Gi", devices: {}}}
}
`

// fleetDir copies the base fleet of testdata/vet into a temporary folder (outside this module) and
// writes files over it; outside is a folder next to it, not in the repository.
func fleetDir(t *testing.T, files map[string]string) (dir, outside string) {
	t.Helper()
	tmp := t.TempDir()
	dir, outside = filepath.Join(tmp, "fleet"), filepath.Join(tmp, "outside")
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), dir))
	for _, d := range []struct {
		root  string
		files map[string]string
	}{{dir, files}, {outside, map[string]string{"secret.txt": secret + "\n", "e/e.cue": embedPkg,
		"e/tok.txt": secret + "\n", "mod/pkg/evil.dev/e/e.cue": embedPkg, "mod/pkg/evil.dev/e/tok.txt": secret + "\n"}}} {
		for name, data := range d.files {
			p := filepath.Join(d.root, filepath.FromSlash(name))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
		}
	}
	return dir, outside
}

func link(t *testing.T, target, name string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o755))
	require.NoError(t, os.Symlink(target, name))
}

// loadSoon loads the fleet, failing instead of hanging when something blocks the load.
func loadSoon(t *testing.T, dir string) *validate.Result {
	t.Helper()
	type result struct {
		r   *validate.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := Load(dir, Options{})
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		require.NoError(t, res.err)
		return res.r
	case <-time.After(60 * time.Second):
		t.Fatal("Load did not return: something opened a file that blocks")
		return nil
	}
}

// findingsText is every finding as vet prints it.
func findingsText(r *validate.Result) []string {
	var out []string
	for _, d := range r.All() {
		out = append(out, d.Error())
	}
	return out
}

func TestNothingFromOutsideRendered(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir, outside string)
		// want are findings (as vet prints them) that must be among the result's.
		want []string
	}{
		{
			name: "cue.mod package folder symlinked out, embedding a token",
			setup: func(t *testing.T, dir, outside string) {
				link(t, filepath.Join(outside, "e"), filepath.Join(dir, "cue.mod", "pkg", "evil.dev", "e"))
			},
			want: []string{
				at("./cue.mod/pkg/evil.dev/e", "symlink in cue.mod: refused, not followed (commit the files themselves) (rule symlink)"),
				at("./clusters/edge-1/leak.cue:3:8", `import failed: cannot find package "evil.dev/e": cannot find module providing package evil.dev/e (rule cue-syntax)`),
			},
		},
		{
			name: "cue.mod file symlinked to a token, embedded",
			setup: func(t *testing.T, dir, outside string) {
				write(t, dir, "cue.mod/pkg/evil.dev/e/e.cue", embedPkg)
				link(t, filepath.Join(outside, "secret.txt"), filepath.Join(dir, "cue.mod", "pkg", "evil.dev", "e", "tok.txt"))
			},
			want: []string{
				at("./cue.mod/pkg/evil.dev/e/tok.txt", "symlink in cue.mod: refused, not followed (commit the files themselves) (rule symlink)"),
				at("./cue.mod/pkg/evil.dev/e/e.cue:1:1", "@extern(embed): a fleet may not embed files into values; write the data in CUE, or VMs as YAML files (rule embed)"),
			},
		},
		{
			name: "cue.mod file symlinked to /etc/passwd, embedded",
			setup: func(t *testing.T, dir, outside string) {
				write(t, dir, "cue.mod/pkg/evil.dev/e/e.cue", embedPkg)
				link(t, "/etc/passwd", filepath.Join(dir, "cue.mod", "pkg", "evil.dev", "e", "tok.txt"))
			},
			want: []string{
				at("./cue.mod/pkg/evil.dev/e/tok.txt", "symlink in cue.mod: refused, not followed (commit the files themselves) (rule symlink)"),
				at("./cue.mod/pkg/evil.dev/e/e.cue:1:1", "@extern(embed): a fleet may not embed files into values; write the data in CUE, or VMs as YAML files (rule embed)"),
			},
		},
		{
			name: "cue.mod symlinked out",
			setup: func(t *testing.T, dir, outside string) {
				link(t, filepath.Join(outside, "mod"), filepath.Join(dir, "cue.mod"))
			},
			want: []string{
				at("./cue.mod", "symlink in cue.mod: refused, not followed (commit the files themselves) (rule symlink)"),
				at("./clusters/edge-1/leak.cue:3:8", `import failed: cannot find package "evil.dev/e": cannot find module providing package evil.dev/e (rule cue-syntax)`),
			},
		},
		{
			name: "embedding a file of the repository",
			setup: func(t *testing.T, dir, _ string) {
				write(t, dir, "cue.mod/pkg/evil.dev/e/e.cue", embedPkg)
				write(t, dir, "cue.mod/pkg/evil.dev/e/tok.txt", secret+"\n")
			},
			want: []string{
				at("./cue.mod/pkg/evil.dev/e/e.cue:1:1", "@extern(embed): a fleet may not embed files into values; write the data in CUE, or VMs as YAML files (rule embed)"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, outside := fleetDir(t, map[string]string{"clusters/edge-1/leak.cue": leakCUE})
			tc.setup(t, dir, outside)

			r := loadSoon(t, dir)
			got := findingsText(r)
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
			require.NotEmpty(t, r.Clusters)
			for _, c := range r.Clusters {
				objs, err := Objects(c)
				assert.ErrorAs(t, err, &render.ErrInvalid{}, "cluster %s was rendered", c.Name)
				out, jerr := json.Marshal(objs)
				require.NoError(t, jerr)
				assert.False(t, leaks(out), "cluster %s: a rendered object carries what is outside", c.Name)
				for _, vm := range c.VMs {
					vmJSON, err := json.Marshal(vm.Object)
					require.NoError(t, err)
					assert.False(t, leaks(vmJSON), "cluster %s: VM %s carries what is outside: %s", c.Name, vm.Name, vmJSON)
				}
			}
		})
	}
}

// at is a finding as vet prints it: the message (with its rule) and where.
func at(pos, msg string) string { return msg + ":\n    " + pos }

// leaks reports whether data holds the secret or a line of /etc/passwd.
func leaks(data []byte) bool {
	return bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte("root:x:0:0"))
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
}

// A FIFO named like a VM file fails its cluster at once; the other cluster is still rendered.
func TestFIFORefused(t *testing.T) {
	dir, _ := fleetDir(t, nil)
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "clusters", "edge-1", "vms", "vms.yaml"), 0o644))

	r := loadSoon(t, dir)
	assert.Equal(t, []string{at("./clusters/edge-1/vms/vms.yaml", "not a regular file (a named pipe): refused, never opened (rule file-type)")},
		findingsText(r))
	_, err := Objects(r.Cluster("edge-1"))
	assert.ErrorAs(t, err, &render.ErrInvalid{})
	objs, err := Objects(r.Cluster("dc-1"))
	require.NoError(t, err)
	assert.NotEmpty(t, objs)
}

// A top-level clusters folder that is a symlink out of the repository is not followed: no cluster
// is read, so none is rendered.
func TestClustersSymlinkedOut(t *testing.T) {
	dir, outside := fleetDir(t, nil)
	require.NoError(t, os.Rename(filepath.Join(dir, "clusters"), filepath.Join(outside, "clusters")))
	link(t, filepath.Join(outside, "clusters"), filepath.Join(dir, "clusters"))

	r := loadSoon(t, dir)
	assert.Equal(t, []string{at("./clusters", "symlink points outside the repository: refused, not followed (rule symlink)")},
		findingsText(r))
	assert.Empty(t, r.Clusters)
}
