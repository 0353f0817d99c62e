package cuemod_test

import (
	"context"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/mod/module"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/cuemod"
)

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		pkg, name string
		lookup    string
	}{
		{pkg: "./cue", name: "render", lookup: "#Render"},
		{pkg: "./schemas", name: "schemas", lookup: "#VirtualMachine"},
		{pkg: "./policies", name: "policies", lookup: "#MAC"},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			insts, err := cuemod.Load(tc.pkg)
			require.NoError(t, err)
			require.Len(t, insts, 1)
			assert.Equal(t, tc.name, insts[0].PkgName)
			v := cuecontext.New().BuildInstance(insts[0])
			require.NoError(t, v.Err())
			assert.True(t, v.LookupPath(cue.ParsePath(tc.lookup)).Exists(), tc.lookup)
		})
	}
	// The light VM schema stands for schemas/vm.cue: a VM's spec is open (the real one is closed).
	insts, err := cuemod.Load("./schemas")
	require.NoError(t, err)
	ctx := cuecontext.New()
	vm := ctx.BuildInstance(insts[0]).LookupPath(cue.ParsePath("#VirtualMachine"))
	assert.NoError(t, vm.Unify(ctx.CompileString(`spec: noSuchField: 1`)).Validate(), "the light #VirtualMachine's spec is open")
}

func TestLoadRefusesWhatIsNotThere(t *testing.T) {
	_, err := cuemod.Load("./nosuch")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "embedded CUE package")
}

func TestCheckVirtual(t *testing.T) {
	dir := t.TempDir()
	assert.EqualError(t, cuemod.CheckVirtual(dir), dir+" exists on this machine: vmo-cue evaluates CUE there, in memory, and will not mix in what a folder of that name holds")
	assert.NoError(t, cuemod.CheckVirtual(dir+"/absent"))
}

func TestNoRegistry(t *testing.T) {
	mv, err := module.NewVersion("example.com/m@v0", "v0.1.0")
	require.NoError(t, err)
	_, err = cuemod.NoRegistry{}.Fetch(context.Background(), mv)
	assert.EqualError(t, err, "module example.com/m@v0.1.0: vmo-cue fetches no CUE module from a registry: vendor it under cue.mod/pkg")
	versions, err := cuemod.NoRegistry{}.ModuleVersions(context.Background(), "example.com/m@v0")
	assert.NoError(t, err)
	assert.Empty(t, versions)
}
