package genfleet_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

// A generated fleet validates in both forms, and in CUE files split by CUEVMsPerFile (7 VMs in a
// cluster, 3 a file: vms-000.cue to vms-002.cue), and the same seed writes the same bytes.
func TestGenerate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		form      genfleet.Form
		cuePer    int
		wantFiles []string // of clusters/c-000
	}{
		{"cue", genfleet.FormCUE, 0, []string{"cluster.cue", "vms.cue"}},
		{"cue-split", genfleet.FormCUE, 3, []string{"cluster.cue", "vms-000.cue", "vms-001.cue", "vms-002.cue"}},
		{"yaml", genfleet.FormYAML, 0, []string{"cluster.cue", "vms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := genfleet.Options{Clusters: 3, VMs: 20, Form: tc.form, Seed: 7, VMsPerFile: 3, CUEVMsPerFile: tc.cuePer}
			a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
			st, err := genfleet.Generate(a, o)
			if err != nil {
				t.Fatal(err)
			}
			if st.Clusters != 3 || st.VMs != 20 {
				t.Fatalf("stats: %+v", st)
			}
			if _, err := genfleet.Generate(b, o); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(filepath.Join(a, "clusters", "c-000"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, tc.wantFiles) {
				t.Fatalf("clusters/c-000 holds %v, want %v", names, tc.wantFiles)
			}
			if diff := compareTrees(t, a, b); diff != "" {
				t.Fatalf("not deterministic: %s differs", diff)
			}
			r, err := desired.Load(a, desired.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if errs := r.All().Errors(); len(errs) > 0 {
				var buf bytes.Buffer
				errs.Print(&buf)
				t.Fatalf("generated fleet does not validate:\n%s", buf.String())
			}
			vms := 0
			for _, c := range r.Clusters {
				vms += len(c.VMs)
			}
			if len(r.Clusters) != 3 || vms != 20 {
				t.Fatalf("loaded %d clusters, %d VMs; want 3, 20", len(r.Clusters), vms)
			}
		})
	}
}

func compareTrees(t *testing.T, a, b string) string {
	t.Helper()
	diff := ""
	filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || diff != "" {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(x, y) {
			diff = rel
		}
		return nil
	})
	return diff
}

func TestGenerateRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := genfleet.Generate(dir, genfleet.Options{Clusters: 1, VMs: 1}); err == nil {
		t.Fatal("want an error for a non-empty directory")
	}
}
