package apischema

import (
	"reflect"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	volsnapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	virtv1 "kubevirt.io/api/core/v1"
	exportv1beta1 "kubevirt.io/api/export/v1beta1"
	snapshotv1beta1 "kubevirt.io/api/snapshot/v1beta1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)

// kindSpec is one top-level kind: its Go type, how it is served, and who puts its CRD in a cluster.
type kindSpec struct {
	Go                     reflect.Type
	Group, Version, Kind   string
	Plural, Singular       string
	ShortNames, Categories []string
	Namespaced             bool
	// StatusSubresource as upstream declares it (the VirtualMachineInstance and CDI CRDs have none).
	StatusSubresource bool
	// Annotations on the CRD; groups under k8s.io need api-approved.kubernetes.io or the apiserver
	// refuses the CRD.
	Annotations map[string]string
	// ShippedBy names the stack component whose release manifests carry the CRD; empty means an
	// operator (CreatedBy) creates it at run time.
	ShippedBy, CreatedBy string
	// CUEPackage is the generated CUE package that defines the kind ("" for none).
	CUEPackage string
	// Upstream: the kind's CRDs come from its project's own generated validation, per release
	// (upstream.go), not from reflection; reflection still gives its CUE definition in CUEPackage.
	Upstream bool
}

func (k kindSpec) APIVersion() string { return k.Group + "/" + k.Version }

// cuePackage is one generated CUE package. Packages are generated in order; a Go type belongs to the
// first package that reaches it, and later packages refer to it through an alias (#X: cdi.#X), so each
// Go type has one definition.
type cuePackage struct {
	Name, Dir, ImportPath string
	// namePriority: when two Go types share a name, the one from the earlier package path keeps the
	// bare name; the others get their package's prefix (namePrefix).
	namePriority []string
}

type fieldRef struct {
	Go    reflect.Type
	Field string
}

type config struct {
	kinds       []kindSpec
	cuePackages []cuePackage
	required    []fieldRef
	// special: Go types whose JSON form is not their Go shape.
	special map[reflect.Type]*Type
	// sameShapeJSON: types with JSON methods that only sanitise values (the JSON keeps the Go shape).
	sameShapeJSON map[reflect.Type]bool
	namePrefix    map[string]string
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

func req[T any](fields ...string) []fieldRef {
	var out []fieldRef
	for _, f := range fields {
		out = append(out, fieldRef{Go: typeOf[T](), Field: f})
	}
	return out
}

const (
	pkgVirt                = "kubevirt.io/api/core/v1"
	pkgSnapshot            = "kubevirt.io/api/snapshot/v1beta1"
	pkgExport              = "kubevirt.io/api/export/v1beta1"
	pkgCDI                 = "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	pkgCore                = "k8s.io/api/core/v1"
	pkgMeta                = "k8s.io/apimachinery/pkg/apis/meta/v1"
	pkgSDK                 = "kubevirt.io/controller-lifecycle-operator-sdk/api"
	pkgOpenShiftConditions = "github.com/openshift/custom-resource-status/conditions/v1"
)

func defaultConfig() *config {
	kubevirt := func(k kindSpec) kindSpec {
		k.Namespaced, k.Categories, k.CUEPackage, k.Upstream = true, []string{"all"}, "kubevirt", true
		if k.ShippedBy == "" {
			k.CreatedBy = "virt-operator"
		}
		return k
	}
	snapshotApproval := map[string]string{
		"api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/814",
	}
	c := &config{
		kinds: []kindSpec{
			kubevirt(kindSpec{Go: typeOf[virtv1.VirtualMachine](), Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine",
				Plural: "virtualmachines", Singular: "virtualmachine", ShortNames: []string{"vm", "vms"}, StatusSubresource: true}),
			kubevirt(kindSpec{Go: typeOf[virtv1.VirtualMachineInstance](), Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachineInstance",
				Plural: "virtualmachineinstances", Singular: "virtualmachineinstance", ShortNames: []string{"vmi", "vmis"}}),
			kubevirt(kindSpec{Go: typeOf[virtv1.KubeVirt](), Group: "kubevirt.io", Version: "v1", Kind: "KubeVirt",
				Plural: "kubevirts", Singular: "kubevirt", ShortNames: []string{"kv", "kvs"}, StatusSubresource: true, ShippedBy: "kubevirt"}),
			kubevirt(kindSpec{Go: typeOf[snapshotv1beta1.VirtualMachineSnapshot](), Group: "snapshot.kubevirt.io", Version: "v1beta1", Kind: "VirtualMachineSnapshot",
				Plural: "virtualmachinesnapshots", Singular: "virtualmachinesnapshot", ShortNames: []string{"vmsnapshot", "vmsnapshots"}, StatusSubresource: true}),
			kubevirt(kindSpec{Go: typeOf[snapshotv1beta1.VirtualMachineSnapshotContent](), Group: "snapshot.kubevirt.io", Version: "v1beta1", Kind: "VirtualMachineSnapshotContent",
				Plural: "virtualmachinesnapshotcontents", Singular: "virtualmachinesnapshotcontent", ShortNames: []string{"vmsnapshotcontent", "vmsnapshotcontents"}, StatusSubresource: true}),
			kubevirt(kindSpec{Go: typeOf[snapshotv1beta1.VirtualMachineRestore](), Group: "snapshot.kubevirt.io", Version: "v1beta1", Kind: "VirtualMachineRestore",
				Plural: "virtualmachinerestores", Singular: "virtualmachinerestore", ShortNames: []string{"vmrestore", "vmrestores"}, StatusSubresource: true}),
			kubevirt(kindSpec{Go: typeOf[exportv1beta1.VirtualMachineExport](), Group: "export.kubevirt.io", Version: "v1beta1", Kind: "VirtualMachineExport",
				Plural: "virtualmachineexports", Singular: "virtualmachineexport", ShortNames: []string{"vmexport", "vmexports"}, StatusSubresource: true}),
			{Go: typeOf[cdiv1beta1.DataVolume](), Group: "cdi.kubevirt.io", Version: "v1beta1", Kind: "DataVolume",
				Plural: "datavolumes", Singular: "datavolume", ShortNames: []string{"dv", "dvs"}, Categories: []string{"all"},
				Namespaced: true, StatusSubresource: true, CreatedBy: "cdi-operator", CUEPackage: "cdi", Upstream: true},
			{Go: typeOf[cdiv1beta1.CDI](), Group: "cdi.kubevirt.io", Version: "v1beta1", Kind: "CDI",
				Plural: "cdis", Singular: "cdi", ShortNames: []string{"cdi", "cdis"}, ShippedBy: "cdi", CUEPackage: "cdi", Upstream: true},
			{Go: typeOf[nadv1.NetworkAttachmentDefinition](), Group: "k8s.cni.cncf.io", Version: "v1", Kind: "NetworkAttachmentDefinition",
				Plural: "network-attachment-definitions", Singular: "network-attachment-definition", ShortNames: []string{"net-attach-def"},
				Namespaced: true, ShippedBy: "multus"},
			{Go: typeOf[volsnapv1.VolumeSnapshot](), Group: "snapshot.storage.k8s.io", Version: "v1", Kind: "VolumeSnapshot",
				Plural: "volumesnapshots", Singular: "volumesnapshot", ShortNames: []string{"vs"},
				Namespaced: true, StatusSubresource: true, Annotations: snapshotApproval, ShippedBy: "volumeSnapshotController"},
			{Go: typeOf[volsnapv1.VolumeSnapshotClass](), Group: "snapshot.storage.k8s.io", Version: "v1", Kind: "VolumeSnapshotClass",
				Plural: "volumesnapshotclasses", Singular: "volumesnapshotclass", ShortNames: []string{"vsclass", "vsclasses"},
				Annotations: snapshotApproval, ShippedBy: "volumeSnapshotController"},
			{Go: typeOf[volsnapv1.VolumeSnapshotContent](), Group: "snapshot.storage.k8s.io", Version: "v1", Kind: "VolumeSnapshotContent",
				Plural: "volumesnapshotcontents", Singular: "volumesnapshotcontent", ShortNames: []string{"vsc", "vscs"},
				StatusSubresource: true, Annotations: snapshotApproval, ShippedBy: "volumeSnapshotController"},
		},
		cuePackages: []cuePackage{
			{Name: "cdi", Dir: "schemas/cdi", ImportPath: "vmo-cue.dev/vmo/schemas/cdi",
				namePriority: []string{pkgCDI, pkgCore, pkgMeta}},
			{Name: "kubevirt", Dir: "schemas/kubevirt", ImportPath: "vmo-cue.dev/vmo/schemas/kubevirt",
				namePriority: []string{pkgVirt, pkgSnapshot, pkgExport, pkgCDI, pkgCore, pkgMeta}},
		},
		required: concat(
			req[virtv1.VirtualMachine]("spec"),
			req[virtv1.VirtualMachineSpec]("template"),
			req[virtv1.VirtualMachineInstance]("spec"),
			req[virtv1.VirtualMachineInstanceSpec]("domain"),
			req[virtv1.DomainSpec]("devices"),
			req[virtv1.Interface]("name"),
			req[virtv1.Disk]("name"),
			req[virtv1.Volume]("name"),
			req[virtv1.Network]("name"),
			req[virtv1.MultusNetwork]("networkName"),
			req[virtv1.DataVolumeTemplateSpec]("spec"),
			req[virtv1.KubeVirt]("spec"),
			req[snapshotv1beta1.VirtualMachineSnapshot]("spec"),
			req[snapshotv1beta1.VirtualMachineSnapshotSpec]("source"),
			req[snapshotv1beta1.VirtualMachineRestore]("spec"),
			req[snapshotv1beta1.VirtualMachineRestoreSpec]("target", "virtualMachineSnapshotName"),
			req[exportv1beta1.VirtualMachineExport]("spec"),
			req[exportv1beta1.VirtualMachineExportSpec]("source"),
			req[cdiv1beta1.DataVolume]("spec"),
			req[cdiv1beta1.CDI]("spec"),
			req[volsnapv1.VolumeSnapshot]("spec"),
			req[volsnapv1.VolumeSnapshotSpec]("source"),
			req[volsnapv1.VolumeSnapshotClass]("driver", "deletionPolicy"),
			req[volsnapv1.VolumeSnapshotContent]("spec"),
			req[volsnapv1.VolumeSnapshotContentSpec]("volumeSnapshotRef", "deletionPolicy", "driver", "source"),
		),
		special: map[reflect.Type]*Type{
			typeOf[metav1.Time]():          {Kind: KindString, Format: "date-time", nullOnZero: true},
			typeOf[metav1.MicroTime]():     {Kind: KindString, Format: "date-time", nullOnZero: true},
			typeOf[metav1.Duration]():      {Kind: KindString},
			typeOf[resource.Quantity]():    {Kind: KindQuantity},
			typeOf[intstr.IntOrString]():   {Kind: KindIntOrString},
			typeOf[runtime.RawExtension](): {Kind: KindObject},
			typeOf[metav1.FieldsV1]():      {Kind: KindObject},
			typeOf[apiextensionsv1.JSON](): {Kind: KindAny},
		},
		sameShapeJSON: map[reflect.Type]bool{
			// Sanitisers: they parse with an alias type of the same shape, then clean values.
			typeOf[virtv1.VirtualMachineInstanceSpec](): true,
			typeOf[virtv1.DHCPOptions]():                true,
			typeOf[virtv1.PodNetwork]():                 true,
		},
		namePrefix: map[string]string{
			pkgVirt:                "KubeVirt",
			pkgSnapshot:            "Snapshot",
			pkgExport:              "Export",
			pkgCDI:                 "CDI",
			pkgCore:                "Core",
			pkgMeta:                "Meta",
			pkgSDK:                 "SDK",
			pkgOpenShiftConditions: "OpenShift",
		},
	}
	return c
}

func concat[T any](xs ...[]T) []T {
	var out []T
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}
