package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const yamlWithoutMAC = `# Web tier on VLAN 100.
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web   # keep this comment
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices:
          interfaces:
            - name: vlan   # the VLAN leg
              bridge: {}
            - {name: vlan2, bridge: {}}
            - name: pod
              masquerade: {}
      networks:
        - name: vlan
          multus: {networkName: vlan-100}
        - name: vlan2
          multus: {networkName: vlan-100}
        - name: pod
          pod: {}
`

const cueWithoutMAC = `package fleet

// The database.
vms: db: spec: {
	runStrategy: "Always"
	template: spec: {
		domain: {
			memory: guest: "4Gi"
			devices: interfaces: [
				{
					name: "vlan" // the VLAN leg
					bridge: {}
				},
				{name: "vlan2", bridge: {}},
			]
		}
		networks: [{name: "vlan", multus: networkName: "vlan-200"}, {name: "vlan2", multus: networkName: "vlan-200"}]
	}
}
`

func TestMACAssignWritesIntoSources(t *testing.T) {
	c := badCase{Files: map[string][]byte{
		"clusters/edge-1/vms/web.yaml": []byte(yamlWithoutMAC),
		"clusters/dc-1/cluster.cue":    []byte("package fleet\n\ncluster: {\n\tname: \"dc-1\"\n\tkind: \"datacenter\"\n\tstack: multus: networks: \"vlan-200\": {vlan: 200}\n}\n"),
		"clusters/dc-1/vms.cue":        []byte(cueWithoutMAC),
	}}
	dir := setUp(t, c)

	// What build would put in is what assign writes.
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"mac", "assign", dir}, &out, &errOut), errOut.String())
	assert.Equal(t, 4, strings.Count(out.String(), "macAddress"), out.String())

	y := string(mustRead(t, filepath.Join(dir, "clusters/edge-1/vms/web.yaml")))
	assert.Contains(t, y, "# Web tier on VLAN 100.")
	assert.Contains(t, y, "name: web   # keep this comment")
	assert.Regexp(t, `            - name: vlan   # the VLAN leg\n              macAddress: "0[26ae]:[0-9a-f:]{14}"\n              bridge: \{\}\n`, y)
	assert.Regexp(t, `            - \{macAddress: "0[26ae]:[0-9a-f:]{14}", name: vlan2, bridge: \{\}\}\n`, y)
	assert.Regexp(t, `            - name: pod\n              masquerade: \{\}\n`, y, "the pod network needs no MAC")

	cue := string(mustRead(t, filepath.Join(dir, "clusters/dc-1/vms.cue")))
	assert.Contains(t, cue, "// The database.")
	assert.Regexp(t, "\t\t\t\t\tname: \"vlan\" // the VLAN leg\n\t\t\t\t\tmacAddress: \"0[26ae]:[0-9a-f:]{14}\"\n", cue)
	assert.Regexp(t, `\{macAddress: "0[26ae]:[0-9a-f:]{14}", name: "vlan2", bridge: \{\}\}`, cue)

	// The result validates, and a second run changes nothing.
	out.Reset()
	errOut.Reset()
	require.Equal(t, 0, run([]string{"vet", dir}, &out, &errOut), errOut.String())
	before := snapshot(t, dir)
	out.Reset()
	require.Equal(t, 0, run([]string{"mac", "assign", dir}, &out, &errOut), errOut.String())
	assert.Empty(t, out.String())
	assert.Equal(t, before, snapshot(t, dir))
}

func TestMACAssignLeavesInvalidClustersAlone(t *testing.T) {
	c := badCase{Files: map[string][]byte{
		"clusters/edge-1/vms/web.yaml": []byte(yamlWithoutMAC),
		"clusters/edge-1/gates.cue":    []byte("package fleet\n\ncluster: stack: kubevirt: featureGates: Bogus: true\n"),
	}}
	dir := setUp(t, c)
	var out, errOut bytes.Buffer
	assert.Equal(t, 1, run([]string{"mac", "assign", dir}, &out, &errOut))
	assert.Contains(t, errOut.String(), "1 cluster with errors was skipped: run vmo-cue vet\n")
	assert.Equal(t, yamlWithoutMAC, string(mustRead(t, filepath.Join(dir, "clusters/edge-1/vms/web.yaml"))))
}

func snapshot(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = string(data)
		return err
	}))
	return out
}

// TestMACAssignFleetExample runs the pre-commit fixer on a copy of the fleet it ships: every MAC is
// written (two VMs of fleet.cue's shared _shopWeb template each get a line of their own), the fleet
// vets clean, and a second run changes nothing.
func TestMACAssignFleetExample(t *testing.T) {
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	dir, err := filepath.Abs(tmp)
	require.NoError(t, err)
	copyDir(t, filepath.Join("..", "..", "fleet"), dir)

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"mac", "assign", dir}, &out, &errOut), errOut.String())
	assert.Equal(t, 14, strings.Count(out.String(), "macAddress"), out.String())
	assert.Contains(t, out.String(), "clusters/dc-east/vms.cue:13: shop/shop-web-2 interface prod-web: macAddress ")
	assert.Contains(t, out.String(), "clusters/dc-west/vms.cue:6: shop/shop-web-3 interface prod-web: macAddress ")
	assert.Equal(t, string(mustRead(t, filepath.Join("..", "..", "fleet", "fleet.cue"))), string(mustRead(t, filepath.Join(dir, "fleet.cue"))))

	out.Reset()
	errOut.Reset()
	require.Equal(t, 0, run([]string{"vet", dir}, &out, &errOut), errOut.String())
	assert.Contains(t, errOut.String(), "ok: 5 clusters, 18 VMs, 0 warnings")

	before := snapshot(t, dir)
	out.Reset()
	require.Equal(t, 0, run([]string{"mac", "assign", dir}, &out, &errOut), errOut.String())
	assert.Empty(t, out.String())
	assert.Equal(t, before, snapshot(t, dir))
}
