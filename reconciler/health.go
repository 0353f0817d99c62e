package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// WaitHealthy waits until the given objects are healthy by kstatus (Current): workloads rolled out,
// custom resources Ready, VMs Ready. VMs that should not run (runStrategy Halted or Manual, or running
// false) and CRDs, RBAC and the like (Current once accepted) need nothing more.
func (c *Cluster) WaitHealthy(ctx context.Context, items []*Item, timeout time.Duration) error {
	var set object.ObjMetadataSet
	for _, it := range items {
		if !shouldRun(it) {
			continue
		}
		set = append(set, object.ObjMetadata{
			GroupKind: schema.GroupKind{Group: it.ID.Group, Kind: it.ID.Kind},
			Namespace: it.ID.Namespace, Name: it.ID.Name,
		})
	}
	if len(set) == 0 {
		return nil
	}
	c.mu.Lock()
	mapper := c.mapper
	c.mu.Unlock()
	poller := polling.NewStatusPoller(c.client(), mapper, polling.Options{})
	rm := ssa.NewResourceManager(c.client(), poller, ssa.Owner{Field: FieldManager, Group: "vmo-cue.dev"})
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := rm.WaitForSetWithContext(ctx, set, ssa.WaitOptions{Interval: time.Second, Timeout: timeout, FailFast: true}); err != nil {
		return fmt.Errorf("not healthy within %s: %w", timeout, err)
	}
	return nil
}

func shouldRun(it *Item) bool {
	if it.ID.Group != "kubevirt.io" || it.ID.Kind != "VirtualMachine" {
		return true
	}
	spec, _ := it.Object.Object["spec"].(map[string]any)
	if running, ok := spec["running"].(bool); ok {
		return running
	}
	switch spec["runStrategy"] {
	case "Halted", "Manual":
		return false
	}
	return true
}
