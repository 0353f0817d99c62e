package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

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

// fieldsHash fingerprints the fields vmo-cue owns in a live object: its Apply entry in managedFields,
// minus the paths drift ignores for this kind. "" if vmo-cue owns nothing there.
func fieldsHash(managed []metav1.ManagedFieldsEntry, ignore [][]string) string {
	for _, m := range managed {
		if m.Manager != FieldManager || m.Operation != metav1.ManagedFieldsOperationApply || m.Subresource != "" || m.FieldsV1 == nil {
			continue
		}
		var tree map[string]any
		if err := json.Unmarshal(m.FieldsV1.Raw, &tree); err != nil {
			return "unparsable"
		}
		for _, p := range ignore {
			dropField(tree, p)
		}
		data, _ := json.Marshal(tree)
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:16])
	}
	return ""
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

// ignorePaths turns the cluster's drift.ignore setting into paths per kind.
func ignorePaths(settings map[string]any) map[string][][]string {
	out := map[string][][]string{}
	drift, _ := settings["drift"].(map[string]any)
	ignore, _ := drift["ignore"].(map[string]any)
	for kind, list := range ignore {
		l, _ := list.([]any)
		for _, p := range l {
			if s, ok := p.(string); ok {
				out[kind] = append(out[kind], strings.Split(s, "."))
			}
		}
	}
	return out
}
