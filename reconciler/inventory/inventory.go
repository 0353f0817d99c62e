// Package inventory records, in the cluster itself, what vmo-cue applied there: every object with the
// hash of its desired state and the hash of the fields vmo-cue owns in it (its managedFields entry),
// and the revision they came from. It lives in a ConfigMap, so prune works after a restart and from
// another machine, and drift is found from one LIST per kind instead of a dry-run per object. Next to
// it, the cluster identity (identity.go) records which fleet and cluster the API server belongs to.
package inventory

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

const (
	// Namespace holds vmo-cue's own state in a cluster.
	Namespace = "vmo-cue-system"
	// Name is the inventory ConfigMap.
	Name    = "vmo-cue-inventory"
	dataKey = "inventory.json.gz"

	// LabelFleet and LabelCluster are vmo-cue's ownership marks: every object it applies carries
	// them, naming the fleet and the cluster whose apply wrote it.
	LabelFleet   = "vmo-cue.dev/fleet"
	LabelCluster = "vmo-cue.dev/cluster"
)

// ID identifies an object.
type ID struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Key is the ID without the version (objects keep their identity across API versions).
func (id ID) Key() string { return id.Group + "/" + id.Kind + "/" + id.Namespace + "/" + id.Name }

func (id ID) String() string {
	gk := id.Kind
	if id.Group != "" {
		gk += "." + id.Group
	}
	// The name comes from git or from the cluster: quoted if it holds anything unprintable.
	if id.Namespace != "" {
		return gk + " " + diag.Name(id.Namespace+"/"+id.Name)
	}
	return gk + " " + diag.Name(id.Name)
}

// Entry is one applied object.
type Entry struct {
	ID
	// DesiredHash is the hash of the object as rendered from git when it was applied.
	DesiredHash string `json:"desired"`
	// FieldsHash is the hash of vmo-cue's managedFields entry right after the apply: when another
	// manager takes a field vmo-cue set, or removes it, the live entry no longer matches.
	FieldsHash string `json:"fields"`
	// FieldsRef names, in Inventory.FieldSets, vmo-cue's managedFields entry itself (before any drift
	// ignore path is taken out), so that drift can be judged again under ignore paths changed since.
	// Empty in inventories written before field sets were recorded.
	FieldsRef string `json:"fieldsRef,omitempty"`
	// UID is the object's UID in the server's answer to vmo-cue's last apply of it: prune deletes
	// only the object vmo-cue applied, never one made under its name since. Empty in inventories
	// written before UIDs were recorded (such entries are never pruned) and for an object recorded
	// before its first apply.
	UID string `json:"uid,omitempty"`
	// MACs are, for a VirtualMachine adopted with MACs of its own, the live MACs kept on interfaces
	// git leaves without one (by interface name): they stand in for the MACs vmo-cue would derive,
	// apply after apply, until git writes a MAC there (vmo-cue mac adopt).
	MACs map[string]string `json:"macs,omitempty"`
}

// Inventory is the record of one cluster.
type Inventory struct {
	// Fleet and Cluster name the owner: the fleet and cluster whose apply wrote the inventory (Fleet
	// is empty in inventories written before fleets had names). An apply of another cluster refuses.
	Fleet    string    `json:"fleet,omitempty"`
	Cluster  string    `json:"cluster"`
	Revision string    `json:"revision"`
	Applied  time.Time `json:"applied"`
	Entries  []Entry   `json:"entries"`
	// FieldSets holds vmo-cue's managedFields entries (FieldsV1), once per distinct set: objects of
	// one shape share one (their sets differ only where their list keys do).
	FieldSets map[string]json.RawMessage `json:"fieldSets,omitempty"`
}

// Owner returns the fleet and cluster that wrote the inventory (nil for none).
func (inv *Inventory) Owner() *Identity {
	if inv == nil {
		return nil
	}
	return &Identity{Fleet: inv.Fleet, Cluster: inv.Cluster}
}

// Index returns the entries by key.
func (inv *Inventory) Index() map[string]Entry {
	out := make(map[string]Entry, len(inv.Entries))
	for _, e := range inv.Entries {
		out[e.Key()] = e
	}
	return out
}

// ErrNotFound is returned when a cluster has no inventory yet.
var ErrNotFound = fmt.Errorf("no inventory in %s/%s", Namespace, Name)

// ErrCorrupt is returned when the inventory is there but cannot be decoded: callers must not prune,
// and the next write replaces it.
var ErrCorrupt = errors.New("inventory unreadable")

// Read loads the inventory; ErrNotFound if there is none, ErrCorrupt if it does not decode. Any other
// error is the server's (it did not answer, or refused the read): the inventory may be fine.
func Read(ctx context.Context, c client.Client) (*Inventory, error) {
	var cm corev1.ConfigMap
	err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: Name}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading inventory %s/%s: %w", Namespace, Name, err)
	}
	return decode(&cm)
}

// decode reads the inventory out of its ConfigMap; ErrCorrupt if it does not decode.
func decode(cm *corev1.ConfigMap) (*Inventory, error) {
	data, ok := cm.BinaryData[dataKey]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s has no %s", ErrCorrupt, Namespace, Name, dataKey)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, Namespace, Name, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, Namespace, Name, err)
	}
	var inv Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", ErrCorrupt, Namespace, Name, err)
	}
	return &inv, nil
}

// Write stores the inventory (creating its namespace if needed), with server-side apply.
func Write(ctx context.Context, c client.Client, inv *Inventory, fieldOwner string) error {
	if err := writeNamespace(ctx, c, fieldOwner); err != nil {
		return err
	}
	cm, err := encode(inv)
	if err != nil {
		return err
	}
	if err := ApplyObject(ctx, c, cm, fieldOwner); err != nil {
		return fmt.Errorf("writing inventory %s/%s: %w", Namespace, Name, err)
	}
	return nil
}

// encode makes the ConfigMap that holds the inventory (entries sorted by key, gzipped JSON).
func encode(inv *Inventory) (*corev1.ConfigMap, error) {
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].Key() < inv.Entries[j].Key() })
	raw, err := json.Marshal(inv)
	if err != nil {
		return nil, fmt.Errorf("encoding inventory %s/%s: %w", Namespace, Name, err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encoding inventory %s/%s: %w", Namespace, Name, err)
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "vmo-cue", LabelFleet: inv.Fleet, LabelCluster: inv.Cluster},
			Annotations: map[string]string{
				"vmo-cue.dev/revision": inv.Revision,
				"vmo-cue.dev/applied":  inv.Applied.UTC().Format(time.RFC3339),
				"vmo-cue.dev/objects":  fmt.Sprint(len(inv.Entries)),
			}},
		BinaryData: map[string][]byte{dataKey: buf.Bytes()},
	}, nil
}

// writeNamespace creates (or keeps) the namespace of vmo-cue's state.
func writeNamespace(ctx context.Context, c client.Client, fieldOwner string) error {
	ns := corev1ac.Namespace(Namespace).WithLabels(map[string]string{"app.kubernetes.io/managed-by": "vmo-cue"})
	if err := c.Apply(ctx, ns, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing namespace %s: %w", Namespace, err)
	}
	return nil
}
