package apischema

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// structural is the structural schema of the CRD's storage version.
func structural(t testing.TB, c *apiextensionsv1.CustomResourceDefinition) *structuralschema.Structural {
	t.Helper()
	var v *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range c.Spec.Versions {
		if c.Spec.Versions[i].Storage {
			v = &c.Spec.Versions[i]
		}
	}
	require.NotNil(t, v, "%s: no storage version", c.Name)
	internal := &apiextensions.JSONSchemaProps{}
	require.NoError(t, apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil))
	s, err := structuralschema.NewStructural(internal)
	require.NoError(t, err)
	return s
}

func TestCRDsAreStructural(t *testing.T) {
	all, err := crds.All()
	require.NoError(t, err)
	cfg := defaultConfig()
	var own []kindSpec
	for _, k := range cfg.kinds {
		if !k.Upstream {
			own = append(own, k)
		}
	}
	require.Len(t, all, len(own)+len(kubevirtKinds)+len(cdiKinds))
	for i, c := range all[:len(own)] {
		k := own[i]
		t.Run(k.Kind, func(t *testing.T) {
			assert.Equal(t, k.Plural+"."+k.Group, c.Name)
			assert.Equal(t, k.Kind, c.Spec.Names.Kind)
			assert.Equal(t, k.Version, c.Spec.Versions[0].Name)
			assert.True(t, c.Spec.Versions[0].Served && c.Spec.Versions[0].Storage)
			assert.Equal(t, k.StatusSubresource, c.Spec.Versions[0].Subresources != nil)
			if strings.HasSuffix(k.Group, ".k8s.io") {
				assert.NotEmpty(t, c.Annotations["api-approved.kubernetes.io"], "protected group")
			}
			s := structural(t, c)
			assert.Empty(t, structuralschema.ValidateStructural(nil, s))
			// The root metadata is the apiserver's: nothing but type: object.
			md := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["metadata"]
			assert.Equal(t, apiextensionsv1.JSONSchemaProps{Type: "object"}, md)
		})
	}
}

func TestCRDsByInstaller(t *testing.T) {
	kinds := func(cs []*apiextensionsv1.CustomResourceDefinition, err error) []string {
		require.NoError(t, err)
		var out []string
		for _, c := range cs {
			out = append(out, c.Spec.Names.Kind)
		}
		return out
	}
	assert.Equal(t, []string{"KubeVirt"}, kinds(crds.ShippedByStack("kubevirt")))
	assert.Equal(t, []string{"CDI"}, kinds(crds.ShippedByStack("cdi")))
	assert.Equal(t, []string{"NetworkAttachmentDefinition"}, kinds(crds.ShippedByStack("multus")))
	assert.Equal(t, []string{"VolumeSnapshot", "VolumeSnapshotClass", "VolumeSnapshotContent"}, kinds(crds.ShippedByStack("volumeSnapshotController")))
	assert.Empty(t, kinds(crds.ShippedByStack("descheduler")))
	assert.Equal(t, []string{"VirtualMachine", "VirtualMachineInstance", "VirtualMachineSnapshot", "VirtualMachineSnapshotContent",
		"VirtualMachineRestore", "VirtualMachineExport", "VirtualMachineInstancetype", "VirtualMachineClusterInstancetype",
		"VirtualMachinePreference", "VirtualMachineClusterPreference", "DataVolume"}, kinds(crds.CreatedByOperators()))
	assert.Equal(t, "virt-operator", crds.CreatedBy("VirtualMachine"))
	assert.Equal(t, "cdi-operator", crds.CreatedBy("DataVolume"))
	assert.Equal(t, "", crds.CreatedBy("KubeVirt"))

	// Copies: a caller that changes one does not change the next caller's.
	a, err := crds.All()
	require.NoError(t, err)
	a[0].Spec.Group = "changed"
	b, err := crds.All()
	require.NoError(t, err)
	assert.NotEqual(t, "changed", b[0].Spec.Group)
}

// TestCRDSchemaChecksVMs validates VMs the way the apiserver does: OpenAPI validation for types, and
// pruning (which strict field validation turns into errors) for unknown fields.
func TestCRDSchemaChecksVMs(t *testing.T) {
	vms, err := crds.For(crds.Versions{KubeVirt: "v1.7.0"})
	require.NoError(t, err)
	vms = slices.DeleteFunc(vms, func(c *apiextensionsv1.CustomResourceDefinition) bool { return c.Spec.Names.Kind != "VirtualMachine" })
	s := structural(t, vms[0])
	require.Equal(t, "VirtualMachine", vms[0].Spec.Names.Kind)
	validator := validate.NewSchemaValidator(s.ToKubeOpenAPI(), nil, "", strfmt.Default)

	tests := []struct {
		name         string
		doc          string
		wantInvalid  []string // substrings of validation errors
		wantUnknowns []string // pruned (unknown) field paths
	}{
		{name: "valid", doc: validVM},
		{name: "string for an int", doc: edit(t, validVM, "sockets: 2", `sockets: "two"`),
			wantInvalid: []string{"spec.template.spec.domain.cpu.sockets in body must be of type integer"}},
		{name: "bad quantity", doc: edit(t, validVM, "memory: {guest: 2Gi}", "memory: {guest: 2GB}"),
			wantInvalid: []string{"spec.template.spec.domain.memory.guest in body should match"}},
		{name: "misspelled macAddress", doc: edit(t, validVM, "macAddress:", "macAdress:"),
			wantUnknowns: []string{"spec.template.spec.domain.devices.interfaces[1].macAdress"}},
		{name: "unknown field in dataVolumeTemplates spec", doc: edit(t, validVM, "      storage:\n", "      storrage: {}\n      storage:\n"),
			wantUnknowns: []string{"spec.dataVolumeTemplates[0].spec.storrage"}},
		{name: "missing template", doc: "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: x}\nspec: {runStrategy: Always}\n",
			wantInvalid: []string{"spec.template in body is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := yaml.YAMLToJSON([]byte(tc.doc))
			require.NoError(t, err)
			var obj map[string]any
			require.NoError(t, json.Unmarshal(j, &obj)) // int64 for integers, as the apiserver decodes
			var invalid []string
			for _, e := range validator.Validate(obj).Errors {
				invalid = append(invalid, e.Error())
			}
			unknowns := pruning.PruneWithOptions(obj, s, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
			if len(tc.wantInvalid) == 0 {
				assert.Empty(t, invalid)
			}
			for _, want := range tc.wantInvalid {
				assert.Contains(t, strings.Join(invalid, "\n"), want)
			}
			assert.Equal(t, tc.wantUnknowns, unknowns)
		})
	}
}
