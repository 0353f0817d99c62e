package apischema

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/encoding/yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	virtv1 "kubevirt.io/api/core/v1"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	stale, err := Stale(repoRoot(t), generatedFiles(t))
	require.NoError(t, err)
	assert.Empty(t, stale, "run `make generate` (go run ./hack/gen-schemas) and commit the result")
}

func TestGenerateIsDeterministic(t *testing.T) {
	up, err := ReadUpstream(repoRoot(t))
	require.NoError(t, err)
	again, err := GenerateLocal(up)
	require.NoError(t, err)
	for p, b := range again {
		assert.Equal(t, string(generatedFiles(t)[p]), string(b), p)
	}
}

// validVM is a VirtualMachine as a fleet repository would hold it: a masquerade and a bridge interface
// on a Multus network with a fixed MAC, two disks, a DataVolume template, and the
// creationTimestamp: null that virtctl and older kubectl write.
const validVM = `
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web-1
  namespace: vms
  creationTimestamp: null
  labels: {app: web}
spec:
  runStrategy: Always
  dataVolumeTemplates:
  - metadata:
      name: web-1-root
      creationTimestamp: null
    spec:
      source:
        registry:
          url: docker://quay.io/containerdisks/fedora:40
      storage:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 20Gi
  template:
    metadata:
      labels: {app: web}
    spec:
      domain:
        cpu: {sockets: 2, cores: 1, threads: 1, maxSockets: 8}
        memory: {guest: 2Gi}
        resources:
          requests: {memory: 2Gi, cpu: 500m}
          limits: {cpu: 2}
        devices:
          disks:
          - name: root
            disk: {bus: virtio}
          - name: cloudinit
            disk: {bus: virtio}
          interfaces:
          - name: default
            masquerade: {}
          - name: vlan10
            bridge: {}
            macAddress: "02:00:00:00:10:01"
      networks:
      - name: default
        pod: {}
      - name: vlan10
        multus: {networkName: vms/vlan10}
      volumes:
      - name: root
        dataVolume: {name: web-1-root}
      - name: cloudinit
        cloudInitNoCloud:
          userData: "#cloud-config\n"
`

const validDataVolume = `
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {name: disk-1, namespace: vms}
spec:
  source:
    http: {url: "https://example.com/disk.qcow2"}
  pvc:
    accessModes: [ReadWriteOnce]
    resources: {requests: {storage: 10Gi}}
`

// edit replaces old, which must occur in s exactly once.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(s, old), "%q must occur once", old)
	return strings.Replace(s, old, new, 1)
}

func TestCUESchemas(t *testing.T) {
	ctx := newCUEContext()
	files := generatedFiles(t)
	kubevirt := loadCUE(t, ctx, files, "schemas/kubevirt")
	cdi := loadCUE(t, ctx, files, "schemas/cdi")

	tests := []struct {
		name   string
		schema cue.Value
		doc    string
		// wantErr: substrings of the error; none means the document must validate.
		wantErr []string
	}{
		{name: "valid VM", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")), doc: validVM},
		{name: "misspelled macAddress", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "macAddress:", "macAdress:"),
			wantErr: []string{"spec.template.spec.domain.devices.interfaces.1.macAdress", "field not allowed"}},
		{name: "string for an int", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "sockets: 2", `sockets: "two"`),
			wantErr: []string{"spec.template.spec.domain.cpu.sockets", "mismatched types string and int"}},
		{name: "unknown field in dataVolumeTemplates spec", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "      storage:\n", "      storrage: {}\n      storage:\n"),
			wantErr: []string{"spec.dataVolumeTemplates.0.spec.storrage", "field not allowed"}},
		{name: "wrong type in dataVolumeTemplates spec", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "accessModes: [ReadWriteOnce]", "accessModes: ReadWriteOnce"),
			wantErr: []string{"spec.dataVolumeTemplates.0.spec.storage.accessModes"}},
		{name: "missing template", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: x}\nspec: {runStrategy: Always}\n",
			wantErr: []string{"spec.template", "field is required but not present"}},
		{name: "interface without name", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "- name: vlan10\n            bridge: {}", "- bridge: {}"),
			wantErr: []string{"spec.template.spec.domain.devices.interfaces.1.name", "field is required but not present"}},
		{name: "wrong kind", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "kind: VirtualMachine", "kind: VirtualMachineInstance"),
			wantErr: []string{"kind", "conflicting values"}},
		{name: "quantity as a string or a number", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc: edit(t, validVM, "memory: {guest: 2Gi}", "memory: {guest: 2147483648}")},
		{name: "quantity as a bool", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "memory: {guest: 2Gi}", "memory: {guest: true}"),
			wantErr: []string{"spec.template.spec.domain.memory.guest"}},
		{name: "unknown field in template metadata", schema: kubevirt.LookupPath(cue.ParsePath("#VirtualMachine")),
			doc:     edit(t, validVM, "    metadata:\n      labels: {app: web}\n", "    metadata:\n      lables: {app: web}\n"),
			wantErr: []string{"spec.template.metadata.lables", "field not allowed"}},
		{name: "valid DataVolume", schema: cdi.LookupPath(cue.ParsePath("#DataVolume")), doc: validDataVolume},
		{name: "DataVolume with unknown source field", schema: cdi.LookupPath(cue.ParsePath("#DataVolume")),
			doc:     edit(t, validDataVolume, "http: {url:", "http: {URL:"),
			wantErr: []string{"spec.source.http.URL", "field not allowed"}},
		{name: "DataVolume without spec", schema: cdi.LookupPath(cue.ParsePath("#DataVolume")),
			doc:     "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata: {name: d}\n",
			wantErr: []string{"spec", "field is required but not present"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.schema.Err())
			f, err := yaml.Extract(tc.name+".yaml", tc.doc)
			require.NoError(t, err)
			data := ctx.BuildFile(f)
			require.NoError(t, data.Err())
			err = tc.schema.Unify(data).Validate(cue.Concrete(true))
			if len(tc.wantErr) == 0 {
				require.NoError(t, err, errors.Details(err, nil))
				return
			}
			require.Error(t, err)
			msg := errors.Details(err, nil)
			for _, want := range tc.wantErr {
				assert.Contains(t, msg, want)
			}
		})
	}
}

// The VM's dataVolumeTemplates[].spec is CDI's DataVolumeSpec, defined once in package cdi.
func TestKubeVirtUsesCDIDataVolumeSpec(t *testing.T) {
	src := string(generatedFiles(t)["schemas/kubevirt/zz_generated.cue"])
	for _, pattern := range []string{
		`(?m)^import "vmo-cue.dev/vmo/schemas/cdi"$`,
		`(?m)^#DataVolumeSpec:\s+cdi\.#DataVolumeSpec$`,
		`(?m)^#DataVolumeTemplateSpec: \{(\n\t.*)*\n\tspec!:\s+#DataVolumeSpec$`,
		// Clashing Go names get their package's prefix, deterministically.
		`(?m)^#VirtualMachine: \{$`,
		`(?m)^#SnapshotVirtualMachine: \{$`,
		`(?m)^#CDIDataVolumeSource:\s+cdi\.#DataVolumeSource$`,
		`(?m)^#CorePersistentVolumeClaimVolumeSource: \{$`,
	} {
		assert.True(t, regexp.MustCompile(pattern).MatchString(src), "no match for %s", pattern)
	}
	for _, f := range []string{"schemas/kubevirt/zz_generated.cue", "schemas/cdi/zz_generated.cue"} {
		src := string(generatedFiles(t)[f])
		assert.True(t, strings.HasPrefix(src, Header+"\n"), "%s: header", f)
		assert.Equal(t, 1, strings.Count(src, "//"), "%s: no doc comments", f)
		assert.False(t, strings.Contains(src, "*"), "%s: no defaults", f)
	}
}

func TestCustomJSONTypesMustBeListed(t *testing.T) {
	cfg := defaultConfig()
	delete(cfg.sameShapeJSON, typeOf[virtv1.VirtualMachineInstanceSpec]())
	_, err := newModel(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "v1.VirtualMachineInstanceSpec has its own JSON (un)marshalling")
}

func TestRequiredFieldsMustExist(t *testing.T) {
	cfg := defaultConfig()
	cfg.required = append(cfg.required, req[struct{ X int }]("x")...)
	_, err := newModel(cfg)
	require.Error(t, err)
	cfg = defaultConfig()
	cfg.required[0].Field = "nosuchfield"
	_, err = newModel(cfg)
	require.ErrorContains(t, err, "no such JSON field")
}

func TestJSONFieldsFollowEncodingJSON(t *testing.T) {
	type Inner struct {
		A string `json:"a"`
		B string `json:"b,omitempty"`
	}
	type Named struct {
		C int
	}
	type Outer struct {
		Inner                   // flattened
		*Named `json:",inline"` // flattened too: no name in the tag
		B      int              `json:"b"` // shallower: wins over Inner.B
		Skip   string           `json:"-"`
		hidden string           //lint:ignore U1000 an unexported field, which jsonFields must skip
		Ptr    *string          `json:"ptr"`
	}
	var names []string
	for _, f := range jsonFields(typeOf[Outer]()) {
		names = append(names, f.name)
	}
	assert.Equal(t, []string{"a", "C", "b", "ptr"}, names)
	m, err := (&builder{cfg: &config{}, model: &Model{Defs: map[reflect.Type]*Def{}}}).def(typeOf[Outer]())
	require.NoError(t, err)
	assert.Equal(t, KindInt, m.Field("b").Type.Kind)
	assert.True(t, m.Field("ptr").Nullable, "a pointer without omitempty marshals nil as null")
	assert.False(t, m.Field("a").Nullable)
}
