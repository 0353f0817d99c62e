package desired

import (
	"fmt"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/render"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// ErrPolicy is returned for a cluster whose rendered objects the cluster's `policy: apply:` refuses:
// nothing is applied.
var ErrPolicy = fmt.Errorf("refused by the cluster's apply policy (policy: apply): nothing applied")

// checkPolicy checks every rendered object against the cluster's apply policy, the last gate before
// the reconciler (apply, sync and the controller all render through Render).
func checkPolicy(c *validate.Cluster, objs []render.Object) error {
	p, vmNS := c.ApplyPolicy()
	for _, o := range objs {
		if v := p.Check(o, vmNS); v != nil {
			return fmt.Errorf("cluster %s: %s (rule %s): %w", diag.Name(c.Name), v.Message, v.Rule, ErrPolicy)
		}
	}
	return nil
}
