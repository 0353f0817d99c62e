package reconciler

import (
	"encoding/json"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// Action is what a desired object needs.
type Action string

const (
	// Create: new in git, absent from the cluster.
	Create Action = "create"
	// Update: changed in git since it was applied.
	Update Action = "update"
	// Recreate: applied before, deleted by someone since (drift).
	Recreate Action = "recreate"
	// Correct: fields vmo-cue set were changed or removed by another manager (drift).
	Correct Action = "correct"
	// Adopt: live but not in the inventory (a first sync over existing objects, or a lost inventory).
	Adopt Action = "adopt"
	// None: in sync.
	None Action = "unchanged"
)

// Drift reports whether the action corrects drift rather than carrying a change from git.
func (a Action) Drift() bool { return a == Recreate || a == Correct }

// Item is one desired object and what it needs.
type Item struct {
	ID     inventory.ID
	Object *unstructured.Unstructured
	Action Action
	// Reason explains drift: which managers changed vmo-cue's fields.
	Reason string
	// Stage orders applies: 0 CRDs, Namespaces and cluster-wide objects; 1 the stack; 2 VMs and other
	// kinds the operators create at run time.
	Stage    int
	desired  string
	entry    inventory.Entry
	hadEntry bool
	// body is the object's JSON, as sent (request.go) and hashed (desired).
	body []byte
	// appliedFields are the managedFields of the server's answer to the apply (wasApplied), and
	// appliedUID the UID of the object applied.
	appliedFields []metav1.ManagedFieldsEntry
	appliedUID    string
	wasApplied    bool
	// checked is set once the server accepted the object in a dry-run.
	checked bool
	// keptMACs are the adopted MACs of a VM, recorded in its inventory entry (vmowners.go).
	keptMACs map[string]string
	// live is the whole live object of a kind listed whole (VMs; nil otherwise or if absent).
	live *unstructured.Unstructured
}

// Plan is what a sync would do.
type Plan struct {
	Items []*Item
	// Orphans are inventory entries no longer in git.
	Orphans []inventory.Entry
	// Inventory is the previous inventory (nil if none or unreadable; see InventoryErr).
	Inventory    *inventory.Inventory
	InventoryErr error
	// Identity is the recorded owner of the API server (nil if none is recorded yet).
	Identity *inventory.Identity
	// identityWritten is set once this reconcile recorded the identity.
	identityWritten bool
	// live is what the LISTs returned, orphans' kinds included (prune reads them from here).
	live *live
	// vanished counts orphans someone else deleted: the inventory forgets them.
	vanished int
}

// Changes returns the items that need a write.
func (p *Plan) Changes() []*Item {
	var out []*Item
	for _, it := range p.Items {
		if it.Action != None {
			out = append(out, it)
		}
	}
	return out
}

var clusterStageKinds = map[string]bool{
	"CustomResourceDefinition": true, "Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"PriorityClass": true, "StorageClass": true,
}

func stageOf(u *unstructured.Unstructured) int {
	switch {
	case clusterStageKinds[u.GetKind()]:
		return 0
	case crds.CreatedBy(u.GetKind()) != "":
		return 2
	}
	return 1
}

// plan compares desired objects with the inventory and the live objects' metadata.
func plan(desired []*unstructured.Unstructured, inv *inventory.Inventory, invErr error, l *live, ignore map[string][][]string, vms map[string]VMOwners) *Plan {
	p := &Plan{Inventory: inv, InventoryErr: invErr, live: l}
	entries := map[string]inventory.Entry{}
	var sets map[string]json.RawMessage
	if inv != nil {
		entries, sets = inv.Index(), inv.FieldSets
	}
	seen := map[string]bool{}
	for _, u := range desired {
		id := idOf(u)
		k := id.Key()
		it := &Item{ID: id, Object: u, Stage: stageOf(u)}
		it.entry, it.hadEntry = entries[k]
		liveObj := l.objects[k]
		if isVM(id) {
			// What others own in a VM is carried from the live VM into what is sent (vmowners.go).
			it.live = l.full[k]
			adopt := it.live != nil && (!it.hadEntry || it.entry.FieldsHash == "")
			hashed, sent, kept := vmObjects(u, it.live, vms[VMKey(id.Namespace, id.Name)], it.entry, adopt)
			it.Object, it.keptMACs = sent, kept
			it.body, it.desired = encode(sent), desiredHash(encode(hashed))
		} else {
			it.body = encode(u)
			it.desired = desiredHash(it.body)
		}
		seen[k] = true
		switch {
		case liveObj == nil && it.hadEntry && it.entry.FieldsHash != "":
			it.Action, it.Reason = Recreate, "deleted from the cluster by someone"
		case liveObj == nil:
			it.Action = Create
		case !it.hadEntry || it.entry.FieldsHash == "":
			it.Action = Adopt
		case it.entry.DesiredHash != it.desired:
			it.Action = Update
		case it.entry.UID != "" && string(liveObj.UID) != it.entry.UID:
			// Its fields may all be as vmo-cue set them, but it is not the object vmo-cue applied:
			// applying it again makes it vmo-cue's (and records its UID, which prune checks).
			it.Action, it.Reason = Correct, "deleted and made again by someone since vmo-cue applied it (its UID changed)"
		case fieldsChanged(liveObj.ManagedFields, it.entry, sets, ignore[id.Kind]):
			it.Action, it.Reason = Correct, "fields set by vmo-cue were changed or removed"+byManagers(liveObj.ManagedFields)
			if it.live != nil {
				// Fields changed hands: drift only where their values are not what vmo-cue would send.
				var diffs []fieldDiff
				valueDiff(it.Object.Object, it.live.Object, nil, ignore[id.Kind], &diffs)
				if len(diffs) == 0 {
					it.Action, it.Reason = None, ""
				} else {
					it.Reason = describeDiffs(diffs, liveObj.ManagedFields)
				}
			}
		default:
			it.Action = None
		}
		p.Items = append(p.Items, it)
	}
	if inv != nil {
		for _, e := range inv.Entries {
			if !seen[e.Key()] {
				p.Orphans = append(p.Orphans, e)
			}
		}
	}
	sort.SliceStable(p.Items, func(i, j int) bool { return p.Items[i].Stage < p.Items[j].Stage })
	return p
}

// byManagers names the other managers that wrote the object after vmo-cue's last apply.
func byManagers(managed []metav1.ManagedFieldsEntry) string {
	var ours *metav1.Time
	for _, m := range managed {
		if m.Manager == FieldManager && m.Operation == metav1.ManagedFieldsOperationApply {
			ours = m.Time
		}
	}
	var names []string
	for _, m := range managed {
		if m.Manager == FieldManager || m.Subresource == "status" {
			continue
		}
		if ours == nil || m.Time == nil || !m.Time.Before(ours) {
			names = append(names, m.Manager)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return " (by " + strings.Join(names, ", ") + ")"
}
