// Package crds holds the CustomResourceDefinitions of the kinds the VMO stack serves, written by
// hack/gen-schemas (internal/apischema): those of KubeVirt and CDI per release, as the releases
// themselves make them (kubevirt/<minor>/, cdi/<minor>/: read from each release's generated CRD
// validation, zz_sources.go says which module, version and file), and those of Multus and the CSI
// snapshotter from their Go API types (*.yaml here). The YAML files, their table (zz_generated.go) and
// ObjectMeta's schema (zz_objectmeta.json) are generated; this file serves them.
//
// Some of them are in the stack's release manifests (ShippedByStack); the others are created at run
// time by virt-operator and cdi-operator (CreatedByOperators), so a cluster without running operators,
// such as a test apiserver, only has them if they are installed from here.
package crds

import (
	"embed"
	"fmt"
	"strings"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml kubevirt cdi zz_objectmeta.json
var files embed.FS

// Source is where one upstream set of CRDs was read from.
type Source struct {
	Set, Module, Version, File, SHA256 string
}

type entry struct {
	// set is the upstream release ("kubevirt/v1.7", "cdi/v1.61"), "" for CRDs made from Go types.
	set        string
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

// Versions are the KubeVirt and CDI releases of a cluster, as its stack declares them ("v1.7.0").
type Versions struct{ KubeVirt, CDI string }

// Default are the releases whose CRDs All and the functions without a Versions serve: the newest
// carried.
var Default = Versions{KubeVirt: "v1.8", CDI: "v1.61"}

// KubeVirtSets lists the carried KubeVirt minors ("v1.4", ..., "v1.8").
func KubeVirtSets() []string {
	var out []string
	for _, s := range sets {
		if m, ok := strings.CutPrefix(s, "kubevirt/"); ok {
			out = append(out, m)
		}
	}
	return out
}

// minor returns "v1.7" of "v1.7.0" (or of "v1.7", "1.7.0").
func minor(v string) (string, int, int, bool) {
	p, err := version.ParseGeneric(v)
	if err != nil {
		return "", 0, 0, false
	}
	return fmt.Sprintf("v%d.%d", p.Major(), p.Minor()), int(p.Major()), int(p.Minor()), true
}

// KubeVirtSet returns the set of a KubeVirt version ("kubevirt/v1.7" for "v1.7.0"), or an error naming
// the carried minors when its minor is not carried.
func KubeVirtSet(version string) (string, error) {
	m, _, _, ok := minor(version)
	if ok && containsSet("kubevirt/"+m) {
		return "kubevirt/" + m, nil
	}
	return "", fmt.Errorf("no CRDs of KubeVirt %s: vmo-cue carries those of %s", version, strings.Join(KubeVirtSets(), ", "))
}

// CDISet returns the carried CDI set nearest to a CDI version (by minor; the lower on a tie): the
// module proxy does not serve every CDI release (internal/apischema CDISources).
func CDISet(version string) string {
	_, maj, min, ok := minor(version)
	best, bestDist := "", -1
	for _, s := range sets {
		m, isCDI := strings.CutPrefix(s, "cdi/")
		if !isCDI {
			continue
		}
		_, smaj, smin, _ := minor(m)
		dist := 0
		if ok {
			dist = abs((smaj-maj)*1000 + smin - min)
		}
		if bestDist < 0 || dist < bestDist {
			best, bestDist = s, dist
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func containsSet(set string) bool {
	for _, s := range sets {
		if s == set {
			return true
		}
	}
	return false
}

// setsOf are the sets of a cluster's versions.
func setsOf(v Versions) (kubevirt, cdi string, err error) {
	kubevirt, err = KubeVirtSet(v.KubeVirt)
	return kubevirt, CDISet(v.CDI), err
}

func pick(v Versions, keep func(entry) bool) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	kv, cdi, err := setsOf(v)
	if err != nil {
		return nil, err
	}
	all, err := decoded()
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		if (e.set == "" || e.set == kv || e.set == cdi) && keep(e) {
			out = append(out, all[e.file].DeepCopy())
		}
	}
	return out, nil
}

// All returns every CRD of the Default releases, in a fixed order. Each call returns fresh copies.
func All() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return For(Default)
}

// For returns every CRD of a cluster running those releases: what its stack's manifests ship and
// what its operators create, as those releases make them.
func For(v Versions) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return pick(v, func(entry) bool { return true })
}

// ShippedByStack returns the CRDs that the release manifests of a stack component carry, of the
// Default releases: "kubevirt" (KubeVirt), "cdi" (CDI), "multus" (NetworkAttachmentDefinition) and
// "volumeSnapshotController" (VolumeSnapshot, VolumeSnapshotClass, VolumeSnapshotContent).
// Other components ship none.
func ShippedByStack(component string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return ShippedByStackAt(component, Default)
}

// ShippedByStackAt is ShippedByStack for a cluster's releases.
func ShippedByStackAt(component string, v Versions) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return pick(v, func(e entry) bool { return e.shippedBy == component })
}

// CreatedByOperators returns the CRDs that virt-operator and cdi-operator create at run time
// (VirtualMachine, VirtualMachineInstance, the KubeVirt snapshot, restore and export kinds, instance
// types and preferences, DataVolume), of the Default releases: they are in no release manifest.
func CreatedByOperators() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return pick(Default, func(e entry) bool { return e.createdBy != "" })
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

// YAML returns the CRD of kind of the Default releases, without decoding any other.
func YAML(kind string) ([]byte, error) {
	return YAMLAt(kind, Default)
}

// YAMLAt returns the CRD of kind of a cluster's releases, without decoding any other (the schema
// check needs one CRD per kind and release, at every vet).
func YAMLAt(kind string, v Versions) ([]byte, error) {
	kv, cdi, err := setsOf(v)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.kind == kind && (e.set == "" || e.set == kv || e.set == cdi) {
			return files.ReadFile(e.file)
		}
	}
	return nil, fmt.Errorf("no CRD of kind %s in schemas/crds (run make generate)", kind)
}

// SchemaJSON returns the storage version's OpenAPI schema of a kind's CRD of a cluster's releases, as
// compact JSON (generated next to the CRD for the kinds vet checks: the VM family).
func SchemaJSON(kind string, v Versions) ([]byte, error) {
	kv, cdi, err := setsOf(v)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.kind == kind && e.set != "" && (e.set == kv || e.set == cdi) {
			return files.ReadFile(strings.TrimSuffix(e.file, ".yaml") + ".schema.json")
		}
	}
	return nil, fmt.Errorf("no schema of kind %s in schemas/crds (run make generate)", kind)
}

// ObjectMetaJSON is the OpenAPI schema of metav1.ObjectMeta (made from the Go type), for the checks
// of an object's metadata and its templates' that the CRDs leave to the API server.
func ObjectMetaJSON() ([]byte, error) {
	return files.ReadFile("zz_objectmeta.json")
}
