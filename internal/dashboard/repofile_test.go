package dashboard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadRepoFile(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(outside, []byte("token"), 0o600))
	repo := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "clusters", "a"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "clusters", "a", "vm.yaml"), []byte("kind: VirtualMachine\n"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(repo, "clusters", "a", "link.yaml")))

	tests := []struct {
		name, rel, want, err string
	}{
		{"a file of the repository", "clusters/a/vm.yaml", "kind: VirtualMachine\n", ""},
		{"a path leading out", "../" + filepath.Base(filepath.Dir(outside)) + "/secret", "", "path escapes from parent"},
		{"a symlink leading out", "clusters/a/link.yaml", "", "path escapes from parent"},
		{"missing", "clusters/a/none.yaml", "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := readRepoFile(repo, tt.rel)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.NotContains(t, string(data), "token")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(data))
		})
	}
}
