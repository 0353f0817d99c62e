package reconciler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

func vmWith(runStrategy string, ifaces ...map[string]any) *unstructured.Unstructured {
	list := make([]any, len(ifaces))
	for i, m := range ifaces {
		list[i] = m
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
		"metadata": map[string]any{"name": "vm", "namespace": "ns"}, "spec": map[string]any{}}}
	if runStrategy != "" {
		_ = unstructured.SetNestedField(u.Object, runStrategy, "spec", "runStrategy")
	}
	_ = unstructured.SetNestedSlice(u.Object, list, interfacesPath...)
	return u
}

func iface(name, mac string) map[string]any {
	m := map[string]any{"name": name}
	if mac != "" {
		m["macAddress"] = mac
	}
	return m
}

// TestVMObjects: what is sent carries others' MACs and, for operators, their power state; what is hashed
// is git's.
func TestVMObjects(t *testing.T) {
	derived := VMOwners{DerivedMACs: map[string]string{"vlan": "0e:00:00:00:00:01"}}
	for _, tc := range []struct {
		name      string
		git, live *unstructured.Unstructured
		own       VMOwners
		entry     inventory.Entry
		adopt     bool
		sentMACs  []string
		sentPower string
		hashPower string
		kept      map[string]string
	}{
		{"git's MAC stands", vmWith("Always", iface("a", "02:00:00:00:00:0a")), vmWith("Always", iface("a", "02:00:00:00:00:0b")),
			VMOwners{}, inventory.Entry{}, false, []string{"02:00:00:00:00:0a"}, "Always", "Always", nil},
		{"a pod-network MAC someone wrote is carried", vmWith("Always", iface("default", "")), vmWith("Always", iface("default", "02:5e:00:00:00:01")),
			VMOwners{}, inventory.Entry{}, false, []string{"02:5e:00:00:00:01"}, "Always", "Always", nil},
		{"no live VM: git's, derived included", vmWith("Always", iface("vlan", "0e:00:00:00:00:01"), iface("default", "")), nil,
			derived, inventory.Entry{}, false, []string{"0e:00:00:00:00:01", ""}, "Always", "Always", nil},
		{"vmo-cue's derived MAC changed by hand: derived sent (drift)", vmWith("Always", iface("vlan", "0e:00:00:00:00:01")), vmWith("Always", iface("vlan", "02:de:ad:00:00:01")),
			derived, inventory.Entry{FieldsHash: "x"}, false, []string{"0e:00:00:00:00:01"}, "Always", "Always", nil},
		{"adopted: the live MAC over the derived one, recorded", vmWith("Always", iface("vlan", "0e:00:00:00:00:01")), vmWith("Always", iface("vlan", "02:aa:00:00:00:01")),
			derived, inventory.Entry{}, true, []string{"02:aa:00:00:00:01"}, "Always", "Always", map[string]string{"vlan": "02:aa:00:00:00:01"}},
		{"adopted earlier: the recorded MAC", vmWith("Always", iface("vlan", "0e:00:00:00:00:01")), vmWith("Always", iface("vlan", "02:de:ad:00:00:01")),
			derived, inventory.Entry{FieldsHash: "x", MACs: map[string]string{"vlan": "02:aa:00:00:00:01"}}, false, []string{"02:aa:00:00:00:01"}, "Always", "Always", map[string]string{"vlan": "02:aa:00:00:00:01"}},
		{"operators: the live power state sent, none hashed", vmWith("Always"), vmWith("Halted"),
			VMOwners{Power: PowerOperators}, inventory.Entry{}, false, nil, "Halted", "", nil},
		{"operators, VM to create: git's power state", vmWith("Always"), nil,
			VMOwners{Power: PowerOperators}, inventory.Entry{}, false, nil, "Always", "", nil},
		{"git: git's power state over the live one", vmWith("Always"), vmWith("Halted"),
			VMOwners{Power: PowerGit}, inventory.Entry{}, false, nil, "Always", "Always", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hashed, sent, kept := vmObjects(tc.git, tc.live, tc.own, tc.entry, tc.adopt)
			ifaces, _, _ := unstructured.NestedSlice(sent.Object, interfacesPath...)
			var macs []string
			for _, x := range ifaces {
				mac, _ := x.(map[string]any)["macAddress"].(string)
				macs = append(macs, mac)
			}
			assert.Equal(t, tc.sentMACs, macs)
			rs, _, _ := unstructured.NestedString(sent.Object, "spec", "runStrategy")
			assert.Equal(t, tc.sentPower, rs)
			rs, _, _ = unstructured.NestedString(hashed.Object, "spec", "runStrategy")
			assert.Equal(t, tc.hashPower, rs)
			assert.Equal(t, tc.kept, kept)
			_, gitSet, _ := unstructured.NestedString(tc.git.Object, "spec", "runStrategy")
			assert.True(t, gitSet, "the desired object itself is left as it was")
		})
	}
}

func TestValueDiff(t *testing.T) {
	for _, tc := range []struct {
		name       string
		want, live map[string]any
		ignore     [][]string
		paths      []string
	}{
		{"equal, live has more", map[string]any{"a": map[string]any{"b": float64(1)}}, map[string]any{"a": map[string]any{"b": int64(1), "c": "x"}, "d": true}, nil, nil},
		{"a scalar differs", map[string]any{"spec": map[string]any{"runStrategy": "Always"}}, map[string]any{"spec": map[string]any{"runStrategy": "Halted"}}, nil, []string{"spec.runStrategy"}},
		{"ignored", map[string]any{"spec": map[string]any{"runStrategy": "Always"}}, map[string]any{"spec": map[string]any{"runStrategy": "Halted"}}, [][]string{{"spec", "runStrategy"}}, nil},
		{"absent in live", map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}}}, map[string]any{"metadata": map[string]any{}}, nil, []string{"metadata.labels"}},
		{"a list element's field", map[string]any{"l": []any{map[string]any{"n": "a", "m": "1"}}}, map[string]any{"l": []any{map[string]any{"n": "a", "m": "2", "x": "y"}}}, nil, []string{"l[0].m"}},
		{"list lengths differ", map[string]any{"l": []any{"a"}}, map[string]any{"l": []any{"a", "b"}}, nil, []string{"l"}},
		{"a null sets nothing", map[string]any{"metadata": map[string]any{"creationTimestamp": nil}}, map[string]any{"metadata": map[string]any{}}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var diffs []fieldDiff
			valueDiff(tc.want, tc.live, nil, tc.ignore, &diffs)
			var paths []string
			for _, d := range diffs {
				paths = append(paths, dotted(d.path))
			}
			assert.Equal(t, tc.paths, paths)
		})
	}
}
