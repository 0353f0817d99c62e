package apischema

import (
	"os"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/encoding/yaml"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"

	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// TestUpstreamCRDsAreCurrent reads the KubeVirt releases' generated validation again (the modules come
// through the module proxy, about 9 MB each, or from the module cache) and compares the CRDs with the
// checked-in ones. CDI's module is 200 MB: its CRDs are compared when the module is in the module
// cache already (after a `make generate`), else only their recorded provenance is checked.
func TestUpstreamCRDsAreCurrent(t *testing.T) {
	root := repoRoot(t)
	have, err := ReadUpstream(root)
	require.NoError(t, err)
	withCDI := moduleCached(CDISources[0])
	files, _, prov, err := upstreamFiles(withCDI)
	require.NoError(t, err)
	for p, b := range files {
		assert.Equal(t, string(have[p]), string(b), "%s differs from its release: run `make generate`", p)
	}
	for _, s := range crds.Sources {
		if strings.HasPrefix(s.Set, "cdi/") && !withCDI {
			t.Logf("%s@%s is not in the module cache: its CRDs were not read again", s.Module, s.Version)
			assert.Equal(t, Source{Set: s.Set, Module: s.Module, Version: s.Version, File: s.File}, Source{Set: CDISources[0].Set,
				Module: CDISources[0].Module, Version: CDISources[0].Version, File: CDISources[0].File})
			continue
		}
		assert.Contains(t, prov, provenance(s), "schemas/crds/zz_sources.go is stale: run `make generate`")
	}
	assert.Len(t, crds.Sources, len(KubeVirtSources)+len(CDISources))
}

// moduleCached reports whether a module version is in the module cache (no download is tried).
func moduleCached(s Source) bool {
	cmd := exec.Command("go", "mod", "download", "-json", s.Module+"@"+s.Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	return cmd.Run() == nil
}

func TestUpstreamCRDsServeTheReleases(t *testing.T) {
	for _, minor := range crds.KubeVirtSets() {
		t.Run(minor, func(t *testing.T) {
			all, err := crds.For(crds.Versions{KubeVirt: minor + ".0"})
			require.NoError(t, err)
			byKind := map[string]int{}
			for i, c := range all {
				byKind[c.Spec.Names.Kind] = i
				assert.Empty(t, structuralschema.ValidateStructural(nil, structural(t, c)), c.Name)
			}
			vm := all[byKind["VirtualMachine"]]
			require.Len(t, vm.Spec.Versions, 2)
			assert.Equal(t, "v1", vm.Spec.Versions[0].Name)
			assert.True(t, vm.Spec.Versions[0].Storage)
			assert.Equal(t, "v1alpha3", vm.Spec.Versions[1].Name)
			assert.True(t, vm.Spec.Versions[1].Served && vm.Spec.Versions[1].Deprecated)
			var cols []string
			for _, c := range vm.Spec.Versions[0].AdditionalPrinterColumns {
				cols = append(cols, c.Name)
			}
			assert.Equal(t, []string{"Age", "Status", "Ready"}, cols)
			assert.NotNil(t, vm.Spec.Versions[0].Subresources.Status)
			assert.Equal(t, int64(256), *vm.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["template"].
				Properties["spec"].Properties["volumes"].MaxItems)
			it := all[byKind["VirtualMachineInstancetype"]]
			var served []string
			for _, v := range it.Spec.Versions {
				if v.Served {
					served = append(served, v.Name)
				}
			}
			switch minor {
			case "v1.4", "v1.5":
				assert.Equal(t, []string{"v1alpha1", "v1alpha2", "v1beta1"}, served)
			default:
				assert.Equal(t, []string{"v1beta1"}, served, "v1alpha1 and v1alpha2 are not served any more")
			}
			assert.Equal(t, "Cluster", string(all[byKind["VirtualMachineClusterPreference"]].Spec.Scope))
			assert.Equal(t, "cdi.kubevirt.io", all[byKind["DataVolume"]].Spec.Group)
		})
	}
}

func TestCDISetIsTheNearest(t *testing.T) {
	for _, v := range []string{"v1.61.1", "v1.63.1", "v1.64.0", "", "garbage"} {
		assert.Equal(t, "cdi/v1.61", crds.CDISet(v), v)
	}
	_, err := crds.KubeVirtSet("v1.3.0")
	assert.EqualError(t, err, "no CRDs of KubeVirt v1.3.0: vmo-cue carries those of v1.4, v1.5, v1.6, v1.7, v1.8")
	set, err := crds.KubeVirtSet("v1.8.2")
	require.NoError(t, err)
	assert.Equal(t, "kubevirt/v1.8", set)
}

// Package upstream's definitions are the union of the releases' schemas: a field of any supported
// release is allowed (the Go check holds each cluster to its own), one of no release is not.
func TestUpstreamCUE(t *testing.T) {
	ctx := newCUEContext()
	v := loadCUE(t, ctx, generatedFiles(t), UpstreamCUEDir)
	vm := v.LookupPath(cue.ParsePath("#VirtualMachine"))
	tests := []struct {
		name, schema, doc string
		wantErr           []string
	}{
		{"valid VM", "#VirtualMachine", validVM, nil},
		{"a v1.8 field", "#VirtualMachine", edit(t, validVM, "masquerade: {}", "passtBinding: {}"), nil},
		{"a field of no release", "#VirtualMachine", edit(t, validVM, "      networks:\n", "      readinessProbe: {httpGet: {port: 80, protocol: HTTP}}\n      networks:\n"),
			[]string{"spec.template.spec.readinessProbe.httpGet.protocol", "field not allowed"}},
		{"required by the CRD", "#VirtualMachine", edit(t, validVM, "dataVolume: {name: web-1-root}", "dataVolume: {hotpluggable: true}"),
			[]string{"spec.template.spec.volumes.0.dataVolume.name", "field is required but not present"}},
		{"template metadata is ObjectMeta", "#VirtualMachine", edit(t, validVM, "    metadata:\n      labels: {app: web}\n", "    metadata:\n      lables: {app: web}\n"),
			[]string{"spec.template.metadata.lables", "field not allowed"}},
		{"valid DataVolume", "#DataVolume", validDataVolume, nil},
		{"instance type", "#VirtualMachineInstancetype",
			"apiVersion: instancetype.kubevirt.io/v1beta1\nkind: VirtualMachineInstancetype\nmetadata: {name: s}\nspec: {cpu: {guest: 1}, memory: {guest: 1Gi}}\n", nil},
	}
	require.NoError(t, vm.Err())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := yaml.Extract(tc.name+".yaml", tc.doc)
			require.NoError(t, err)
			err = v.LookupPath(cue.ParsePath(tc.schema)).Unify(ctx.BuildFile(f)).Validate(cue.Concrete(true))
			if len(tc.wantErr) == 0 {
				require.NoError(t, err, errors.Details(err, nil))
				return
			}
			require.Error(t, err)
			for _, want := range tc.wantErr {
				assert.Contains(t, errors.Details(err, nil), want)
			}
		})
	}
}
