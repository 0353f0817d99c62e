package testcluster

import "errors"

// StackCRDs returns the CRD manifests of the stack: those its operators create at run time
// (VirtualMachine, DataVolume, ...) and those it ships (KubeVirt, CDI, NetworkAttachmentDefinition,
// VolumeSnapshot kinds), generated into schemas/crds.
func StackCRDs() ([][]byte, error) {
	return nil, errors.New("the stack's CRDs (package schemas/crds) are not generated yet")
}
