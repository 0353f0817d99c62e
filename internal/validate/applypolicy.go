package validate

import (
	"github.com/vmo-cue/vmo-cue/internal/applypolicy"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// checkApplyPolicy refuses operator images from registries the cluster's `policy: apply: registries`
// does not list, at the image's setting (or, for an image vmo-cue derives from the version, at the
// version and the policy). Objects are checked where they are rendered (desired.Render).
func checkApplyPolicy(c *Cluster, b *engine.Builtin) {
	if !c.Declared {
		return
	}
	p := applypolicy.FromSettings(c.Settings.Policy.Apply)
	if len(p.Registries) == 0 {
		return
	}
	policyAt := c.positions([]string{"policy", "apply", "registries", "0"})
	for _, part := range c.Settings.Stack.Parts() {
		if !part.On {
			continue
		}
		comp, image := part.Name, operatorImage(part, b) // the image that will run
		if image == "" {
			continue
		}
		v := p.CheckImage(image)
		if v == nil {
			continue
		}
		path := []string{"stack", comp, "operator", "image"}
		var pos []diag.Position
		if c.userSet(path...) {
			pos = c.positions(path)
		} else if c.userSet("stack", comp, "version") {
			pos = append(c.positions([]string{"stack", comp, "version"}), policyAt...)
		} else {
			pos = policyAt // vmo-cue's default image
		}
		c.Diags.Errorf("apply-policy", pathOf(path), pos, "%s", v.Message)
	}
}
