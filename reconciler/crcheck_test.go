package reconciler_test

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/crcheck"
)

// The tests check new custom resources locally, as the vmo-cue binary does (cmd/vmo-cue/crcheck.go).
func init() {
	reconciler.UseLocalSchemaCheck(func(crd *apiextensionsv1.CustomResourceDefinition, gvk schema.GroupVersionKind) (reconciler.CRSchema, error) {
		s, err := crcheck.New(crd, gvk)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}
