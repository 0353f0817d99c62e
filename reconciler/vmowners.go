package reconciler

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// KubeVirt writes into the VirtualMachines it runs, some of it in fields git may also set. Two of them
// cannot be left to server-side apply's field ownership alone:
//
//   - MACs. The interfaces list is atomic: whoever writes a MAC into one interface (KubeVirt's MAC
//     persistence, kubemacpool, a person) takes the whole list, and vmo-cue's next apply of git's list
//     would remove the MAC, changing a running VM's NIC. So an interface git leaves without a MAC gets
//     the live VM's MAC in what vmo-cue sends: never removed, never changed. vmo-cue's own derived MAC
//     (layer-2 interfaces, internal/validate) is applied to a VM vmo-cue creates, where it is then
//     vmo-cue's (a change by hand is drift); a VM adopted with a MAC of its own keeps that one, recorded
//     in the inventory entry, until git writes one (`vmo-cue mac adopt`).
//   - Power state. With PowerOperators, git's runStrategy (or running) is sent when the VM is created;
//     afterwards the live value is sent back: server-side apply deletes a field its owner stops
//     sending, so not sending it would stop the VM.
//
// The desired hash is taken of git's part only (without a power state others own), so a change of
// theirs is never "changed in git"; and a VM whose fields vmo-cue set changed hands is drift only where its
// values differ from what vmo-cue would send (virtctl start after stop gives runStrategy back its
// value under virt-api's name: not drift).

var interfacesPath = []string{"spec", "template", "spec", "domain", "devices", "interfaces"}

func isVM(id inventory.ID) bool { return id.Group == "kubevirt.io" && id.Kind == "VirtualMachine" }

// vmObjects returns, for a desired VM, the object whose hash is its desired hash (git's part), the
// object to send (with what others own carried from the live VM, nil if absent) and the adopted MACs
// to record. adopt is set when the live VM was not applied by vmo-cue before.
func vmObjects(u, liveVM *unstructured.Unstructured, own VMOwners, entry inventory.Entry, adopt bool) (hashed, sent *unstructured.Unstructured, kept map[string]string) {
	hashed, sent = u.DeepCopy(), u.DeepCopy()
	if own.Power == PowerOperators {
		unstructured.RemoveNestedField(hashed.Object, "spec", "runStrategy")
		unstructured.RemoveNestedField(hashed.Object, "spec", "running")
		if liveVM != nil {
			carryPower(sent, liveVM)
		}
	}
	liveMACs := map[string]string{}
	if liveVM != nil {
		ifaces, _, _ := unstructured.NestedSlice(liveVM.Object, interfacesPath...)
		for _, x := range ifaces {
			m, _ := x.(map[string]any)
			name, _ := m["name"].(string)
			if mac, _ := m["macAddress"].(string); mac != "" {
				liveMACs[name] = mac
			}
		}
	}
	sentIfaces, _, _ := unstructured.NestedSlice(sent.Object, interfacesPath...)
	for _, x := range sentIfaces {
		m, _ := x.(map[string]any)
		name, _ := m["name"].(string)
		mac, _ := m["macAddress"].(string)
		derived := own.DerivedMACs[name]
		if mac != "" && mac != derived {
			continue // written in git: git's
		}
		switch {
		case derived == "" && liveMACs[name] != "":
			// Someone else's MAC on an interface git leaves without one: kept as it is.
			m["macAddress"] = liveMACs[name]
		case derived == "":
		case adopt && liveMACs[name] != "":
			m["macAddress"] = liveMACs[name]
			kept = addKept(kept, name, liveMACs[name])
		case entry.MACs[name] != "":
			m["macAddress"] = entry.MACs[name]
			kept = addKept(kept, name, entry.MACs[name])
		}
	}
	if len(sentIfaces) > 0 {
		_ = unstructured.SetNestedSlice(sent.Object, sentIfaces, interfacesPath...)
	}
	return hashed, sent, kept
}

func addKept(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// carryPower replaces git's power state in sent by the live VM's.
func carryPower(sent, liveVM *unstructured.Unstructured) {
	rs, hasRS, _ := unstructured.NestedFieldNoCopy(liveVM.Object, "spec", "runStrategy")
	running, hasRunning, _ := unstructured.NestedFieldNoCopy(liveVM.Object, "spec", "running")
	if !hasRS && !hasRunning {
		return // nothing live to keep: git's stands
	}
	unstructured.RemoveNestedField(sent.Object, "spec", "runStrategy")
	unstructured.RemoveNestedField(sent.Object, "spec", "running")
	if hasRS {
		_ = unstructured.SetNestedField(sent.Object, rs, "spec", "runStrategy")
	}
	if hasRunning {
		_ = unstructured.SetNestedField(sent.Object, running, "spec", "running")
	}
}

// valueDiff returns the fields where applying want over live would change a value (a field want sets
// that live lacks or holds otherwise; lists compared element by element), ignored paths aside. Paths
// name list elements "[i]".
func valueDiff(want, live any, path []string, ignore [][]string, out *[]fieldDiff) {
	if ignored(path, ignore) {
		return
	}
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			*out = append(*out, fieldDiff{path: path, want: want, live: live})
			return
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if w[k] == nil {
				continue // a null sets nothing
			}
			valueDiff(w[k], l[k], append(append([]string(nil), path...), k), ignore, out)
		}
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			*out = append(*out, fieldDiff{path: path, want: want, live: live})
			return
		}
		for i := range w {
			valueDiff(w[i], l[i], append(append([]string(nil), path...), fmt.Sprintf("[%d]", i)), ignore, out)
		}
	default:
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(live)
		if live == nil || string(a) != string(b) {
			*out = append(*out, fieldDiff{path: path, want: want, live: live})
		}
	}
}

// fieldDiff is one field whose live value is not git's.
type fieldDiff struct {
	path       []string
	want, live any
}

func ignored(path []string, ignore [][]string) bool {
	for _, p := range ignore {
		if len(p) == len(path) && strings.Join(p, ".") == strings.Join(path, ".") {
			return true
		}
	}
	return false
}

// describeDiffs names the fields that differ, their live and git values, and who owns them now.
func describeDiffs(diffs []fieldDiff, managed []metav1.ManagedFieldsEntry) string {
	var parts []string
	for i, d := range diffs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(diffs)-3))
			break
		}
		s := dotted(d.path) + ": " + short(d.live) + ", git: " + short(d.want)
		if by := ownersOf(managed, d.path); len(by) > 0 {
			s += " (by " + strings.Join(by, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return "fields set by vmo-cue hold other values: " + strings.Join(parts, "; ")
}

func dotted(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func short(v any) string {
	if v == nil {
		return "absent"
	}
	data, _ := json.Marshal(v)
	if len(data) > 80 {
		return string(data[:77]) + "..."
	}
	return string(data)
}

// ownersOf names the managers other than vmo-cue that own the field at path (up to its first list
// element: an atomic list is owned whole), status writers aside.
func ownersOf(managed []metav1.ManagedFieldsEntry, path []string) []string {
	var names []string
	for _, m := range managed {
		if m.Manager == FieldManager || m.Subresource != "" || m.FieldsV1 == nil {
			continue
		}
		var tree map[string]any
		if json.Unmarshal(m.FieldsV1.GetRawBytes(), &tree) != nil {
			continue
		}
		cur, found := tree, true
		for _, p := range path {
			if strings.HasPrefix(p, "[") {
				break
			}
			next, ok := cur["f:"+p].(map[string]any)
			if !ok {
				found = false
				break
			}
			cur = next
		}
		if found && !containsString(names, m.Manager) {
			names = append(names, m.Manager)
		}
	}
	sort.Strings(names)
	return names
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
