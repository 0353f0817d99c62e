package engine

import (
	"bytes"
	"fmt"
	"path/filepath"

	"cuelang.org/go/cue/load"

	vmocue "github.com/vmo-cue/vmo-cue"
	"github.com/vmo-cue/vmo-cue/internal/cuemod"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// lightVM replaces schemas/vm.cue when vmo-cue evaluates (cuemod.LightVM).
const lightVM = cuemod.LightVM

// builtinOnly are embedded files that only vmo-cue's own Go reads (LoadBuiltin): a fleet's evaluation
// gets them as empty files, which spares parsing and evaluating them once per cluster.
var builtinOnly = map[string]bool{"schemas/gates.cue": true, "schemas/defaults.cue": true}

// ownModuleFile is the module file vmo-cue provides to a fleet without one.
const ownModuleFile = "module: \"vmo-cue.dev/fleet@v0\"\nlanguage: version: \"" + ownModuleLanguage + "\"\n"

// virtualRoot is where the CUE loader sees a fleet's repository: a folder that is not on disk. The
// loader looks on disk, below its module root, for anything its overlay does not hold (the files of
// a package folder, a module file, an embedded file); below a root that does not exist it finds
// nothing, so every file it reads comes from the overlay, that is, from fleetfs. Positions are
// named relative to it, as relative to the repository.
const virtualRoot = "/vmo-cue-fleet"

// checkVirtual makes sure a virtual root is nowhere on disk (cuemod.CheckVirtual).
func checkVirtual(root string) error { return cuemod.CheckVirtual(root) }

// moduleLayout says where the fleet's CUE module and the embedded vmo-cue.dev/vmo packages appear
// to the loader.
type moduleLayout struct {
	// root is the CUE module root of the fleet: the repository's root, always (nothing above it is
	// read, whatever module a folder above it may hold), as the loader sees it (virtualRoot).
	root string
	// pkgDir is where vmo-cue.dev/vmo's packages live: root itself when the repository is this
	// project's module, else root/cue.mod/pkg/vmo-cue.dev/vmo.
	pkgDir string
	// modFile is cue.mod/module.cue: the fleet's, as fleetfs read it, or the one vmo-cue provides.
	modFile []byte
	// ownModule is true when the fleet has no cue.mod/module.cue of its own.
	ownModule bool
}

// findModule places the fleet's module at its repository's root, from the files fleetfs read.
func findModule(repo *fleetfs.Repo) moduleLayout {
	m := moduleLayout{root: virtualRoot, modFile: []byte(ownModuleFile), ownModule: true}
	if f := repo.ModuleFile(); f != nil {
		m.modFile, m.ownModule = f.Data, false
		if bytes.Contains(f.Data, []byte(`"`+vmocue.ModulePath+`@`)) {
			m.pkgDir = m.root
			return m
		}
	}
	m.pkgDir = m.path(fleetfs.VendoredModule)
	return m
}

// path is where the loader sees a file of the repository (rel: slash-separated, relative to the root).
func (m moduleLayout) path(rel string) string {
	return filepath.Join(m.root, filepath.FromSlash(rel))
}

// overlay builds the in-memory files that put the embedded module in place for a fleet: the binary's
// schemas and policies, and the module file when vmo-cue provides it.
func (m moduleLayout) overlay(fullVMSchema, forFleet bool) (map[string]load.Source, error) {
	ov := map[string]load.Source{}
	if m.ownModule {
		ov[m.path(fleetfs.ModuleFile)] = load.FromBytes(m.modFile)
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

// noRegistry is the loader's module registry: none (cuemod.NoRegistry).
type noRegistry = cuemod.NoRegistry
