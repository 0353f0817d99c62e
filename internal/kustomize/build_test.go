package kustomize

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		f := filepath.Join(root, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(f), 0o755))
		require.NoError(t, os.WriteFile(f, []byte(s), 0o644))
	}
}

var stack = []map[string]any{{
	"apiVersion": "apps/v1", "kind": "Deployment",
	"metadata": map[string]any{"name": "virt-operator", "namespace": "kubevirt"},
	"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "virt-operator", "image": "x"}}}}},
}}

func TestBuild(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		stack []map[string]any
		check func(t *testing.T, objs []Object)
		err   string
	}{{
		name: "extra objects placed at their file and line",
		files: map[string]string{
			"clusters/a/k/kustomization.yaml": "resources:\n- cm.yaml\n",
			"clusters/a/k/cm.yaml":            "# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n",
		},
		check: func(t *testing.T, objs []Object) {
			require.Len(t, objs, 2)
			assert.Equal(t, "clusters/a/k/cm.yaml:7", objs[1].Pos.File+":"+itoa(objs[1].Pos.Line))
			assert.NotContains(t, objs[0].Object["metadata"], "annotations")
		},
	}, {
		name: "a base outside the folder, inside the repository",
		files: map[string]string{
			"clusters/a/k/kustomization.yaml": "resources:\n- ../../../bases/mon\n",
			"bases/mon/kustomization.yaml":    "resources:\n- sc.yaml\n",
			"bases/mon/sc.yaml":               "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast\nprovisioner: x\n",
		},
		check: func(t *testing.T, objs []Object) {
			require.Len(t, objs, 1)
			assert.Equal(t, "bases/mon/sc.yaml", objs[0].Pos.File)
		},
	}, {
		name: "a patch reaches a stack object",
		files: map[string]string{
			"clusters/a/k/kustomization.yaml": "patches:\n- target: {kind: Deployment, name: virt-operator}\n  patch: |\n    - op: add\n      path: /spec/template/spec/nodeSelector\n      value: {role: infra}\n",
		},
		stack: stack,
		check: func(t *testing.T, objs []Object) {
			require.Len(t, objs, 1)
			assert.True(t, objs[0].Stack)
			assert.Equal(t, map[string]any{"role": "infra"}, objs[0].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["nodeSelector"])
		},
	}, {
		name:  "a stack object moved",
		files: map[string]string{"clusters/a/k/kustomization.yaml": "namespace: other\n"},
		stack: stack,
		err:   "kustomize build clusters/a/k: a stack object became Deployment other/virt-operator: a kustomization may patch vmo-cue's stack objects, not rename or move them (rule kustomize-stack):\n    ./clusters/a/k/kustomization.yaml:1:0",
	}, {
		name:  "a remote base",
		files: map[string]string{"clusters/a/k/kustomization.yaml": "resources:\n- cm.yaml\n- https://github.com/org/repo//base?ref=v1\n"},
		err:   "resources: remote kustomize base \"https://github.com/org/repo//base?ref=v1\" refused: vmo-cue builds only from the fleet repository (vendor it into the repository) (rule kustomize-remote):\n    ./clusters/a/k/kustomization.yaml:3:3",
	}, {
		name:  "a file outside the repository",
		files: map[string]string{"clusters/a/k/kustomization.yaml": "resources:\n- ../../../../outside.yaml\n"},
		err:   "kustomize build clusters/a/k: accumulating resources: accumulation err='accumulating resources from '../../../../outside.yaml': '/outside.yaml' doesn't exist': must build at directory: not a valid directory: '/outside.yaml' doesn't exist (rule kustomize):\n    ./clusters/a/k/kustomization.yaml:1:0",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, tt.files)
			// A file beside the repository, which kustomize must not reach.
			write(t, filepath.Dir(root), map[string]string{"outside.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: secret\n"})
			tree, err := Load(root, 1<<20)
			require.NoError(t, err)
			objs, diags := tree.Build("clusters/a/k", tt.stack)
			if tt.err != "" {
				require.Len(t, diags.Errors(), 1, diags)
				assert.Equal(t, tt.err, diags.Errors()[0].Error())
				return
			}
			require.False(t, diags.HasErrors(), diags)
			tt.check(t, objs)
		})
	}
}

func itoa(i int) string { return filepath.Base(string(rune('0' + i%10))) }
