package testcluster

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// StackCRDs returns the CRDs of the stack of the newest carried releases (crds.Default): those its
// operators create at run time (VirtualMachine, VirtualMachineInstance, the snapshot, restore and
// export kinds, instance types and preferences, DataVolume), which a cluster without a kubelet never
// gets otherwise, and those it ships (KubeVirt, CDI, NetworkAttachmentDefinition, the VolumeSnapshot
// kinds). KubeVirt's and CDI's are the releases' own: served versions (the deprecated v1alpha3
// included), printer columns and subresources as the operators create them.
func StackCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return crds.All()
}

// StackCRDsFor is StackCRDs for a cluster running other KubeVirt and CDI releases ("v1.6.3").
func StackCRDsFor(v crds.Versions) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return crds.For(v)
}
