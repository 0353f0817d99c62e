package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "fleet.vmo-cue.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this API in a runtime.Scheme.
	SchemeBuilder = &schemeBuilder{}

	// AddToScheme adds the kinds of this API to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// schemeBuilder collects the kinds of this API (each types file registers its own in init) and adds
// them to a scheme: the apimachinery way, without controller-runtime in the API package.
type schemeBuilder struct{ objects []runtime.Object }

// Register adds kinds to be added to schemes.
func (b *schemeBuilder) Register(objects ...runtime.Object) {
	b.objects = append(b.objects, objects...)
}

// AddToScheme adds the registered kinds to s, with the meta/v1 types of the group version.
func (b *schemeBuilder) AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, b.objects...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Kinds of this API.
const (
	FleetKind        = "Fleet"
	FleetClusterKind = "FleetCluster"
)
