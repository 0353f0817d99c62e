package wire

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vmo-cue/vmo-cue/reconciler"
)

// TestReadWrite: what the worker writes for a cluster (NewAnswer, Write) the controller and the agent
// read back (Read) as the same desired state, integers as int64; a cluster without a file, an answer
// with an error and a file of another cluster are told apart.
func TestReadWrite(t *testing.T) {
	vm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
		"metadata": map[string]any{"name": "web", "namespace": "apps"}, "spec": map[string]any{"runStrategy": "Always",
			"template": map[string]any{"spec": map[string]any{"domain": map[string]any{"cpu": map[string]any{"cores": int64(2)}}}}}}}
	want := &reconciler.Desired{Fleet: "acme", Cluster: "dc-east", Objects: []*unstructured.Unstructured{vm},
		DriftIgnore: map[string][][]string{"VirtualMachine": {{"spec", "running"}}},
		Prune:       reconciler.PrunePolicy{VirtualMachines: true, MaxShare: 0.25},
		VMs:         map[string]reconciler.VMOwners{reconciler.VMKey("apps", "web"): {Power: reconciler.PowerGit, DerivedMACs: map[string]string{"default": "02:00:00:00:00:01"}}}}
	tests := []struct {
		name    string
		write   func(t *testing.T, dir string)
		cluster string
		want    *reconciler.Desired
		err     string
	}{
		{name: "desired state", cluster: "dc-east", want: want, write: func(t *testing.T, dir string) {
			a, err := NewAnswer(want)
			require.NoError(t, err)
			require.NoError(t, Write(dir, a))
		}},
		{name: "not written", cluster: "dc-west", err: "cluster dc-west: not in the revision", write: func(*testing.T, string) {}},
		{name: "render error", cluster: "dc-east", err: "cluster dc-east: policy says no", write: func(t *testing.T, dir string) {
			require.NoError(t, Write(dir, &Answer{Cluster: "dc-east", Error: "cluster dc-east: policy says no"}))
		}},
		{name: "another cluster's file", cluster: "dc-east", err: "asked for cluster dc-east, got dc-west", write: func(t *testing.T, dir string) {
			require.NoError(t, Write(dir, &Answer{Cluster: "dc-west"}))
			require.NoError(t, os.Rename(File(dir, "dc-west"), File(dir, "dc-east")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.write(t, dir)
			got, err := Read(dir, tt.cluster)
			if tt.err != "" {
				assert.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestRenderError: an answer with an error is a *RenderError carrying the worker's message; a missing
// file is ErrNotWritten.
func TestRenderError(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Write(dir, &Answer{Cluster: "a", Error: "boom"}))
	_, err := Read(dir, "a")
	var rerr *RenderError
	require.ErrorAs(t, err, &rerr)
	assert.Equal(t, RenderError{Cluster: "a", Message: "boom"}, *rerr)
	_, err = Read(dir, "b")
	assert.ErrorIs(t, err, ErrNotWritten)
}

// TestFile: a cluster's file is named by its name in hex, inside the folder.
func TestFile(t *testing.T) {
	assert.Equal(t, filepath.Join("out", "cluster-64632d65617374.json"), File("out", "dc-east"))
	assert.Equal(t, filepath.Join("out", "cluster-2e2e2f78.json"), File("out", "../x"))
}
