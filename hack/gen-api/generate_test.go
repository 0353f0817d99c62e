package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/stretchr/testify/require"
)

// TestGeneratedAPIFilesAreCurrent runs controller-gen into a temporary directory and compares its
// output with the checked-in deepcopy files and CRDs: a change of the API types without
// `make generate` fails here. The first run on a machine builds controller-gen (minutes).
func TestGeneratedAPIFilesAreCurrent(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	out := t.TempDir()
	require.NoError(t, generate(root, out, t.Logf))

	generated := files(t, out)
	require.Contains(t, generated, "api/v1alpha1/zz_generated.deepcopy.go")
	require.Contains(t, generated, "deploy/crds/fleet.vmo-cue.dev_fleets.yaml")
	require.Contains(t, generated, "deploy/crds/fleet.vmo-cue.dev_fleetclusters.yaml")
	require.Contains(t, generated, "deploy/crds/kustomization.yaml")
	for _, name := range generated {
		want, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(root, name))
		require.NoError(t, err, "%s is not checked in: run make generate", name)
		if string(want) != string(got) {
			diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(got)),
				B: difflib.SplitLines(string(want)), FromFile: name + " (checked in)", ToFile: "controller-gen", Context: 2})
			t.Errorf("%s is stale: run make generate\n%s", name, diff)
		}
	}
	// A CRD whose kind is gone must not stay behind.
	for _, name := range files(t, filepath.Join(root, crdDir)) {
		require.Contains(t, generated, filepath.ToSlash(filepath.Join(crdDir, name)),
			"%s/%s is not generated from api/: remove it (make generate does)", crdDir, name)
	}
}

// files lists the regular files below dir, slash-separated and relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}
