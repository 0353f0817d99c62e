package render_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/applypolicy"
	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/render"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// TestMarksAreTheTemplates: vmo-cue's labels are the same on what the CUE templates render (the
// stack's objects, _#in.labels in cue/render.cue) and on what Go renders (CRDs, VMs: render.Marks),
// for every component, VLAN filtering included.
func TestMarksAreTheTemplates(t *testing.T) {
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), tmp))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "clusters", "edge-1", "vlan.cue"),
		[]byte("package fleet\n\ncluster: stack: vlanFiltering: enabled: true\n"), 0o644))
	r, err := desired.Load(tmp, desired.Options{})
	require.NoError(t, err)
	require.Empty(t, r.All())
	objs, err := desired.Objects(r.Cluster("edge-1"))
	require.NoError(t, err)

	components := map[string]int{}
	for _, o := range objs {
		md := o["metadata"].(map[string]any)
		labels, _ := md["labels"].(map[string]any)
		component, _ := labels[applypolicy.ComponentLabel].(string)
		marks := map[string]string{}
		for k, v := range labels {
			if strings.HasPrefix(k, "vmo-cue.dev/") || k == render.PartOfLabel {
				marks[k] = v.(string)
			}
		}
		if o["kind"] == "VirtualMachine" {
			// A VM's own labels are its file's (base's VM sets none of these keys).
			assert.Equal(t, render.Marks("edge-1", ""), marks, "%v %v", o["kind"], md["name"])
			continue
		}
		require.NotEmpty(t, component, "%v %v: no component label", o["kind"], md["name"])
		components[component]++
		assert.Equal(t, render.Marks("edge-1", component), marks, "%v %v", o["kind"], md["name"])
	}
	for _, c := range []string{"kubevirt", "cdi", "multus", "descheduler", "snapshotController", "volumeSnapshotController", "dashboard", "vlanFiltering"} {
		assert.Positive(t, components[c], "objects of %s", c)
	}
}

func TestMarks(t *testing.T) {
	for _, tc := range []struct {
		cluster, component string
		want               map[string]string
	}{
		{"edge-1", "", map[string]string{"vmo-cue.dev/cluster": "edge-1"}},
		{"edge-1", "kubevirt", map[string]string{"vmo-cue.dev/cluster": "edge-1", "vmo-cue.dev/component": "kubevirt", "app.kubernetes.io/part-of": "vmo"}},
	} {
		assert.Equal(t, tc.want, render.Marks(tc.cluster, tc.component), "%s %q", tc.cluster, tc.component)
	}
}

// TestRenderRefusesWhatDoesNotValidate: nothing is rendered from a cluster with errors, or from a
// folder without a declaration.
func TestRenderRefusesWhatDoesNotValidate(t *testing.T) {
	for _, tc := range []struct{ name, file, text, cluster, err string }{
		{"an error in the cluster", "clusters/edge-1/bad.cue", "package fleet\n\ncluster: stack: kubevirt: version: \"v1.2.0\"\n", "edge-1",
			"cluster edge-1 does not validate: nothing rendered (run vmo-cue vet)"},
		{"no declaration", "clusters/loose/vm.yaml", strings.Replace(kustomizedVM, "name: web", "name: loose", 1), "loose",
			"cluster loose does not validate: nothing rendered (run vmo-cue vet)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
			require.NoError(t, err)
			t.Cleanup(func() { os.RemoveAll(tmp) })
			require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), tmp))
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(tmp, tc.file)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(tmp, tc.file), []byte(tc.text), 0o644))
			r, err := desired.Load(tmp, desired.Options{})
			require.NoError(t, err)
			c := r.Cluster(tc.cluster)
			require.NotNil(t, c)
			objs, err := desired.Objects(c)
			assert.EqualError(t, err, tc.err)
			assert.ErrorAs(t, err, new(render.ErrInvalid))
			assert.Nil(t, objs)
		})
	}
}
