// Package vmocue embeds the project's CUE module (schemas, policies and render templates), so that
// the vmo-cue binary validates and renders any fleet repository without this source tree at hand.
package vmocue

import "embed"

// Module is the CUE module vmo-cue.dev/vmo: cue.mod/module.cue, schemas/, policies/ and cue/.
//
//go:embed cue.mod/module.cue schemas/*.cue schemas/kubevirt/*.cue schemas/cdi/*.cue schemas/crds/*.yaml policies/*.cue cue/*.cue
var Module embed.FS

// ModulePath is the CUE module path of Module.
const ModulePath = "vmo-cue.dev/vmo"
