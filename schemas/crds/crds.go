// Package crds holds the CustomResourceDefinitions of the kinds the VMO stack serves, generated from
// the Go API types by hack/gen-schemas (internal/apischema), with structural OpenAPI v3 schemas: the
// YAML files and their table (zz_generated.go) are generated; this file serves them.
//
// Some of them are in the stack's release manifests (ShippedByStack); the others are created at run
// time by virt-operator and cdi-operator (CreatedByOperators), so a cluster without running operators,
// such as a test apiserver, only has them if they are installed from here.
package crds

import (
	"embed"
	"fmt"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml
var files embed.FS

type entry struct {
	kind, file string
	// shippedBy is the stack component whose release manifests carry the CRD; createdBy is the operator
	// that creates it at run time instead.
	shippedBy, createdBy string
}

var decoded = sync.OnceValues(func() (map[string]*apiextensionsv1.CustomResourceDefinition, error) {
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, e := range entries {
		b, err := files.ReadFile(e.file)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return nil, fmt.Errorf("crds/%s: %w", e.file, err)
		}
		out[e.file] = crd
	}
	return out, nil
})

func pick(keep func(entry) bool) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	all, err := decoded()
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		if keep(e) {
			out = append(out, all[e.file].DeepCopy())
		}
	}
	return out, nil
}

// All returns every CRD, in a fixed order. Each call returns fresh copies.
func All() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return pick(func(entry) bool { return true })
}

// ShippedByStack returns the CRDs that the release manifests of a stack component carry:
// "kubevirt" (KubeVirt), "cdi" (CDI), "multus" (NetworkAttachmentDefinition) and
// "volumeSnapshotController" (VolumeSnapshot, VolumeSnapshotClass, VolumeSnapshotContent).
// Other components ship none.
func ShippedByStack(component string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return pick(func(e entry) bool { return e.shippedBy == component })
}

// CreatedByOperators returns the CRDs that virt-operator and cdi-operator create at run time
// (VirtualMachine, VirtualMachineInstance, the KubeVirt snapshot, restore and export kinds, DataVolume):
// they are in no release manifest.
func CreatedByOperators() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return pick(func(e entry) bool { return e.createdBy != "" })
}

// CreatedBy names the operator that creates the CRD of kind at run time, or "" if the stack's
// manifests ship it (or the kind is not here).
func CreatedBy(kind string) string {
	for _, e := range entries {
		if e.kind == kind {
			return e.createdBy
		}
	}
	return ""
}

// YAML returns the CRD of kind as generated, without decoding any other (the VM schema check needs
// one CRD, at every vet).
func YAML(kind string) ([]byte, error) {
	for _, e := range entries {
		if e.kind == kind {
			return files.ReadFile(e.file)
		}
	}
	return nil, fmt.Errorf("no CRD of kind %s in schemas/crds (run make generate)", kind)
}
