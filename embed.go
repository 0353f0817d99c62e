// Package vmocue embeds the project's CUE module (schemas, policies and render templates), so that
// the vmo-cue binary validates and renders any fleet repository without this source tree at hand.
package vmocue

import (
	"embed"
	"io/fs"
	"strings"
)

// Module is the CUE module vmo-cue.dev/vmo: cue.mod/module.cue, schemas/, policies/ and cue/.
//
//go:embed cue.mod/module.cue schemas/*.cue schemas/kubevirt/*.cue schemas/cdi/*.cue schemas/upstream/*.cue policies/*.cue cue/*.cue
var Module embed.FS

// ModulePath is the CUE module path of Module.
const ModulePath = "vmo-cue.dev/vmo"

// LanguageVersion is the CUE language version of Module (cue.mod/module.cue), and of the fleets that
// init and the benchmark generator write.
const LanguageVersion = "v0.17.0"

// ModuleFile is a cue.mod/module.cue for the module at path (with its major version, "@v0").
func ModuleFile(path string) string {
	return "module: \"" + path + "\"\nlanguage: version: \"" + LanguageVersion + "\"\n"
}

// WalkCUE calls fn for every .cue file of the embedded module's packages (schemas, policies, cue),
// with its path relative to the module root; cue.mod itself is left out. Init, the benchmark fleet
// generator and the engine's overlay all place the module through it.
func WalkCUE(fn func(path string, data []byte) error) error {
	return fs.WalkDir(Module, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".cue") || strings.HasPrefix(p, "cue.mod/") {
			return nil
		}
		data, err := Module.ReadFile(p)
		if err != nil {
			return err
		}
		return fn(p, data)
	})
}

// SchemaLines are the declarations a fleet's root file makes (after `import "vmo-cue.dev/vmo/schemas"`)
// so that its declarations are checked against the schemas, by vmo-cue and by upstream cue alike.
// They are applied field by field: CUE does not close definitions reached through a definition
// embedded at a package's root.
const SchemaLines = `fleet:    schemas.#Fleet
cluster?: schemas.#Cluster
vms?: [Name=string]: schemas.#NamedVirtualMachine & {#name: Name}
`
