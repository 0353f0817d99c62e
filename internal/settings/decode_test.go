package settings_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

func ptr[T any](v T) *T { return &v }

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		merged  map[string]any
		want    settings.Settings
		wantErr string
	}{
		{
			name: "every kind of field, numbers as CUE (int64) and JSON (float64) decode them",
			merged: map[string]any{
				"namespace": "vms", "powerState": "operators",
				"drift":  map[string]any{"ignore": map[string]any{"VirtualMachine": []any{"spec.runStrategy"}}},
				"prune":  map[string]any{"virtualMachines": true, "maxShare": 0.5},
				"policy": map[string]any{"mac": map[string]any{"prefixes": []any{"02"}}, "apply": map[string]any{"secrets": true}},
				"stack": map[string]any{
					"kubevirt": map[string]any{"enabled": false, "featureGates": map[string]any{"Snapshot": true},
						"operator": map[string]any{"replicas": int64(0)}},
					"multus": map[string]any{"networks": map[string]any{"vlan10": map[string]any{
						"type": "bridge", "vlan": float64(10), "ipam": map[string]any{"type": "whereabouts", "n": int64(1)}}}},
					"vlanFiltering": map[string]any{"allowedVlans": []any{int64(1), "130-139"}},
				},
			},
			want: settings.Settings{
				Namespace: "vms", PowerState: "operators",
				Drift:  settings.Drift{Ignore: map[string][]string{"VirtualMachine": {"spec.runStrategy"}}},
				Prune:  settings.Prune{VirtualMachines: true, MaxShare: ptr(0.5)},
				Policy: settings.Policy{MAC: settings.MACPolicy{Prefixes: []string{"02"}}, Apply: settings.ApplyPolicy{Secrets: true}},
				Stack: settings.Stack{
					KubeVirt: settings.KubeVirt{Switch: settings.Switch{Enabled: ptr(false)}, FeatureGates: map[string]bool{"Snapshot": true},
						Operator: &settings.Operator{Replicas: ptr(int64(0))}},
					Multus: settings.Multus{Networks: map[string]settings.Network{"vlan10": {
						Type: "bridge", VLAN: ptr(int64(10)), IPAM: map[string]any{"type": "whereabouts", "n": int64(1)}}}},
					VLANFiltering: settings.VLANFiltering{AllowedVlans: []settings.VLAN{{ID: 1}, {Range: "130-139"}}},
				},
			},
		},
		{
			name: "a value of another type is left out, the rest decoded; unknown fields ignored",
			merged: map[string]any{
				"namespace": "vms", "l2Domain": int64(3), "kind": "edge",
				"stack": map[string]any{"cdi": map[string]any{"enabled": "yes", "version": "v1.63.1"}},
			},
			want:    settings.Settings{Namespace: "vms", Stack: settings.Stack{CDI: settings.CDI{Version: "v1.63.1"}}},
			wantErr: "settings: stack.cdi.enabled: string is not bool", // the first in field order,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := settings.Decode(tc.merged, nil)
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tc.wantErr)
			}
			assert.Equal(t, tc.want, r.Settings)
		})
	}
}

func TestPos(t *testing.T) {
	at := diag.Position{File: "clusters/a/cluster.cue", Line: 3, Col: 5}
	r, err := settings.Decode(map[string]any{}, func(path ...string) (diag.Position, bool) {
		if len(path) == 2 && path[0] == "stack" && path[1] == "kubevirt" {
			return at, true
		}
		return diag.Position{}, false
	})
	require.NoError(t, err)
	p, ok := r.Pos("stack", "kubevirt")
	assert.True(t, ok)
	assert.Equal(t, at, p)
	_, ok = r.Pos("stack")
	assert.False(t, ok)
	_, ok = (&settings.Resolved{}).Pos("stack")
	assert.False(t, ok, "no positions: nothing was written")
}

func TestParts(t *testing.T) {
	s := settings.Stack{
		KubeVirt:      settings.KubeVirt{Switch: settings.Switch{Enabled: ptr(true)}, Version: "v1.6.3"},
		CDI:           settings.CDI{Operator: &settings.Operator{Image: "mirror/cdi-operator:v1"}},
		VLANFiltering: settings.VLANFiltering{Switch: settings.Switch{Enabled: ptr(true)}},
	}
	var names []string
	for _, p := range s.Parts() {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"cdi", "dashboard", "descheduler", "kubevirt", "multus", "snapshotController", "vlanFiltering", "volumeSnapshotController"}, names)

	kv, ok := s.Part("kubevirt")
	require.True(t, ok)
	assert.True(t, kv.On)
	assert.Equal(t, "v1.6.3", kv.Version)
	assert.Empty(t, kv.Image())
	kv.SetImage("quay.io/kubevirt/virt-operator:v1.6.3")
	assert.Equal(t, "quay.io/kubevirt/virt-operator:v1.6.3", s.KubeVirt.Operator.Image, "SetImage writes the stack")

	cdi, _ := s.Part("cdi")
	assert.False(t, cdi.On)
	assert.Equal(t, "mirror/cdi-operator:v1", cdi.Image())

	vsc, _ := s.Part("volumeSnapshotController")
	vsc.SetImage("x") // no operator: nothing to set
	assert.Empty(t, vsc.Image())
}

func TestVLANBounds(t *testing.T) {
	for _, tc := range []struct {
		v      settings.VLAN
		lo, hi int
		ok     bool
	}{
		{settings.VLAN{ID: 10}, 10, 10, true},
		{settings.VLAN{Range: "130-139"}, 130, 139, true},
		{settings.VLAN{Range: "x-1"}, 0, 1, false},
	} {
		lo, hi, ok := tc.v.Bounds()
		assert.Equal(t, []any{tc.lo, tc.hi, tc.ok}, []any{lo, hi, ok}, tc.v)
	}
}

func TestVLANJSON(t *testing.T) {
	var l []settings.VLAN
	require.NoError(t, json.Unmarshal([]byte(`[1, "130-139"]`), &l))
	assert.Equal(t, []settings.VLAN{{ID: 1}, {Range: "130-139"}}, l)
	data, err := json.Marshal(l)
	require.NoError(t, err)
	assert.JSONEq(t, `[1, "130-139"]`, string(data))
	assert.EqualError(t, json.Unmarshal([]byte(`[true]`), &l), "VLAN true: want a number or a range \"first-last\"")
}
