package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// idOf returns an object's identity.
func idOf(u *unstructured.Unstructured) inventory.ID {
	gvk := u.GroupVersionKind()
	return inventory.ID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// encode returns the object's JSON, map keys sorted (by encoding/json): the same object, the same bytes.
func encode(u *unstructured.Unstructured) []byte {
	data, _ := json.Marshal(u.Object) // rendered objects hold only JSON values
	return data
}

// desiredHash fingerprints the desired object from its encoding.
func desiredHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

// ownFields returns vmo-cue's Apply entry in an object's managedFields (FieldsV1 JSON; nil if vmo-cue
// owns nothing there).
func ownFields(managed []metav1.ManagedFieldsEntry) []byte {
	for _, m := range managed {
		if m.Manager == FieldManager && m.Operation == metav1.ManagedFieldsOperationApply && m.Subresource == "" && m.FieldsV1 != nil {
			return m.FieldsV1.GetRawBytes()
		}
	}
	return nil
}

// FieldsRef names vmo-cue's managedFields entry in an object as the inventory records it
// (Entry.FieldsRef): "" when vmo-cue owns nothing there. A watcher compares it with the recorded one
// to tell another manager's change from vmo-cue's own apply.
func FieldsRef(managed []metav1.ManagedFieldsEntry) string { return fieldsRef(ownFields(managed)) }

// fieldsRef names a field set as recorded (the hash of its bytes).
func fieldsRef(raw []byte) string {
	if raw == nil {
		return ""
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// hashFieldSet fingerprints a FieldsV1 set minus the ignored paths ("" for none).
func hashFieldSet(raw []byte, ignore [][]string) string {
	if raw == nil {
		return ""
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return "unparsable"
	}
	for _, p := range ignore {
		dropField(tree, p)
	}
	data, _ := json.Marshal(tree)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// fieldsChanged reports whether vmo-cue's fields in a live object differ from what the entry recorded
// after the apply, paths drift ignores aside. With the recorded set at hand (FieldsRef), both sides
// are judged under today's ignore paths, so that changing drift.ignore never turns into drift; an
// entry from before field sets were recorded compares hashes.
func fieldsChanged(live []metav1.ManagedFieldsEntry, e inventory.Entry, sets map[string]json.RawMessage, ignore [][]string) bool {
	raw := ownFields(live)
	if recorded, ok := sets[e.FieldsRef]; ok && e.FieldsRef != "" {
		if fieldsRef(raw) == e.FieldsRef {
			return false // the very set recorded
		}
		return hashFieldSet(raw, ignore) != hashFieldSet(recorded, ignore)
	}
	return hashFieldSet(raw, ignore) != e.FieldsHash
}

// dropField removes a field path ("spec", "runStrategy") from a FieldsV1 tree ({"f:spec": {...}}).
func dropField(tree map[string]any, path []string) {
	cur := tree
	for i, p := range path {
		key := "f:" + p
		if i == len(path)-1 {
			delete(cur, key)
			return
		}
		next, ok := cur[key].(map[string]any)
		if !ok {
			return
		}
		cur = next
	}
}
