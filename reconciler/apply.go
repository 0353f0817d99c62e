package reconciler

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ObjectError is one object the server refused.
type ObjectError struct {
	Item *Item
	Err  error
}

func (e ObjectError) Error() string { return fmt.Sprintf("%s: %v", e.Item.ID, e.Err) }

// applyAll server-side applies items concurrently (dry-run only if dryRun) and returns every failure.
// An applied item keeps the managedFields of the server's answer (appliedFields).
func (c *Cluster) applyAll(ctx context.Context, items []*Item, dryRun bool, workers int) []ObjectError {
	return forEach(items, workers, func(it *Item) error { return c.applyOne(ctx, it, dryRun) })
}

// forEach runs fn on every item with at most workers (8 if 0) at once, and returns every failure.
func forEach(items []*Item, workers int, fn func(*Item) error) []ObjectError {
	if workers <= 0 {
		workers = 8
	}
	var mu sync.Mutex
	var errs []ObjectError
	var g errgroup.Group
	g.SetLimit(workers)
	for _, it := range items {
		g.Go(func() error {
			if err := fn(it); err != nil {
				mu.Lock()
				errs = append(errs, ObjectError{Item: it, Err: err})
				mu.Unlock()
			}
			return nil // every failure is kept, not only the first
		})
	}
	_ = g.Wait()
	return errs
}

func (c *Cluster) applyOne(ctx context.Context, it *Item, dryRun bool) error {
	if !dryRun {
		return c.write(ctx, it, apply, it.ID.Namespace, nil)
	}
	if it.Action == Create || it.Action == Recreate {
		// Absent when observed: a create is the cheaper dry-run. If someone made it since, it is
		// dry-run as the apply it will be.
		err := c.write(ctx, it, dryRunCreate, it.ID.Namespace, it.Object)
		if !apierrors.IsAlreadyExists(err) {
			it.checked = err == nil
			return err
		}
	}
	err := c.write(ctx, it, dryRunApply, it.ID.Namespace, nil)
	it.checked = err == nil
	return err
}

// StandInNamespace is where objects are dry-run whose own namespace this apply is about to create:
// it exists in every cluster.
const StandInNamespace = "default"

// dryRunElsewhere dry-runs items whose namespace does not exist yet as a create in StandInNamespace,
// so that the server validates them before anything is written. An object of the same name there
// means the server validated this one (it looks for an existing object only after validation):
// not a failure. A namespace this apply creates has no quota or limit range of its own yet, so the
// stand-in's answer holds for it: the object is not dry-run again before its stage.
func (c *Cluster) dryRunElsewhere(ctx context.Context, items []*Item, workers int) []ObjectError {
	return forEach(items, workers, func(it *Item) error {
		u := it.Object.DeepCopy()
		u.SetNamespace(StandInNamespace)
		err := c.write(ctx, it, dryRunCreate, StandInNamespace, u)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("dry-run in namespace %s (%s does not exist yet): %w", StandInNamespace, it.ID.Namespace, err)
		}
		it.checked = true
		return nil
	})
}

// resolvable splits items into those whose kind the cluster serves now and those it does not.
func (c *Cluster) resolvable(items []*Item) (ok, absent []*Item) {
	for _, it := range items {
		if _, found := c.Mapping(it.Object.GroupVersionKind()); found {
			ok = append(ok, it)
		} else {
			absent = append(absent, it)
		}
	}
	return ok, absent
}
