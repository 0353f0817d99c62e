package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// DriftMode says what to do with drift.
type DriftMode string

const (
	// DriftCorrect re-applies what drifted.
	DriftCorrect DriftMode = "correct"
	// DriftReport changes nothing that already exists: it only creates objects new in git, and reports.
	DriftReport DriftMode = "report"
)

// Options configure one reconcile.
type Options struct {
	// Revision is recorded in the inventory (a commit, or a content hash).
	Revision string
	Drift    DriftMode
	// Prune deletes objects that left git, within the cluster's prune policy.
	Prune bool
	// ForcePrune allows a prune over the policy's maximum share of the inventory.
	ForcePrune bool
	// DryRun checks every change as before a write (a server-side dry-run, or check.go) and writes
	// nothing.
	DryRun bool
	// DryRunEvery checks every object with a server-side dry-run before the first write, none
	// against its CRD's schema in vmo-cue (check.go).
	DryRunEvery bool
	// Adopt takes over an API server recorded for another fleet or cluster (see ErrIdentityMismatch):
	// its identity is rewritten. What the other owner applied is never pruned (it carries the other's
	// marks): it is reported as not ours.
	Adopt bool
	// PendingTimeout bounds the wait for kinds that do not exist yet (VMs before virt-operator);
	// DefaultPendingTimeout if zero.
	PendingTimeout time.Duration
	// Concurrency bounds concurrent requests (8 if 0).
	Concurrency int
	// Logf reports progress (may be nil).
	Logf func(format string, args ...any)
	// BeforeWrite, if set, is called once before the first write (to record a Syncing status).
	BeforeWrite func()
	// LeaveDrift, if set, names objects whose drift is reported (Result.Drifted) and not corrected
	// even with DriftCorrect: the agent's fight guard gives up on an object another manager keeps
	// changing. Changes from git are applied to them as usual.
	LeaveDrift func(inventory.ID) bool
}

// Result is what a reconcile did (or, with DryRun or DriftReport, would do).
type Result struct {
	Cluster  string
	Revision string
	// Applied are objects created or updated from git; Corrected are drifted objects re-applied.
	Applied   []*Item
	Corrected []*Item
	// Drifted are drifted objects left as they are (DriftReport).
	Drifted []*Item
	// OutOfSync are objects changed in git but not applied (DriftReport leaves existing objects alone).
	OutOfSync []*Item
	Unchanged int
	// Pending are objects whose kind the cluster does not serve yet.
	Pending []*Item
	// Failed are objects the server refused; with a failure before any write, nothing was written.
	Failed []ObjectError
	Pruned []inventory.ID
	// Orphans are objects that left git and were kept (Kept says why), or would be pruned.
	Orphans []Orphan
	// PruneRefused, with Options.Prune, says why the prune was refused as a whole and nothing
	// pruned (the share guard); empty when it was not. The apply itself went through.
	PruneRefused string
	// Written is false when nothing was written to the cluster.
	Written bool
	// Requests is the number of API requests made.
	Requests int64
	// DryRunTook is the time of the dry-run before the first write; WriteTook of the writes (with the
	// dry-runs of kinds that appeared on the way, and the waits for CRDs).
	DryRunTook, WriteTook time.Duration
	// Notes are things a person should know (no prune without inventory, and so on).
	Notes []string
	// Objects are every desired object, written or not (the health check of a rollout looks at all
	// of them: a cluster is healthy at a revision whether or not this run wrote anything).
	Objects []*Item
}

// InSync reports whether nothing needed doing or reporting.
func (r *Result) InSync() bool {
	return len(r.Applied)+len(r.Corrected)+len(r.Drifted)+len(r.OutOfSync)+len(r.Pending)+len(r.Failed) == 0
}

// Observe plans a reconcile without writing: the desired objects against the inventory and the
// cluster's live objects (one LIST per kind); the plan carries the cluster's identity record.
func (c *Cluster) Observe(ctx context.Context, d *Desired) (*Plan, error) {
	for _, u := range d.Objects {
		markOwned(u, d.Fleet, d.Cluster)
	}
	inv, invErr := inventory.Read(ctx, c.client())
	if invErr != nil && !errors.Is(invErr, inventory.ErrNotFound) && !errors.Is(invErr, inventory.ErrCorrupt) {
		// Not an answer about the inventory: going on would adopt every object and write a new
		// inventory over one that may be fine, forgetting what left git.
		return nil, invErr
	}
	id, err := inventory.ReadIdentity(ctx, c.client())
	if err != nil {
		return nil, err
	}
	kinds := kindsOf(d.Objects, inv)
	l, err := c.observe(ctx, kinds)
	if err != nil {
		return nil, err
	}
	p := plan(d.Objects, inv, invErr, l, d.DriftIgnore, d.VMs)
	p.Identity = id
	return p, nil
}

func kindsOf(desired []*unstructured.Unstructured, inv *inventory.Inventory) []schema.GroupVersionKind {
	seen := map[schema.GroupKind]bool{}
	var out []schema.GroupVersionKind
	add := func(gvk schema.GroupVersionKind) {
		if !seen[gvk.GroupKind()] {
			seen[gvk.GroupKind()] = true
			out = append(out, gvk)
		}
	}
	for _, u := range desired {
		add(u.GroupVersionKind())
	}
	if inv != nil {
		for _, e := range inv.Entries {
			add(schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// DefaultPendingTimeout is how long objects wait for their kind to exist, unless Options say otherwise:
// the one default of every command's and the controller's --pending-timeout.
const DefaultPendingTimeout = 30 * time.Second

// Reconcile brings the cluster to its desired state.
func (c *Cluster) Reconcile(ctx context.Context, d *Desired, opts Options) (*Result, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.Drift == "" {
		opts.Drift = DriftCorrect
	}
	if opts.PendingTimeout == 0 {
		opts.PendingTimeout = DefaultPendingTimeout
	}
	start := c.Requests()
	res := &Result{Cluster: d.Cluster, Revision: opts.Revision}
	defer func() { res.Requests = c.Requests() - start }()

	p, err := c.Observe(ctx, d)
	if err != nil {
		return res, err
	}
	res.Objects = p.Items
	// Another fleet's or cluster's API server (a wrong context): nothing is written, not even a dry-run.
	if err := checkOwner(d.Fleet, d.Cluster, p.Identity, p.Inventory); err != nil {
		if !opts.Adopt {
			return res, fmt.Errorf("cluster %s: %w", d.Cluster, err)
		}
		res.Notes = append(res.Notes, fmt.Sprintf("adopted: %v", err))
	}
	var writes []*Item
	for _, it := range p.Items {
		switch {
		case it.Action == None:
			res.Unchanged++
		case it.Action.Drift() && (opts.Drift == DriftReport || opts.LeaveDrift != nil && opts.LeaveDrift(it.ID)):
			res.Drifted = append(res.Drifted, it)
		case opts.Drift == DriftReport && (it.Action == Update || it.Action == Adopt):
			res.OutOfSync = append(res.OutOfSync, it)
		default:
			writes = append(writes, it)
		}
	}
	logf("%s: %d objects, %d to write, %d unchanged", d.Cluster, len(p.Items), len(writes), res.Unchanged)

	// All or nothing: every write whose kind exists is dry-run on the server before the first write.
	// Objects in a namespace that this apply creates cannot be dry-run there yet: they are dry-run
	// in a stand-in namespace. Objects whose kind does not exist yet (its CRD is part of this apply,
	// or an operator creates it) are dry-run before their stage. Nothing is dry-run twice.
	// New custom resources that no admission webhook or policy sees are checked here against their
	// CRD's schema instead (check.go).
	dryRunStart := time.Now()
	now, later := c.resolvable(writes)
	fails := c.checkBeforeWrite(ctx, now, writes, opts)
	res.DryRunTook = time.Since(dryRunStart)
	if n := len(now); n > 0 && len(fails) == 0 {
		logf("%s: dry-run: the server accepted all %d objects it can check now (%s)", d.Cluster, n, res.DryRunTook.Round(time.Millisecond))
	}
	if len(fails) > 0 {
		res.Failed = fails
		return res, fmt.Errorf("cluster %s: the server refused %d objects in a dry-run: nothing written", d.Cluster, len(fails))
	}
	if opts.DryRun {
		res.Pending = later
		c.sortWrites(res, writes)
		return res, c.planPrune(ctx, p, d, opts, res, false)
	}
	if len(writes) > 0 && opts.BeforeWrite != nil {
		opts.BeforeWrite()
	}
	if len(writes) > 0 {
		// Record the owner and the intent first: a sync killed half-way still knows every object it
		// may have made, and whose API server this is.
		if err := c.writeIdentity(ctx, p, d); err != nil {
			return res, err
		}
		if err := c.writeInventory(ctx, p, d, opts, res, true); err != nil {
			return res, err
		}
		res.Written = true
	}
	writeStart := time.Now()
	pending, err := c.applyStages(ctx, writes, opts, logf, res)
	res.WriteTook = time.Since(writeStart)
	if err != nil {
		return res, err
	}
	res.Pending = pending
	c.sortWrites(res, writes)
	if err := c.planPrune(ctx, p, d, opts, res, opts.Prune); err != nil {
		return res, err
	}
	if res.Written || len(res.Pruned) > 0 || p.Inventory == nil || p.vanished > 0 || !ownedBy(p.Identity, d) || !ownedBy(p.Inventory.Owner(), d) {
		if err := c.writeIdentity(ctx, p, d); err != nil {
			return res, err
		}
		if err := c.writeInventory(ctx, p, d, opts, res, false); err != nil {
			return res, err
		}
		res.Written = true
	}
	return res, nil
}

// checkBeforeWrite checks items (whose kinds the cluster serves) before the first write of writes:
// against their CRD's schema (check.go) or, for the rest, by a server-side dry-run, in a stand-in
// namespace for those whose namespace writes create. It returns every object refused.
func (c *Cluster) checkBeforeWrite(ctx context.Context, items, writes []*Item, opts Options) []ObjectError {
	local := make(chan []ObjectError, 1)
	if opts.DryRunEvery {
		local <- nil
	} else {
		var check func() []ObjectError
		items, check = c.checkLocally(ctx, items, createdNamespaces(writes), opts.Concurrency)
		go func() { local <- check() }() // while the server dry-runs the rest
	}
	items, inNew := splitNewNamespaces(items, writes)
	fails := c.applyAll(ctx, items, true, opts.Concurrency)
	fails = append(fails, c.dryRunElsewhere(ctx, inNew, opts.Concurrency)...)
	return append(<-local, fails...)
}

// uncheckedItems returns the items no dry-run has accepted yet.
func uncheckedItems(items []*Item) []*Item {
	var out []*Item
	for _, it := range items {
		if !it.checked {
			out = append(out, it)
		}
	}
	return out
}

// createdNamespaces names the namespaces that writes create.
func createdNamespaces(writes []*Item) map[string]bool {
	created := map[string]bool{}
	for _, it := range writes {
		if it.ID.Group == "" && it.ID.Kind == "Namespace" && (it.Action == Create || it.Action == Recreate) {
			created[it.ID.Name] = true
		}
	}
	return created
}

// splitNewNamespaces separates items that live in a namespace created by this same apply.
func splitNewNamespaces(items, writes []*Item) (ok, inNew []*Item) {
	created := createdNamespaces(writes)
	for _, it := range items {
		if it.ID.Namespace != "" && created[it.ID.Namespace] {
			inNew = append(inNew, it)
		} else {
			ok = append(ok, it)
		}
	}
	return ok, inNew
}

// applyStages applies stage by stage; kinds not served yet are retried until PendingTimeout.
func (c *Cluster) applyStages(ctx context.Context, writes []*Item, opts Options, logf func(string, ...any), res *Result) ([]*Item, error) {
	var pending []*Item
	for stage := 0; stage <= 2; stage++ {
		var items []*Item
		for _, it := range writes {
			if it.Stage == stage {
				items = append(items, it)
			}
		}
		items = append(items, pending...)
		pending = nil
		if len(items) == 0 {
			continue
		}
		now, later := c.resolvable(items)
		stageStart := time.Now()
		if err := c.checkThenApply(ctx, now, opts, res, fmt.Sprintf("stage %d", stage)); err != nil {
			return nil, err
		}
		logf("%s: stage %d: %d applied (%s)", res.Cluster, stage, len(now), time.Since(stageStart).Round(time.Millisecond))
		if stage == 0 {
			if err := c.waitEstablished(ctx, now, time.Minute); err != nil {
				return nil, err
			}
		}
		pending = later
	}
	if len(pending) == 0 {
		return nil, nil
	}
	deadline := time.Now().Add(opts.PendingTimeout)
	for len(pending) > 0 && time.Now().Before(deadline) {
		logf("%s: %d objects wait for their kind to exist (%s)", res.Cluster, len(pending), pending[0].ID.Kind)
		select {
		case <-ctx.Done():
			return pending, ctx.Err()
		case <-time.After(time.Second):
		}
		if err := c.Refresh(); err != nil {
			return pending, err
		}
		now, later := c.resolvable(pending)
		if err := c.checkThenApply(ctx, now, opts, res, "objects whose kind appeared"); err != nil {
			return later, err
		}
		pending = later
	}
	return pending, nil
}

// checkThenApply dry-runs the items no dry-run has accepted yet (their kind appeared after the first
// dry-run), then applies them all; what names them in errors.
func (c *Cluster) checkThenApply(ctx context.Context, items []*Item, opts Options, res *Result, what string) error {
	if fails := c.checkBeforeWrite(ctx, uncheckedItems(items), nil, opts); len(fails) > 0 {
		res.Failed = fails
		return fmt.Errorf("cluster %s: the server refused %d objects in a dry-run: %s not written", res.Cluster, len(fails), what)
	}
	if fails := c.applyAll(ctx, items, false, opts.Concurrency); len(fails) > 0 {
		res.Failed = fails
		return fmt.Errorf("cluster %s: %d objects failed to apply (%s)", res.Cluster, len(fails), what)
	}
	return nil
}

// sortWrites lists the writes done (or, with DryRun, that would be done) as applied or corrected;
// pending objects are not.
func (c *Cluster) sortWrites(res *Result, writes []*Item) {
	pending := make(map[*Item]bool, len(res.Pending))
	for _, it := range res.Pending {
		pending[it] = true
	}
	for _, it := range writes {
		if pending[it] {
			continue
		}
		if it.Action.Drift() {
			res.Corrected = append(res.Corrected, it)
		} else {
			res.Applied = append(res.Applied, it)
		}
	}
}

// planPrune decides about orphans, and deletes them if do.
func (c *Cluster) planPrune(ctx context.Context, p *Plan, d *Desired, opts Options, res *Result, do bool) error {
	if p.Inventory == nil {
		if opts.Prune {
			if errors.Is(p.InventoryErr, inventory.ErrNotFound) {
				res.Notes = append(res.Notes, "no inventory in the cluster yet: nothing pruned")
			} else {
				res.Notes = append(res.Notes, fmt.Sprintf("%v: nothing pruned", p.InventoryErr))
			}
		}
		return nil
	}
	if len(p.Orphans) == 0 {
		return nil
	}
	pol := d.Prune
	pol.Force = opts.ForcePrune
	deleted, kept, vanished, err := c.prune(ctx, p.Orphans, p.live, len(p.Inventory.Entries), pol, do, d.Fleet, d.Cluster)
	var guard *ShareGuardError
	if errors.As(err, &guard) {
		err = nil
		if opts.Prune {
			res.PruneRefused = guard.Error()
		}
	}
	p.vanished = vanished
	res.Pruned = deleted
	res.Orphans = kept
	if !opts.Prune {
		for i := range res.Orphans {
			if res.Orphans[i].Kept == "" {
				res.Orphans[i].Kept = "left git (use --prune to delete)"
			}
		}
	}
	return err
}

// writeInventory records the state after (or, with intent, before) the writes.
func (c *Cluster) writeInventory(ctx context.Context, p *Plan, d *Desired, opts Options, res *Result, intent bool) error {
	inv := &inventory.Inventory{Fleet: d.Fleet, Cluster: d.Cluster, Revision: opts.Revision, Applied: time.Now(), FieldSets: map[string]json.RawMessage{}}
	ignore := d.DriftIgnore
	for _, it := range p.Items {
		e := inventory.Entry{ID: it.ID}
		switch {
		case it.wasApplied:
			raw := ownFields(it.appliedFields)
			e.DesiredHash, e.FieldsHash, e.FieldsRef = it.desired, hashFieldSet(raw, ignore[it.ID.Kind]), fieldsRef(raw)
			e.UID = it.appliedUID
			e.MACs = it.keptMACs
			if raw != nil {
				inv.FieldSets[e.FieldsRef] = json.RawMessage(raw)
			}
		case it.hadEntry:
			// Not applied (yet, or at all: unchanged, drift reported, pending, failed): keep what was
			// recorded. A sync killed before the apply finds the change again from it.
			e = it.entry
		case intent:
			// New and not applied yet: recorded without hashes, so it is known for prune and applied.
		default:
			continue
		}
		inv.Entries = append(inv.Entries, e)
	}
	if p.Inventory != nil {
		keptKeys := map[string]bool{}
		for _, o := range res.Orphans {
			keptKeys[o.ID.Key()] = true
		}
		for _, o := range p.Orphans {
			if intent || keptKeys[o.Key()] {
				inv.Entries = append(inv.Entries, o)
			}
		}
	}
	// Entries kept as they were keep the field sets they name.
	for _, e := range inv.Entries {
		if _, ok := inv.FieldSets[e.FieldsRef]; !ok && e.FieldsRef != "" && p.Inventory != nil {
			if set, ok := p.Inventory.FieldSets[e.FieldsRef]; ok {
				inv.FieldSets[e.FieldsRef] = set
			}
		}
	}
	return inventory.Write(ctx, c.client(), inv, FieldManager)
}

// writeIdentity records the fleet and cluster this API server belongs to, once per reconcile, if it
// is not recorded so already (a first apply, a cluster first applied by a vmo-cue without identity
// records, or an adoption).
func (c *Cluster) writeIdentity(ctx context.Context, p *Plan, d *Desired) error {
	if p.identityWritten || ownedBy(p.Identity, d) {
		return nil
	}
	if err := inventory.WriteIdentity(ctx, c.client(), inventory.Identity{Fleet: d.Fleet, Cluster: d.Cluster, Since: time.Now()}, FieldManager); err != nil {
		return err
	}
	p.identityWritten = true
	return nil
}

// ownedBy reports whether a recorded owner is this fleet and cluster.
func ownedBy(id *inventory.Identity, d *Desired) bool {
	return id != nil && id.Fleet == d.Fleet && id.Cluster == d.Cluster
}
