package engine

import (
	"fmt"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"

	"github.com/vmo-cue/vmo-cue/internal/cuemod"
)

// GateState is a feature gate's state in one release (schemas/gates.cue).
type GateState struct {
	State       string `json:"state"`
	Replacement string `json:"replacement,omitempty"`
}

// Rendered reports whether a known gate a configuration sets to on is rendered: not when it is GA
// (always on, the operator refuses nothing without it) or discontinued. The one home of the rule:
// validation asks it of the gates a VM's features need, resolution of the gates it renders.
func (s GateState) Rendered(on bool) bool {
	return on && s.State != "GA" && s.State != "Discontinued"
}

// Builtin is the data the embedded module defines: the stack's defaults, the settings' and the
// rollout's defaults (the default MAC policy among them), the feature gate tables and the images.
type Builtin struct {
	// Defaults is schemas.Defaults: the stack as the VMO pack ships it.
	Defaults map[string]any
	// KubeVirtGates and CDIGates map a minor version ("v1.6") to its gates.
	KubeVirtGates map[string]map[string]GateState
	CDIGates      map[string]map[string]GateState
	// SettingsDefaults is schemas.SettingsDefaults: a cluster's settings under fleet.defaults and its
	// own (the stack's Defaults, namespace, MAC policy, prune share).
	SettingsDefaults map[string]any
	// RolloutDefaults is schemas.RolloutDefaults: the rollout's settings fleet.rollout leaves unset.
	RolloutDefaults map[string]any
	// Images maps a component to its operator image repository and tag template (schemas.Images).
	Images map[string]Image
}

// Image is a component's operator image: the tag template holds "{version}" or "{semver}".
type Image struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
}

// For is the operator image of a version: the tag template filled ("{version}" as written,
// "{semver}" without its "v"). The one home of the rule: validation checks the image that will
// run against the apply policy, resolution writes it into the stack.
func (i Image) For(version string) string {
	tag := strings.ReplaceAll(strings.ReplaceAll(i.Tag, "{version}", version), "{semver}", strings.TrimPrefix(version, "v"))
	return i.Repository + ":" + tag
}

var (
	builtinOnce sync.Once
	builtin     *Builtin
	builtinErr  error
)

// LoadBuiltin evaluates the embedded schemas once per process.
func LoadBuiltin() (*Builtin, error) {
	builtinOnce.Do(func() { builtin, builtinErr = loadBuiltin() })
	return builtin, builtinErr
}

func loadBuiltin() (*Builtin, error) {
	insts, err := loadEmbedded("./schemas")
	if err != nil {
		return nil, err
	}
	ctx := cuecontext.New()
	vals, err := ctx.BuildInstances(insts)
	if err != nil {
		return nil, fmt.Errorf("embedded schemas: %w", err)
	}
	b := &Builtin{}
	decode := func(v cue.Value, path string, into any) error {
		x := v.LookupPath(cue.ParsePath(path))
		if err := x.Decode(into); err != nil {
			return fmt.Errorf("embedded schemas: %s: %w", path, err)
		}
		return nil
	}
	if err := decode(vals[0], "Defaults", &b.Defaults); err != nil {
		return nil, err
	}
	if err := decode(vals[0], "KubeVirtGates", &b.KubeVirtGates); err != nil {
		return nil, err
	}
	if err := decode(vals[0], "CDIGates", &b.CDIGates); err != nil {
		return nil, err
	}
	if err := decode(vals[0], "Images", &b.Images); err != nil {
		return nil, err
	}
	if err := decode(vals[0], "SettingsDefaults", &b.SettingsDefaults); err != nil {
		return nil, err
	}
	if err := decode(vals[0], "RolloutDefaults", &b.RolloutDefaults); err != nil {
		return nil, err
	}
	return b, nil
}

// LoadEmbedded loads packages of the embedded module (such as "./cue", the render templates) as
// instances, with no fleet around them.
func LoadEmbedded(pkg string) (*build.Instance, error) {
	insts, err := loadEmbedded(pkg)
	if err != nil {
		return nil, err
	}
	return insts[0], nil
}

func loadEmbedded(pkgs ...string) ([]*build.Instance, error) { return cuemod.Load(pkgs...) }
