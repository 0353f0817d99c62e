package macassign_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/macassign"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// fleetDir makes a fleet inside this module (so that it imports the module's own schemas, as fleet/
// does): a copy of from, then files over it.
func fleetDir(t *testing.T, from string, files map[string]string) string {
	t.Helper()
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	dir, err := filepath.Abs(tmp)
	require.NoError(t, err)
	require.NoError(t, testfleet.CopyDir(from, dir))
	c := testfleet.Case{Files: map[string][]byte{}}
	for p, s := range files {
		c.Files[p] = []byte(s)
	}
	require.NoError(t, c.WriteOver(dir))
	return dir
}

var base = filepath.Join("..", "..", "testdata", "vet", "base")

func load(t *testing.T, dir string) *validate.Result {
	t.Helper()
	r, err := desired.Load(dir, desired.Options{})
	require.NoError(t, err)
	return r
}

// assigned maps "cluster/vm/interface" to the MAC validation derived for it, and to the MAC written
// for interfaces that have one.
func macs(r *validate.Result) (assigned, written map[string]string) {
	assigned, written = map[string]string{}, map[string]string{}
	for _, c := range r.Clusters {
		for _, vm := range c.VMs {
			for _, ifc := range vm.Interfaces {
				id := c.Name + "/" + vm.Name + "/" + ifc.Name
				if ifc.Assigned != "" {
					assigned[id] = ifc.Assigned
				}
				if ifc.MAC != "" {
					written[id] = ifc.MAC
				}
			}
		}
	}
	return assigned, written
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(data)
		return err
	}))
	return out
}

const vlanNet = "\n      networks:\n        - name: vlan\n          multus: {networkName: vlan-100}\n"

// A VM of edge-1 whose interfaces (the text in between) are on its VLAN.
func yamlVM(interfaces string) string {
	return "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: web # the shop\nspec:\n  template:\n    spec:" +
		strings.TrimSuffix(vlanNet, "\n") +
		"\n        - name: vlan2\n          multus: {networkName: vlan-100}\n" +
		"      domain:\n        memory: {guest: 1Gi}\n        devices:\n          interfaces:\n" + interfaces
}

// tmpl is a VM template in the fleet's root, as fleet/'s _shopWeb: the VLAN interface has no MAC.
const tmpl = "package fleet\n\n_web: {\n\t#net: string\n\tspec: template: spec: {\n" +
	"\t\tdomain: {memory: guest: \"1Gi\", devices: interfaces: [{name: \"pod\", masquerade: {}}, {name: \"vlan\", bridge: {}}]}\n" +
	"\t\tnetworks: [{name: \"pod\", pod: {}}, {name: \"vlan\", multus: networkName: #net}]\n\t}\n}\n"

var macToken = regexp.MustCompile(`MAC\(([^)]+)\)`)

// TestApply writes each derived MAC where the contract says, keeps everything else byte for byte, and
// leaves a fleet that validates with exactly the MACs that were derived.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		// want are the files after, MAC(cluster/vm/interface) standing for the derived MAC.
		want map[string]string
	}{{
		name: "YAML block and flow style, comments kept, the pod network left alone",
		files: map[string]string{"clusters/edge-1/vms/web.yaml": yamlVM(
			"            - name: vlan   # the VLAN leg\n              bridge: {}\n" +
				"            - {name: vlan2, bridge: {}}\n")},
		want: map[string]string{"clusters/edge-1/vms/web.yaml": yamlVM(
			"            - name: vlan   # the VLAN leg\n              macAddress: \"MAC(edge-1/web/vlan)\"\n              bridge: {}\n" +
				"            - {macAddress: \"MAC(edge-1/web/vlan2)\", name: vlan2, bridge: {}}\n")},
	}, {
		name: "YAML whose name comes last, on the file's last line without a newline",
		files: map[string]string{"clusters/edge-1/vms/web.yaml": yamlVM(
			"            - bridge: {}\n              name: vlan2\n            - bridge: {}\n              name: vlan")},
		want: map[string]string{"clusters/edge-1/vms/web.yaml": yamlVM(
			"            - bridge: {}\n              name: vlan2\n              macAddress: \"MAC(edge-1/web/vlan2)\"\n" +
				"            - bridge: {}\n              name: vlan\n              macAddress: \"MAC(edge-1/web/vlan)\"")},
	}, {
		name: "YAML with CRLF line ends",
		files: map[string]string{"clusters/edge-1/vms/web.yaml": strings.ReplaceAll(yamlVM(
			"            - name: vlan\n              bridge: {}\n            - name: vlan2\n              bridge: {}\n"), "\n", "\r\n")},
		want: map[string]string{"clusters/edge-1/vms/web.yaml": strings.ReplaceAll(yamlVM(
			"            - name: vlan\n              macAddress: \"MAC(edge-1/web/vlan)\"\n              bridge: {}\n"+
				"            - name: vlan2\n              macAddress: \"MAC(edge-1/web/vlan2)\"\n              bridge: {}\n"), "\n", "\r\n")},
	}, {
		name: "a CUE VM's own interfaces, block and flow style",
		files: map[string]string{"clusters/dc-1/web.cue": "package fleet\n\nvms: web: spec: template: spec: {\n" +
			"\tdomain: {memory: guest: \"1Gi\", devices: interfaces: [\n\t\t{\n\t\t\tname: \"a\" // first\n\t\t\tbridge: {}\n\t\t},\n\t\t{name: \"b\", bridge: {}},\n\t]}\n" +
			"\tnetworks: [{name: \"a\", multus: networkName: \"vlan-200\"}, {name: \"b\", multus: networkName: \"vlan-200\"}]\n}\n"},
		want: map[string]string{"clusters/dc-1/web.cue": "package fleet\n\nvms: web: spec: template: spec: {\n" +
			"\tdomain: {memory: guest: \"1Gi\", devices: interfaces: [\n\t\t{\n\t\t\tname: \"a\" // first\n\t\t\tmacAddress: \"MAC(dc-1/web/a)\"\n\t\t\tbridge: {}\n\t\t},\n" +
			"\t\t{macAddress: \"MAC(dc-1/web/b)\", name: \"b\", bridge: {}},\n\t]}\n" +
			"\tnetworks: [{name: \"a\", multus: networkName: \"vlan-200\"}, {name: \"b\", multus: networkName: \"vlan-200\"}]\n}\n"},
	}, {
		name: "a template in fleet.cue shared by VMs of two clusters: a line of each VM's own after its declaration",
		files: map[string]string{
			"template.cue":            tmpl,
			"clusters/dc-1/web.cue":   "package fleet\n\n// The front end.\nvms: \"web-1\": _web & {#net: \"vlan-200\"} // from the template\n\nvms: other: _web & {#net: \"vlan-200\"}\n",
			"clusters/edge-1/web.cue": "package fleet\n\nvms: {\n\t\"web-2\": _web & {#net: \"vlan-100\"}\n}",
		},
		want: map[string]string{
			"template.cue": tmpl,
			"clusters/dc-1/web.cue": "package fleet\n\n// The front end.\nvms: \"web-1\": _web & {#net: \"vlan-200\"} // from the template\n" +
				"vms: \"web-1\": spec: template: spec: domain: devices: interfaces: [_, {macAddress: \"MAC(dc-1/web-1/vlan)\"}, ...]\n\n" +
				"vms: other: _web & {#net: \"vlan-200\"}\nvms: other: spec: template: spec: domain: devices: interfaces: [_, {macAddress: \"MAC(dc-1/other/vlan)\"}, ...]\n",
			"clusters/edge-1/web.cue": "package fleet\n\nvms: {\n\t\"web-2\": _web & {#net: \"vlan-100\"}\n}\n" +
				"vms: \"web-2\": spec: template: spec: domain: devices: interfaces: [_, {macAddress: \"MAC(edge-1/web-2/vlan)\"}, ...]",
		},
	}, {
		name: "VMs made by a comprehension: their lines at the end of the cluster's first CUE file",
		files: map[string]string{"clusters/dc-1/many.cue": "package fleet\n\nvms: {for i in [1, 2] {\"vm-\\(i)\": spec: template: spec: {\n" +
			"\tdomain: {memory: guest: \"1Gi\", devices: interfaces: [{name: \"vlan\", bridge: {}}]}\n\tnetworks: [{name: \"vlan\", multus: networkName: \"vlan-200\"}]\n}}}\n"},
		want: map[string]string{
			"clusters/dc-1/cluster.cue": string(mustRead(t, filepath.Join(base, "clusters/dc-1/cluster.cue"))) +
				"\nvms: \"vm-1\": spec: template: spec: domain: devices: interfaces: [{macAddress: \"MAC(dc-1/vm-1/vlan)\"}, ...]\n" +
				"\nvms: \"vm-2\": spec: template: spec: domain: devices: interfaces: [{macAddress: \"MAC(dc-1/vm-2/vlan)\"}, ...]\n",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fleetDir(t, base, tc.files)
			before := snapshot(t, dir)
			r := load(t, dir)
			require.Empty(t, r.All().Errors())
			derived, _ := macs(r)
			require.NotEmpty(t, derived)

			edits, err := macassign.Apply(r)
			require.NoError(t, err)
			after := snapshot(t, dir)
			for file, want := range tc.want {
				want = macToken.ReplaceAllStringFunc(want, func(tok string) string {
					id := macToken.FindStringSubmatch(tok)[1]
					require.Contains(t, derived, id)
					return derived[id]
				})
				assert.Equal(t, want, after[file], file)
			}
			for file, content := range before {
				if _, ok := tc.want[file]; !ok {
					assert.Equal(t, content, after[file], "%s must not change", file)
				}
			}
			assert.Len(t, after, len(before), "no file left behind")
			assert.Len(t, edits, len(derived))
			for _, e := range edits {
				lines := strings.Split(after[e.File], "\n")
				require.Less(t, e.Line-1, len(lines), "%+v", e)
				assert.Contains(t, lines[e.Line-1], e.MAC, "edit %+v: the line it names holds the MAC", e)
			}

			// The fleet validates with the derived MACs written, and a second run changes nothing.
			r = load(t, dir)
			require.Empty(t, r.All().Errors())
			assignedNow, written := macs(r)
			assert.Empty(t, assignedNow)
			for id, m := range derived {
				assert.Equal(t, m, written[id], id)
			}
			edits, err = macassign.Apply(r)
			require.NoError(t, err)
			assert.Empty(t, edits)
			assert.Equal(t, after, snapshot(t, dir))
		})
	}
}

// TestApplyFleetExample runs mac assign on a copy of the project's fleet/: it writes every MAC, and
// the fleet then vets clean with them.
func TestApplyFleetExample(t *testing.T) {
	dir := fleetDir(t, filepath.Join("..", "..", "fleet"), nil)
	r := load(t, dir)
	require.Empty(t, r.All().Errors())
	derived, _ := macs(r)
	require.Len(t, derived, 14)

	edits, err := macassign.Apply(r)
	require.NoError(t, err)
	assert.Len(t, edits, 14)

	r = load(t, dir)
	assert.Empty(t, r.All(), "no error and no warning after mac assign")
	assignedNow, written := macs(r)
	assert.Empty(t, assignedNow)
	for id, m := range derived {
		assert.Equal(t, m, written[id], id)
	}
	// The shared template in fleet.cue is untouched: each VM got its MAC in its own line.
	assert.Equal(t, string(mustRead(t, filepath.Join("..", "..", "fleet", "fleet.cue"))), string(mustRead(t, filepath.Join(dir, "fleet.cue"))))
}

// TestApplyAllOrNothing: when the second of two files cannot be edited, no file changes and the error
// names that file.
func TestApplyAllOrNothing(t *testing.T) {
	files := map[string]string{
		"clusters/dc-1/web.cue": "package fleet\n\nvms: web: spec: template: spec: {\n" +
			"\tdomain: {memory: guest: \"1Gi\", devices: interfaces: [{name: \"vlan\", bridge: {}}]}\n" +
			"\tnetworks: [{name: \"vlan\", multus: networkName: \"vlan-200\"}]\n}\n",
		"clusters/edge-1/vms/web.yaml": yamlVM("            - name: vlan\n              bridge: {}\n            - {name: vlan2, bridge: {}}\n"),
	}
	const second = "clusters/edge-1/vms/web.yaml"
	for _, tc := range []struct {
		name    string
		spoil   func(t *testing.T, dir string, r *validate.Result)
		wantErr string
	}{{
		name: "changed on disk since validation read it",
		spoil: func(t *testing.T, dir string, _ *validate.Result) {
			p := filepath.Join(dir, second)
			require.NoError(t, os.WriteFile(p, append(mustRead(t, p), "# edited meanwhile\n"...), 0o644))
		},
		wantErr: "mac assign: clusters/edge-1/vms/web.yaml changed since it was read (nothing written): run mac assign again",
	}, {
		name: "removed since validation read it",
		spoil: func(t *testing.T, dir string, _ *validate.Result) {
			require.NoError(t, os.Remove(filepath.Join(dir, second)))
		},
		wantErr: "mac assign: clusters/edge-1/vms/web.yaml: open ",
	}, {
		name: "its edit cannot be planned",
		spoil: func(t *testing.T, _ string, r *validate.Result) {
			for _, c := range r.Fleet.Repo.Clusters {
				for i, f := range c.YAML {
					if f.Path == second {
						c.YAML[i].Data = []byte(strings.Replace(string(f.Data), "{name: vlan2,", "{nom: vlan2,", 1))
					}
				}
			}
		},
		wantErr: "mac assign: clusters/edge-1/vms/web.yaml:19:16: VM default/web interface vlan2: cannot find the interface's name key to place macAddress",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fleetDir(t, base, files)
			r := load(t, dir)
			require.Empty(t, r.All().Errors())
			changes, err := macassign.Plan(r)
			require.NoError(t, err)
			require.Len(t, changes, 2)
			require.Equal(t, second, changes[1].File, "the YAML file is the second one written")

			tc.spoil(t, dir, r)
			before := snapshot(t, dir)
			edits, err := macassign.Apply(r)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Empty(t, edits)
			assert.Equal(t, before, snapshot(t, dir), "no file changed, no temporary file left")
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	return data
}
