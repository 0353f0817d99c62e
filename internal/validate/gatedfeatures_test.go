package validate

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// kubevirtReleases are the releases whose sources the gated-feature table is checked against, one
// per minor (the module proxy serves kubevirt.io/kubevirt at these tags).
var kubevirtReleases = map[string]string{
	"v1.4": "v1.4.0", "v1.5": "v1.5.0", "v1.6": "v1.6.0", "v1.7": "v1.7.0", "v1.8": "v1.8.1",
}

// kubevirtSource returns the directory of kubevirt.io/kubevirt at a release (go mod download).
func kubevirtSource(t *testing.T, version string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "kubevirt.io/kubevirt@"+version)
	cmd.Dir = t.TempDir() // outside this module: its go.mod is not touched
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	require.NoError(t, err, "go mod download kubevirt.io/kubevirt@%s: %s", version, out)
	var m struct{ Dir, Error string }
	require.NoError(t, json.Unmarshal(out, &m))
	require.Empty(t, m.Error)
	return m.Dir
}

var (
	enabledCall = regexp.MustCompile(`\.(\w+Enabled)\(\)`)
	methodRE    = regexp.MustCompile(`func \(config \*ClusterConfig\) (\w+Enabled)\(\) bool \{\s*return config\.isFeatureGateEnabled\((?:featuregate\.|virtconfig\.|deprecation\.)?(\w+)\)`)
	constRE     = regexp.MustCompile(`(?m)^\s*(\w+)\s*(?:\w+\s*)?=\s*"(\w+)"`)
)

// gatesOf maps each ClusterConfig XEnabled method of a release to the gate name it tests.
func gatesOf(t *testing.T, dir string) map[string]string {
	consts, methods := map[string]string{}, map[string]string{}
	err := filepath.WalkDir(filepath.Join(dir, "pkg", "virt-config"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range constRE.FindAllStringSubmatch(string(data), -1) {
			consts[m[1]] = m[2]
		}
		for _, m := range methodRE.FindAllStringSubmatch(string(data), -1) {
			methods[m[1]] = m[2]
		}
		return nil
	})
	require.NoError(t, err)
	out := map[string]string{}
	for method, c := range methods {
		if name, ok := consts[c]; ok {
			out[method] = name
		}
	}
	return out
}

// The table agrees with KubeVirt's sources: every row's check is in its file at each of its minors,
// calls the config methods of its gate (and alternative), and every gate check of the VM admission
// files is modelled or listed as not modelled, with the reason.
func TestGatedFeaturesAgreeWithKubeVirt(t *testing.T) {
	b, err := engine.LoadBuiltin()
	require.NoError(t, err)
	for _, minor := range allMinors {
		t.Run(minor, func(t *testing.T) {
			dir := kubevirtSource(t, kubevirtReleases[minor])
			gates := gatesOf(t, dir)
			covered := map[string]bool{}
			files := map[string]bool{vmiAdmitter: true, vmAdmitter: true}
			for _, f := range gatedFeatures {
				if !slices.Contains(f.minors, minor) {
					continue
				}
				files[f.source] = true
				data, err := os.ReadFile(filepath.Join(dir, f.source))
				require.NoError(t, err, "%s: %s", f.what, f.source)
				assert.Contains(t, string(data), f.check, "%s: the check is not in %s of %s", f.what, f.source, kubevirtReleases[minor])
				want := []string{f.gate}
				if f.alt != "" {
					want = append(want, f.alt)
				}
				var got []string
				for _, m := range enabledCall.FindAllStringSubmatch(f.check, -1) {
					covered[m[1]] = true
					got = append(got, gates[m[1]])
				}
				assert.ElementsMatch(t, want, got, "%s: the gates its check tests", f.what)
				st, known := b.KubeVirtGates[minor][f.gate]
				assert.True(t, known, "%s: gate %s is not in schemas/gates.cue for %s", f.what, f.gate, minor)
				assert.NotEqual(t, "GA", st.State, "%s: gate %s is GA in %s: the row should not list it", f.what, f.gate, minor)
			}
			network, _ := filepath.Glob(filepath.Join(dir, "pkg", "network", "admitter", "*.go"))
			for _, p := range network {
				if !strings.HasSuffix(p, "_test.go") {
					rel, _ := filepath.Rel(dir, p)
					files[rel] = true
				}
			}
			for _, extra := range []string{"pkg/virt-api/webhooks/amd64.go", "pkg/storage/admitters/storagehotplug.go"} {
				if _, err := os.Stat(filepath.Join(dir, extra)); err == nil {
					files[extra] = true
				}
			}
			for f := range files {
				data, err := os.ReadFile(filepath.Join(dir, f))
				require.NoError(t, err)
				for _, m := range enabledCall.FindAllStringSubmatch(string(data), -1) {
					if !covered[m[1]] && notModelled[m[1]] == "" {
						t.Errorf("%s of %s calls %s (gate %q): model it in gatedFeatures or say in notModelled why not",
							f, kubevirtReleases[minor], m[1], gates[m[1]])
					}
				}
			}
		})
	}
}
