// Package resolved is the resolved, typed cluster that render takes: a valid cluster's desired state
// with every choice made (operator images from versions, the feature gates to render, the VLANs the
// nodes' bridge passes, every interface's MAC). It holds data only and imports nothing of CUE
// evaluation or validation: internal/resolve builds it from a validated cluster.
package resolved

import (
	"github.com/vmo-cue/vmo-cue/internal/kustomize"
	"github.com/vmo-cue/vmo-cue/internal/settings"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// Cluster is one cluster's resolved desired state.
type Cluster struct {
	// Name, Kind and Labels are the cluster's declaration; Fleet the fleet it belongs to.
	Name   string
	Kind   string
	Labels map[string]string
	Fleet  string
	// Releases are the KubeVirt and CDI releases whose CRDs the cluster gets.
	Releases crds.Versions
	// Stack is the cluster's stack, resolved: each enabled component's operator image set (from its
	// version unless written), vlanFiltering.allowedVlans derived when unset, the gates a setting
	// implies added (VMLiveUpdateFeatures for CPU hotplug before KubeVirt v1.5).
	Stack settings.Stack
	// KubeVirtGates and CDIGates are the feature gates to render, sorted (GA and discontinued ones
	// and unknown ones left out).
	KubeVirtGates []string
	CDIGates      []string
	// VMs are the cluster's VMs in their checked order.
	VMs []VM
	// Objects are the cluster folder's other objects of the VM family (DataVolumes, instance types,
	// preferences).
	Objects []Object
	// Kustomize is the cluster's kustomize folders (nil without one), built again with the stack.
	Kustomize *Kustomize
}

// VM is a VM as written, with the MACs resolution assigned.
type VM struct {
	Namespace, Name string
	// Object is the VM's object as written (render copies it).
	Object map[string]any
	// MACs are the MACs assigned to the interfaces that need one and have none, by the interface's
	// index in spec.template.spec.domain.devices.interfaces.
	MACs map[int]string
}

// Object is an object of the VM family as written.
type Object struct {
	Kind, Namespace string
	Object          map[string]any
}

// Kustomize is a cluster's kustomize folders and the repository as kustomize reads it.
type Kustomize struct {
	Dirs []string
	Tree *kustomize.Tree
}

// ErrInvalid is returned for a cluster whose desired state does not validate: it is not resolved,
// so nothing is rendered.
type ErrInvalid struct{ Cluster string }

func (e ErrInvalid) Error() string {
	return "cluster " + e.Cluster + " does not validate: nothing rendered (run vmo-cue vet)"
}
