package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// CheckWrites checks the items that need a write as an apply checks them before its first write
// (Strict field validation; the local schema check or a server dry-run, see checkBeforeWrite) and
// writes nothing. The error names every refused object with the server's words. `diff` calls it so
// that it judges an object as `apply` would.
func (c *Cluster) CheckWrites(ctx context.Context, items []*Item) error {
	var writes []*Item
	for _, it := range items {
		if it.Action != None {
			if it.body == nil {
				it.body = encode(it.Object)
			}
			writes = append(writes, it)
		}
	}
	now, _ := c.resolvable(writes)
	fails := c.checkBeforeWrite(ctx, now, writes, Options{})
	if len(fails) == 0 {
		return nil
	}
	sort.Slice(fails, func(i, j int) bool { return fails[i].Item.ID.String() < fails[j].Item.ID.String() })
	errs := make([]error, len(fails))
	for i, f := range fails {
		errs[i] = f
	}
	return fmt.Errorf("the server refused %d objects, as an apply would: %w", len(fails), errors.Join(errs...))
}
