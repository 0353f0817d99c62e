// Package cuemod loads packages of the embedded CUE module (vmocue.Module: schemas, policies, render
// templates) for Go, with no fleet around them: from memory, under a virtual root that is not on
// disk, with no module registry. The engine (built-in definitions) and render (templates) both load
// the module through it.
package cuemod

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/mod/modfile"
	"cuelang.org/go/mod/module"

	vmocue "github.com/vmo-cue/vmo-cue"
)

// LightVM replaces schemas/vm.cue when vmo-cue evaluates: VMs are checked against the same generated
// schema by internal/schema in Go, which is an order of magnitude faster than unifying every VM with
// the closed CUE definition (upstream `cue vet` still does the latter, with the real vm.cue).
const LightVM = `package schemas

#VirtualMachine: {
	apiVersion?: string
	kind?:       string
	metadata?: {...}
	spec?: {...}
	status?: {...}
}
`

// root is where the loader sees the embedded module: a folder that is not on disk (CheckVirtual).
const root = "/vmo-cue-embedded"

// Load loads packages of the embedded module (such as "./cue", the render templates) as instances,
// schemas/vm.cue being LightVM.
func Load(pkgs ...string) ([]*build.Instance, error) {
	if err := CheckVirtual(root); err != nil {
		return nil, err
	}
	ov := map[string]load.Source{root + "/cue.mod/module.cue": load.FromString(vmocue.ModuleFile(vmocue.ModulePath + "@v0"))}
	err := vmocue.WalkCUE(func(p string, data []byte) error {
		if p == "schemas/vm.cue" {
			data = []byte(LightVM)
		}
		ov[path.Join(root, p)] = load.FromBytes(data)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded CUE module: %w", err)
	}
	insts := load.Instances(pkgs, &load.Config{Dir: root, ModuleRoot: root, Overlay: ov, Registry: NoRegistry{}})
	for _, inst := range insts {
		if inst.Err != nil {
			return nil, fmt.Errorf("embedded CUE package %s: %w", inst.ImportPath, inst.Err)
		}
	}
	return insts, nil
}

// CheckVirtual makes sure a virtual root is nowhere on disk: the loader looks on disk, below its
// module root, for anything its overlay does not hold, and must find nothing there.
func CheckVirtual(root string) error {
	if _, err := os.Lstat(root); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s exists on this machine: vmo-cue evaluates CUE there, in memory, and will not mix in what a folder of that name holds", root)
	}
	return nil
}

// NoRegistry is the loader's module registry: vmo-cue fetches no CUE module (from the network, or
// from a cache outside the repository). A fleet's dependencies are vendored under cue.mod/pkg.
type NoRegistry struct{}

// ModFile refuses every module.
func (NoRegistry) ModFile(_ context.Context, mv module.Version) (*modfile.File, error) {
	return nil, errNoRegistry(mv)
}

// Fetch refuses every module.
func (NoRegistry) Fetch(_ context.Context, mv module.Version) (module.SourceLoc, error) {
	return module.SourceLoc{}, errNoRegistry(mv)
}

// ModuleVersions knows no version of any module: an import no folder provides is "not found".
func (NoRegistry) ModuleVersions(context.Context, string) ([]string, error) { return nil, nil }

func errNoRegistry(mv module.Version) error {
	return fmt.Errorf("module %s: vmo-cue fetches no CUE module from a registry: vendor it under cue.mod/pkg", mv)
}
