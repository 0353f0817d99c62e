package resolve_test

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/resolve"
	"github.com/vmo-cue/vmo-cue/internal/resolved"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// stackOf decodes a stack written as the engine decodes CUE, over the built-in defaults.
func stackOf(t *testing.T, b *engine.Builtin, stack map[string]any) settings.Stack {
	t.Helper()
	merged, _ := engine.Merge(engine.NewLayer(b.SettingsDefaults), engine.NewLayer(map[string]any{"stack": stack}))
	r, err := settings.Decode(merged, nil)
	require.NoError(t, err)
	return r.Stack
}

func builtin(t *testing.T) *engine.Builtin {
	t.Helper()
	b, err := engine.LoadBuiltin()
	require.NoError(t, err)
	return b
}

func TestImagesFromVersions(t *testing.T) {
	b := builtin(t)
	for _, tc := range []struct {
		name  string
		stack map[string]any
		want  map[string]string // component -> image ("" none)
	}{
		{name: "each version gives its image", stack: map[string]any{
			"kubevirt":  map[string]any{"version": "v1.6.3"},
			"cdi":       map[string]any{"version": "v1.61.1"},
			"multus":    map[string]any{"version": "v4.1.0"},
			"dashboard": map[string]any{"enabled": true, "version": "v4.6.2"},
		}, want: map[string]string{
			"kubevirt":  "quay.io/kubevirt/virt-operator:v1.6.3",
			"cdi":       "quay.io/kubevirt/cdi-operator:v1.61.1",
			"multus":    "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.1.0-thick",
			"dashboard": "gcr.io/spectro-images-public/release/spectro-vm-dashboard:4.6.2",
		}},
		{name: "a written image is kept", stack: map[string]any{
			"kubevirt": map[string]any{"version": "v1.6.3", "operator": map[string]any{"image": "mirror.example/virt-operator:v1.6.3"}},
		}, want: map[string]string{"kubevirt": "mirror.example/virt-operator:v1.6.3"}},
		{name: "a disabled component gets none", stack: map[string]any{
			"kubevirt":  map[string]any{"version": "v1.6.3"},
			"dashboard": map[string]any{"enabled": false, "version": "v4.6.2"},
		}, want: map[string]string{"dashboard": ""}},
		{name: "a component without a built-in image keeps its own", stack: map[string]any{
			"kubevirt":      map[string]any{"version": "v1.6.3"},
			"vlanFiltering": map[string]any{"enabled": true},
		}, want: map[string]string{"vlanFiltering": "us-docker.pkg.dev/palette-images/palette/virtual-machine-orchestrator/vlan-filtering/ubuntu:latest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stackOf(t, b, tc.stack)
			before := s
			resolve.Images(&s, b)
			for comp, want := range tc.want {
				p, ok := s.Part(comp)
				require.True(t, ok, comp)
				assert.Equal(t, want, p.Image(), comp)
			}
			assert.Equal(t, stackOf(t, b, tc.stack), before, "the stack it was copied from is unchanged")
		})
	}
}

func TestKubeVirtGates(t *testing.T) {
	b := builtin(t)
	for _, tc := range []struct {
		name       string
		off        bool
		version    string
		cpuHotplug bool
		gates      map[string]bool
		want       []string
	}{
		{name: "alpha, beta and deprecated gates set on render, sorted", version: "v1.6.3",
			gates: map[string]bool{"Snapshot": true, "HostDisk": true, "DockerSELinuxMCSWorkaround": true},
			want:  []string{"DockerSELinuxMCSWorkaround", "HostDisk", "Snapshot"}},
		{name: "GA, discontinued, unknown and switched-off gates do not", version: "v1.6.3",
			gates: map[string]bool{"LiveMigration": true, "Passt": true, "NoSuchGate": true, "Sidecar": false, "VSOCK": true},
			want:  []string{"VSOCK"}},
		{name: "CPU hotplug before v1.5 implies VMLiveUpdateFeatures, even written off", version: "v1.4.1", cpuHotplug: true,
			gates: map[string]bool{"VMLiveUpdateFeatures": false, "Snapshot": true},
			want:  []string{"Snapshot", "VMLiveUpdateFeatures"}},
		{name: "CPU hotplug before v1.5 with no gates written", version: "v1.4.1", cpuHotplug: true,
			want: []string{"VMLiveUpdateFeatures"}},
		{name: "CPU hotplug from v1.5 needs no gate (GA)", version: "v1.5.2", cpuHotplug: true,
			gates: map[string]bool{"VMLiveUpdateFeatures": true}, want: nil},
		{name: "an unknown version renders none (validation refuses it)", version: "v9.9.0",
			gates: map[string]bool{"Snapshot": true}, want: nil},
		{name: "KubeVirt disabled renders none", off: true, version: "v1.6.3",
			gates: map[string]bool{"Snapshot": true}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, hotplug := !tc.off, tc.cpuHotplug
			kv := settings.KubeVirt{Switch: settings.Switch{Enabled: &on}, Version: tc.version, CPUHotplug: &hotplug, FeatureGates: tc.gates}
			written := maps.Clone(tc.gates)
			assert.Equal(t, tc.want, resolve.KubeVirtGates(&kv, b))
			assert.Equal(t, written, tc.gates, "the gates it was given are unchanged (a copy is resolved)")
		})
	}
}

func TestCDIGates(t *testing.T) {
	b := builtin(t)
	for _, tc := range []struct {
		name string
		cdi  map[string]any
		want []string
	}{
		{name: "known version: the table's gates set on", cdi: map[string]any{"version": "v1.61.1",
			"featureGates": map[string]any{"DataVolumeClaimAdoption": true, "NoSuchGate": true, "WebhookPvcRendering": false}},
			want: []string{"DataVolumeClaimAdoption", "HonorWaitForFirstConsumer"}},
		{name: "a version the table does not know: every gate set on", cdi: map[string]any{"version": "v1.99.0",
			"featureGates": map[string]any{"NoSuchGate": true, "Other": false}},
			want: []string{"HonorWaitForFirstConsumer", "NoSuchGate"}},
		{name: "CDI disabled renders none", cdi: map[string]any{"enabled": false, "version": "v1.61.1"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stackOf(t, b, map[string]any{"kubevirt": map[string]any{"version": "v1.6.3"}, "cdi": tc.cdi})
			assert.Equal(t, tc.want, resolve.CDIGates(&s.CDI, b))
		})
	}
}

func TestAllowedVLANs(t *testing.T) {
	b := builtin(t)
	nets := map[string]any{
		"vlan-300": map[string]any{"vlan": 300},
		"vlan-100": map[string]any{"vlan": 100},
		"again":    map[string]any{"vlan": 100, "namespace": "other"},
		"br1":      map[string]any{"vlan": 200, "bridge": "br1"},
		"untagged": map[string]any{"vlan": 0},
		"sriov":    map[string]any{"type": "sriov", "resourceName": "intel.com/vf", "vlan": 400},
	}
	for _, tc := range []struct {
		name string
		vf   map[string]any
		want []settings.VLAN
	}{
		{name: "unset: the VLANs of the bridge networks on the filtering bridge, once each, sorted",
			vf: map[string]any{"enabled": true}, want: []settings.VLAN{{ID: 100}, {ID: 300}}},
		{name: "unset on another bridge: that bridge's",
			vf: map[string]any{"enabled": true, "bridge": "br1"}, want: []settings.VLAN{{ID: 200}}},
		{name: "written: kept as written",
			vf: map[string]any{"enabled": true, "allowedVlans": []any{int64(5), "10-20"}}, want: []settings.VLAN{{ID: 5}, {Range: "10-20"}}},
		{name: "filtering off: nothing derived", vf: map[string]any{"enabled": false}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stackOf(t, b, map[string]any{"kubevirt": map[string]any{"version": "v1.6.3"},
				"multus": map[string]any{"networks": nets}, "vlanFiltering": tc.vf})
			assert.Equal(t, tc.want, resolve.AllowedVLANs(&s))
		})
	}
}

func TestClusterRefusesAnInvalidOne(t *testing.T) {
	r := load(t, map[string]string{"clusters/edge-1/bad.cue": "package fleet\n\ncluster: stack: kubevirt: version: \"v9.9.0\"\n"})
	_, err := resolve.Cluster(r.Cluster("edge-1"), builtin(t))
	assert.Equal(t, resolved.ErrInvalid{Cluster: "edge-1"}, err)
	assert.EqualError(t, err, "cluster edge-1 does not validate: nothing rendered (run vmo-cue vet)")
}

func TestClusterIsResolvedInACopy(t *testing.T) {
	r := load(t, map[string]string{"clusters/edge-1/vf.cue": "package fleet\n\ncluster: stack: vlanFiltering: enabled: true\n"})
	resolve.Fleet(r)
	c := r.Cluster("edge-1")
	rc, err := resolve.Cluster(c, builtin(t))
	require.NoError(t, err)
	assert.Equal(t, "quay.io/kubevirt/virt-operator:v1.6.3", rc.Stack.KubeVirt.Operator.Image)
	assert.Equal(t, []settings.VLAN{{ID: 100}}, rc.Stack.VLANFiltering.AllowedVlans)
	if op := c.Settings.Stack.KubeVirt.Operator; op != nil {
		assert.Empty(t, op.Image, "the validated settings are as written")
	}
	assert.Nil(t, c.Settings.Stack.VLANFiltering.AllowedVlans, "the validated settings are as written")
	assert.Equal(t, "edge-1", rc.Name)
	assert.Equal(t, "v1.6.3", rc.Releases.KubeVirt)
	require.Len(t, rc.VMs, 1)
	assert.Equal(t, "web", rc.VMs[0].Name)
	assert.Nil(t, rc.VMs[0].MACs, "web's MAC is written: none assigned")
}
