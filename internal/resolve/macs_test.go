package resolve_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/resolve"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// load validates testdata/vet/base with files written over it (nothing assigned yet).
func load(t *testing.T, files map[string]string) *validate.Result {
	t.Helper()
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), tmp))
	c := testfleet.Case{Files: map[string][]byte{}}
	for p, s := range files {
		c.Files[p] = []byte(s)
	}
	require.NoError(t, c.WriteOver(tmp))
	repo, err := fleetfs.Read(tmp, fleetfs.Options{})
	require.NoError(t, err)
	e, err := engine.New(repo, engine.Options{})
	require.NoError(t, err)
	f, err := e.Evaluate()
	require.NoError(t, err)
	r, err := validate.Fleet(f, builtin(t))
	require.NoError(t, err)
	return r
}

// appVM is a VM of edge-1 with an interface on VLAN 100 and no MAC, and one on the pod network.
const appVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: app
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - {name: pod, masquerade: {}}
            - {name: vlan, bridge: {}}
      networks:
        - {name: pod, pod: {}}
        - {name: vlan, multus: {networkName: vlan-100}}
`

// assigned maps cluster/namespace/VM/interface to the MAC assigned to it.
func assigned(r *validate.Result) map[string]string {
	out := map[string]string{}
	for _, c := range r.Clusters {
		for _, vm := range c.VMs {
			for _, ifc := range vm.Interfaces {
				if ifc.Assigned != "" {
					out[c.Name+"/"+vm.Namespace+"/"+vm.Name+"/"+ifc.Name] = ifc.Assigned
				}
			}
		}
	}
	return out
}

func TestFleetAssignsStableMACs(t *testing.T) {
	files := map[string]string{"clusters/edge-1/vms/app.yaml": appVM}
	r := load(t, files)
	resolve.Fleet(r)
	got := assigned(r)
	require.Len(t, got, 1, "only the layer-2 interface without a MAC gets one: %v", got)
	want, err := r.Cluster("edge-1").MACPolicy.Assign("edge-1/default/app/vlan", nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"edge-1/default/app/vlan": want.String()}, got, "derived from cluster, namespace, VM and interface")
	assert.Empty(t, r.All().Errors())

	again := load(t, files)
	resolve.Fleet(again)
	assert.Equal(t, got, assigned(again), "the same on every run")
}

func TestFleetAvoidsTheLayer2DomainsMACs(t *testing.T) {
	free := load(t, map[string]string{"clusters/edge-1/vms/app.yaml": appVM})
	resolve.Fleet(free)
	first := assigned(free)["edge-1/default/app/vlan"]
	require.NotEmpty(t, first)

	// dc-1 writes the MAC edge-1's app would get.
	dcVM := dcVMWriting(first)
	for _, tc := range []struct {
		name    string
		domain  string
		sameMAC bool
	}{
		{name: "another cluster of the domain writes it: another MAC", domain: "cluster: l2Domain: \"site-a\"\n", sameMAC: false},
		{name: "a cluster of no shared domain writes it: the same MAC", domain: "", sameMAC: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := load(t, map[string]string{
				"clusters/edge-1/vms/app.yaml": appVM,
				"clusters/dc-1/cluster.cue":    readBase(t, "clusters/dc-1/cluster.cue") + "\n" + tc.domain,
				"clusters/edge-1/l2.cue":       "package fleet\n\n" + tc.domain,
				"clusters/dc-1/mac.cue":        dcVM,
			})
			resolve.Fleet(r)
			got := assigned(r)["edge-1/default/app/vlan"]
			require.NotEmpty(t, got)
			assert.Equal(t, tc.sameMAC, got == first, "assigned %s, %s written in dc-1", got, first)
			assert.Empty(t, r.All().Errors(), "no finding: an assigned MAC is unique in its domain")
		})
	}
}

func TestFleetReportsAnExhaustedPool(t *testing.T) {
	// 300 VMs on the VLAN, in a block of 255 addresses: the last ones cannot get a MAC.
	many := `package fleet

import "list"

cluster: policy: mac: {allow: "prefixes", prefixes: ["02:00:00:00:01"]}
vms: {for i in list.Range(0, 300, 1) {"vm-\(i)": {
	spec: template: spec: {
		domain: {memory: guest: "1Gi", devices: interfaces: [{name: "vlan", bridge: {}}]}
		networks: [{name: "vlan", multus: networkName: "vlan-100"}]
	}
}}}
`
	r := load(t, map[string]string{"clusters/edge-1/many.cue": many})
	require.Empty(t, r.All().Errors(), "valid before assignment")
	resolve.Fleet(r)
	errs := r.Cluster("edge-1").Diags.Errors()
	require.NotEmpty(t, errs)
	var d diag.Diagnostic
	for _, e := range errs {
		if e.Path == `vms."vm-6".spec.template.spec.domain.devices.interfaces.0` {
			d = e
		}
	}
	assert.Equal(t, "mac-assign", d.Rule)
	assert.Equal(t, `vms."vm-6".spec.template.spec.domain.devices.interfaces.0`, d.Path)
	assert.Equal(t, "no free MAC for edge-1/default/vm-6/vlan after 1024 attempts: the allowed prefixes are nearly full", d.Message)
	assert.Equal(t, []diag.Position{{File: "clusters/edge-1/many.cue", Line: 8, Col: 56}}, d.Positions)
	assert.False(t, r.Cluster("edge-1").Valid(), "an interface without a MAC fails its cluster")
	assert.True(t, r.Cluster("dc-1").Valid())
	for _, e := range errs {
		assert.Equal(t, "mac-assign", e.Rule)
	}
	assert.Equal(t, len(errs)+len(assigned(r)), 300, "every interface either gets a MAC or a finding")
}

// dcVMWriting is a VM of dc-1 (a CUE file) whose interface on VLAN 200 writes mac.
func dcVMWriting(mac string) string {
	return `package fleet

vms: db2: spec: {
	runStrategy: "Always"
	template: spec: {
		domain: {memory: guest: "1Gi", devices: interfaces: [{name: "vlan", bridge: {}, macAddress: "` + mac + `"}]}
		networks: [{name: "vlan", multus: networkName: "vlan-200"}]
	}
}
`
}

func readBase(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vet", "base", name))
	require.NoError(t, err)
	return string(data)
}

// TestFleetPartCarriesTheDomain: a fleet assigned a cluster at a time in name order (the evaluation
// worker's batches) gets the whole fleet's MACs when nothing a later part writes was taken before;
// otherwise Parts says the parts split a check.
func TestFleetPartCarriesTheDomain(t *testing.T) {
	free := load(t, map[string]string{"clusters/edge-1/vms/app.yaml": appVM})
	resolve.Fleet(free)
	first := assigned(free)["edge-1/default/app/vlan"]
	require.NotEmpty(t, first)
	dcVM := dcVMWriting(first)
	const domain = "cluster: l2Domain: \"site-a\"\n"
	for _, tc := range []struct {
		name  string
		app   string // edge-1's VM
		split bool
	}{
		{"dc-1 writes the MAC edge-1's app would get: avoided across parts", appVM, false},
		{"edge-1 writes it too: a duplicate across parts", strings.Replace(appVM, "{name: vlan, bridge: {}}", "{name: vlan, bridge: {}, macAddress: \""+first+"\"}", 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{
				"clusters/edge-1/vms/app.yaml": tc.app,
				"clusters/dc-1/cluster.cue":    readBase(t, "clusters/dc-1/cluster.cue") + "\n" + domain,
				"clusters/edge-1/l2.cue":       "package fleet\n\n" + domain,
				"clusters/dc-1/mac.cue":        dcVM,
			}
			whole := load(t, files)
			resolve.Fleet(whole)
			r := load(t, files)
			p := resolve.NewParts()
			for _, c := range r.Clusters {
				resolve.FleetPart(&validate.Result{Fleet: r.Fleet, Clusters: []*validate.Cluster{c}}, p)
			}
			assert.Equal(t, tc.split, p.Split)
			if !tc.split {
				assert.Equal(t, assigned(whole), assigned(r))
				assert.NotEqual(t, first, assigned(r)["edge-1/default/app/vlan"])
			}
		})
	}
}
