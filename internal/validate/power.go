package validate

import "github.com/vmo-cue/vmo-cue/internal/diag"

// powerAnnotation, on a VM, names the owner of its power state over the cluster's powerState setting
// (internal/desired reads it; the reconciler honours it).
const powerAnnotation = "vmo-cue.dev/power-state"

// checkPowerOwner refuses a power-state annotation that names no owner vmo-cue knows.
func checkPowerOwner(c *Cluster, vm *VM) {
	md, _ := vm.Object["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	v, ok := ann[powerAnnotation]
	if !ok {
		return
	}
	if s, _ := v.(string); s == "git" || s == "operators" {
		return
	}
	at := []string{"metadata", "annotations", powerAnnotation}
	c.Diags.Errorf("vm-power-state", vm.Path(at...), []diag.Position{vm.Pos(at...)},
		"annotation %s must be \"git\" or \"operators\" (who owns the VM's runStrategy), not %s", powerAnnotation, fmtValue(v))
}

func fmtValue(v any) string {
	if s, ok := v.(string); ok {
		return `"` + diag.Name(s) + `"`
	}
	return "a non-string value"
}
