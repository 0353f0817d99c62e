package apischema

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository root, found from this file's directory.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// generated are the files the generator makes from the checked-in upstream CRDs, and those CRDs
// (TestUpstreamCRDsAreCurrent checks them against the releases): nothing is downloaded.
var generated = sync.OnceValues(func() (map[string][]byte, error) {
	_, file, _, _ := runtime.Caller(0)
	up, err := ReadUpstream(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		return nil, err
	}
	files, err := GenerateLocal(up)
	if err != nil {
		return nil, err
	}
	for p, b := range up {
		files[p] = b
	}
	return files, nil
})

func generatedFiles(t testing.TB) map[string][]byte {
	files, err := generated()
	require.NoError(t, err)
	return files
}

// loadCUE builds CUE package dir ("schemas/kubevirt") of a module that holds only the generated CUE
// files and the project's cue.mod/module.cue, so that other CUE in the tree cannot interfere.
func loadCUE(t testing.TB, ctx *cue.Context, files map[string][]byte, dir string) cue.Value {
	root := t.TempDir()
	module, err := os.ReadFile(filepath.Join(repoRoot(t), "cue.mod", "module.cue"))
	require.NoError(t, err)
	write := func(p string, b []byte) {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, b, 0o644))
	}
	write("cue.mod/module.cue", module)
	for p, b := range files {
		if filepath.Ext(p) == ".cue" {
			write(p, b)
		}
	}
	insts := load.Instances([]string{"./" + dir}, &load.Config{Dir: root, ModuleRoot: root})
	require.Len(t, insts, 1)
	require.NoError(t, insts[0].Err)
	v := ctx.BuildInstance(insts[0])
	require.NoError(t, v.Err())
	return v
}

func newCUEContext() *cue.Context { return cuecontext.New() }
