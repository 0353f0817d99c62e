package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"cuelang.org/go/cue/load"

	vmocue "github.com/vmo-cue/vmo-cue"
)

// lightVM replaces schemas/vm.cue when vmo-cue evaluates: VMs are checked against the same generated
// schema by internal/schema in Go, which is an order of magnitude faster than unifying every VM with
// the closed CUE definition (upstream `cue vet` still does the latter, with the real vm.cue).
const lightVM = `package schemas

#VirtualMachine: {
	apiVersion?: string
	kind?:       string
	metadata?: {...}
	spec?: {...}
	status?: {...}
}
`

// builtinOnly are embedded files that only vmo-cue's own Go reads (LoadBuiltin): a fleet's evaluation
// gets them as empty files, which spares parsing and evaluating them once per cluster.
var builtinOnly = map[string]bool{"schemas/gates.cue": true, "schemas/defaults.cue": true}

// moduleLayout says where the embedded vmo-cue.dev/vmo packages appear for a fleet repository.
type moduleLayout struct {
	// root is the CUE module root of the fleet (the folder holding cue.mod/).
	root string
	// pkgDir is where vmo-cue.dev/vmo's packages live: root itself when the fleet is inside this
	// project's module, else root/cue.mod/pkg/vmo-cue.dev/vmo.
	pkgDir string
	// ownModule is true when the fleet has no cue.mod of its own and one is provided in memory.
	ownModule bool
}

// findModule looks for the CUE module the fleet directory belongs to.
func findModule(fleetRoot string) moduleLayout {
	for dir := fleetRoot; ; dir = filepath.Dir(dir) {
		data, err := os.ReadFile(filepath.Join(dir, "cue.mod", "module.cue"))
		if err == nil {
			if bytes.Contains(data, []byte(`"`+vmocue.ModulePath+`@`)) {
				return moduleLayout{root: dir, pkgDir: dir}
			}
			return moduleLayout{root: dir, pkgDir: filepath.Join(dir, "cue.mod", "pkg", filepath.FromSlash(vmocue.ModulePath))}
		}
		if parent := filepath.Dir(dir); parent == dir {
			break
		}
	}
	return moduleLayout{root: fleetRoot, pkgDir: filepath.Join(fleetRoot, "cue.mod", "pkg", filepath.FromSlash(vmocue.ModulePath)), ownModule: true}
}

// overlay builds the in-memory files that put the embedded module in place for a fleet: the binary's
// schemas and policies always win over copies on disk.
func (m moduleLayout) overlay(fullVMSchema, forFleet bool) (map[string]load.Source, error) {
	ov := map[string]load.Source{}
	if m.ownModule {
		ov[filepath.Join(m.root, "cue.mod", "module.cue")] = load.FromString("module: \"vmo-cue.dev/fleet@v0\"\nlanguage: version: \"" + ownModuleLanguage + "\"\n")
	}
	err := vmocue.WalkCUE(func(p string, data []byte) error {
		if p == "schemas/vm.cue" && !fullVMSchema {
			data = []byte(lightVM)
		}
		if forFleet && builtinOnly[p] {
			data = []byte("package schemas\n")
		}
		ov[filepath.Join(m.pkgDir, filepath.FromSlash(p))] = load.FromBytes(data)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded CUE module: %w", err)
	}
	return ov, nil
}
