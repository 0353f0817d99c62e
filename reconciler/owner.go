package reconciler

import (
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// Ownership: what vmo-cue applies carries its marks (labels naming the fleet and the cluster, in
// vmo-cue's own keys), and an API server records which fleet and cluster it belongs to. Prune trusts
// the live object, never the inventory alone: an inventory is a ConfigMap anyone allowed to write
// ConfigMaps in vmo-cue-system can change.

// ErrIdentityMismatch is returned when the API server belongs to another fleet or cluster: nothing
// was written.
var ErrIdentityMismatch = errors.New("cluster identity mismatch")

// markOwned puts vmo-cue's ownership marks on an object it applies. Other labels, a user's included,
// are left as they are.
func markOwned(u *unstructured.Unstructured, fleet, cluster string) {
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[inventory.LabelFleet], l[inventory.LabelCluster] = fleet, cluster
	u.SetLabels(l)
}

// notOurs says why a live object listed in the inventory is not provably vmo-cue's ("" if it is): it
// must carry the ownership marks of this fleet and cluster, hold an entry of vmo-cue's field manager
// in its managedFields, and be the very object vmo-cue applied (the UID the inventory recorded from
// the server's answer). Every proof that fails is named.
func notOurs(obj *metav1.PartialObjectMetadata, e inventory.Entry, fleet, cluster string) string {
	var why []string
	labels := obj.GetLabels()
	for _, l := range [...]struct{ key, want string }{{inventory.LabelFleet, fleet}, {inventory.LabelCluster, cluster}} {
		switch got, ok := labels[l.key]; {
		case !ok:
			why = append(why, "no label "+l.key)
		case got != l.want:
			why = append(why, fmt.Sprintf("label %s is %q, not %q", l.key, got, l.want))
		}
	}
	if !appliedByUs(obj.ManagedFields) {
		why = append(why, "no managedFields entry of field manager "+FieldManager)
	}
	switch {
	case e.UID == "":
		why = append(why, "no UID recorded in the inventory (an entry of an older vmo-cue, or never applied)")
	case string(obj.UID) != e.UID:
		why = append(why, fmt.Sprintf("UID %s is not the one vmo-cue applied (%s): deleted and made again by someone", obj.UID, e.UID))
	}
	return strings.Join(why, "; ")
}

// appliedByUs reports whether vmo-cue's field manager holds an Apply entry.
func appliedByUs(managed []metav1.ManagedFieldsEntry) bool {
	for _, m := range managed {
		if m.Manager == FieldManager && m.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// checkOwner refuses an API server recorded for another fleet or cluster: by its identity record, or,
// on a cluster first applied by a vmo-cue without one, by its inventory's owner. Nothing recorded
// means a first apply. An inventory's owner is checked too when an identity is recorded: an
// inventory brought from another cluster is not this one's.
func checkOwner(fleet, cluster string, id *inventory.Identity, inv *inventory.Inventory) error {
	if id != nil && (id.Fleet != fleet || id.Cluster != cluster) {
		return mismatch("this API server belongs to "+owner(id.Fleet, id.Cluster), id.Fleet, fleet, cluster)
	}
	if inv != nil && inv.Cluster != "" && (inv.Cluster != cluster || inv.Fleet != "" && inv.Fleet != fleet) {
		return mismatch(fmt.Sprintf("the inventory %s/%s belongs to %s", inventory.Namespace, inventory.Name, owner(inv.Fleet, inv.Cluster)), inv.Fleet, fleet, cluster)
	}
	return nil
}

// mismatch names both owners; the fleet of the refused apply only when it is not the recorded one.
func mismatch(recorded, recordedFleet, fleet, cluster string) error {
	want := owner(fleet, cluster)
	if recordedFleet == fleet {
		want = owner("", cluster)
	}
	return fmt.Errorf("%w: %s; refusing to apply %s (use --adopt to take it over)", ErrIdentityMismatch, recorded, want)
}

// owner names a fleet and cluster ("cluster C" when the fleet is not known).
func owner(fleet, cluster string) string {
	if cluster == "" {
		cluster = `""`
	}
	if fleet == "" {
		return "cluster " + cluster
	}
	return "fleet " + fleet + " cluster " + cluster
}
