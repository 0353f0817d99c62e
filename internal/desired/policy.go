package desired

import (
	"fmt"

	"github.com/vmo-cue/vmo-cue/internal/applypolicy"
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
	p := applypolicy.FromSettings(c.Merged)
	// The VM namespaces: the cluster's, its VMs' and its Multus networks'; a system namespace the
	// cluster's policy allows for VMs (policy.namespaces.allowSystem) counts as listed.
	vmNS := map[string]bool{c.Namespace: true}
	for _, vm := range c.VMs {
		vmNS[vm.Namespace] = true
	}
	nets, _ := c.Stack["multus"].(map[string]any)
	networks, _ := nets["networks"].(map[string]any)
	for _, n := range networks {
		if ns, _ := n.(map[string]any)["namespace"].(string); ns != "" {
			vmNS[ns] = true
		}
	}
	pol, _ := c.Merged["policy"].(map[string]any)
	nsPol, _ := pol["namespaces"].(map[string]any)
	allow, _ := nsPol["allowSystem"].([]any)
	for _, x := range allow {
		if s, ok := x.(string); ok {
			p.Namespaces = append(p.Namespaces, s)
		}
	}
	for _, o := range objs {
		if v := p.Check(o, vmNS); v != nil {
			return fmt.Errorf("cluster %s: %s (rule %s): %w", diag.Name(c.Name), v.Message, v.Rule, ErrPolicy)
		}
	}
	return nil
}
