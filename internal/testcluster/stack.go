package testcluster

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// StackCRDs returns the CRDs of the stack, generated into schemas/crds from the Go API types: those
// its operators create at run time (VirtualMachine, VirtualMachineInstance, the snapshot, restore and
// export kinds, DataVolume), which a cluster without a kubelet never gets otherwise, and those it
// ships (KubeVirt, CDI, NetworkAttachmentDefinition, the VolumeSnapshot kinds).
func StackCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return crds.All()
}
