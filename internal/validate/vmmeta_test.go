package validate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// TestNameRuleAgreesWithSchema keeps the CUE schema's #Name (schemas/stack.cue) and the API
// machinery's DNS-1123 label rule, which vet applies to VM names and namespaces, in agreement.
func TestNameRuleAgreesWithSchema(t *testing.T) {
	inst, err := engine.LoadEmbedded("./schemas")
	require.NoError(t, err)
	ctx := cuecontext.New()
	v := ctx.BuildInstance(inst)
	require.NoError(t, v.Err())
	name := v.LookupPath(cue.ParsePath("#Name"))
	require.True(t, name.Exists())

	for _, s := range []string{
		"web", "a", "0", "web-1", "1-web", "a-b-c", strings.Repeat("a", 63), strings.Repeat("a", 64),
		"", "-web", "web-", "Web", "web_1", "Web_Server.1", "web.1", "wéb", "web 1", "ü", strings.Repeat("é", 40),
	} {
		cueOK := name.Unify(ctx.Encode(s)).Validate(cue.Concrete(true)) == nil
		goOK := len(validation.IsDNS1123Label(s)) == 0
		assert.Equal(t, goOK, cueOK, "%q: IsDNS1123Label says %v, #Name says %v", s, goOK, cueOK)
	}
}

// load validates the base fleet of testdata/vet with files written over it, on the fast path or
// not.
func load(t *testing.T, files map[string]string, noFastPath bool) *validate.Result {
	t.Helper()
	tmp, err := os.MkdirTemp(filepath.Join("..", "..", "testdata", "vet"), "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	dir, err := filepath.Abs(tmp)
	require.NoError(t, err)
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), dir))
	c := testfleet.Case{Files: map[string][]byte{}}
	for p, s := range files {
		c.Files[p] = []byte(s)
	}
	require.NoError(t, c.WriteOver(dir))
	repo, err := fleetfs.Read(dir, fleetfs.Options{})
	require.NoError(t, err)
	e, err := engine.New(repo, engine.Options{NoFastPath: noFastPath})
	require.NoError(t, err)
	f, err := e.Evaluate()
	require.NoError(t, err)
	b, err := engine.LoadBuiltin()
	require.NoError(t, err)
	r, err := validate.Fleet(f, b)
	require.NoError(t, err)
	return r
}

// findings renders every finding as "rule path: message @ positions".
func findings(r *validate.Result) []string {
	var out []string
	for _, d := range r.All() {
		var pos []string
		for _, p := range d.Positions {
			pos = append(pos, p.String())
		}
		out = append(out, d.Rule+" "+d.Path+": "+d.Message+" @ "+strings.Join(pos, " "))
	}
	return out
}

const yamlVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: NAME
  namespace: NS
spec:
  template:
    spec:
      domain: {memory: {guest: 1Gi}, devices: {}}
`

func TestVMIdentityAndClusterFields(t *testing.T) {
	label := "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	long := strings.Repeat("x", 64)
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{{
		name: "CUE VM names from keys, at the key",
		files: map[string]string{"clusters/dc-1/bad.cue": "package fleet\n\n_dom: {memory: guest: \"1Gi\", devices: {}}\n" +
			"vms: \"Web_Server.1\": spec: template: spec: domain: _dom\n" +
			"vms: {\n\t" + long + ": spec: template: spec: domain: _dom\n}\n"},
		want: []string{
			`vm-name vms."Web_Server.1".metadata.name: VirtualMachine name "Web_Server.1" is not a DNS-1123 label: ` + label + ` @ clusters/dc-1/bad.cue:4:6`,
			`vm-name vms.` + long + `.metadata.name: VirtualMachine name "` + long + `" is not a DNS-1123 label: must be no more than 63 characters @ clusters/dc-1/bad.cue:6:2`,
		},
	}, {
		name: "a key declared twice: both places",
		files: map[string]string{"clusters/dc-1/bad.cue": "package fleet\n\nvms: Db: spec: template: spec: domain: {memory: guest: \"1Gi\"}\n" +
			"vms: Db: spec: template: spec: domain: devices: {}\n"},
		want: []string{
			`vm-name vms.Db.metadata.name: VirtualMachine name "Db" is not a DNS-1123 label: ` + label + ` @ clusters/dc-1/bad.cue:3:6 clusters/dc-1/bad.cue:4:6`,
		},
	}, {
		name:  "a YAML VM's name and namespace, at their lines",
		files: map[string]string{"clusters/edge-1/vms/web.yaml": strings.NewReplacer("NAME", "web.1", "NS", "Shop").Replace(yamlVM)},
		want: []string{
			`vm-name vms."Shop/web.1".metadata.name: VirtualMachine name "web.1" is not a DNS-1123 label: must not contain dots @ clusters/edge-1/vms/web.yaml:4:3`,
			`vm-namespace vms."Shop/web.1".metadata.namespace: VirtualMachine namespace "Shop" is not a DNS-1123 label: ` + label + ` @ clusters/edge-1/vms/web.yaml:5:3`,
		},
	}, {
		name: "cluster-set fields of a CUE VM, each at its line; null and empty ones accepted",
		files: map[string]string{"clusters/dc-1/pasted.cue": "package fleet\n\nvms: db: metadata: {\n" +
			"\tuid: \"1\"\n\townerReferences: [{apiVersion: \"v1\", kind: \"Pod\", name: \"p\", uid: \"2\"}]\n" +
			"\tcreationTimestamp: null\n\tfinalizers: []\n}\nvms: db: status: {}\n"},
		want: []string{
			`vm-cluster-field vms.db.metadata.uid: metadata.uid is set by the cluster, not git: remove it (an apply carrying another object's UID is refused) @ clusters/dc-1/pasted.cue:4:2`,
			`vm-cluster-field vms.db.metadata.ownerReferences: metadata.ownerReferences is set by the cluster, not git: remove it (a dangling owner reference lets the garbage collector delete the VM) @ clusters/dc-1/pasted.cue:5:2`,
		},
	}, {
		name:  "a system namespace",
		files: map[string]string{"clusters/edge-1/vms/web.yaml": strings.NewReplacer("NAME", "web", "NS", "kube-node-lease").Replace(yamlVM)},
		want: []string{
			"system-namespace vms.\"kube-node-lease/web\".metadata.namespace: VirtualMachine kube-node-lease/web is in system namespace kube-node-lease: use a namespace of its own, or allow this one in cluster edge-1 with `policy: namespaces: allowSystem: [\"kube-node-lease\"]` @ clusters/edge-1/vms/web.yaml:5:3",
		},
	}, {
		name: "a system namespace the fleet's policy allows",
		files: map[string]string{
			"clusters/edge-1/vms/web.yaml": strings.NewReplacer("NAME", "web", "NS", "kube-node-lease").Replace(yamlVM),
			"policy.cue":                   "package fleet\n\nfleet: defaults: policy: namespaces: allowSystem: [\"kube-node-lease\"]\n",
		},
	}, {
		name: "kube-system is not a prefix match of an ordinary name",
		files: map[string]string{
			"clusters/edge-1/vms/web.yaml": strings.NewReplacer("NAME", "web", "NS", "kubevirt-vms").Replace(yamlVM),
		},
	}} {
		for _, noFast := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "", true: " (general path)"}[noFast], func(t *testing.T) {
				assert.Equal(t, tc.want, findings(load(t, tc.files, noFast)))
			})
		}
	}
}
