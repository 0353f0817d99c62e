package main

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/crcheck"
)

// Every command of this binary (apply, sync, diff, the controller) checks new custom resources that
// no webhook or admission policy sees against the cluster's own CRD itself, instead of a dry-run
// request per object (reconciler/check.go). vmo-cue-agent leaves this out to stay small.
func init() { reconciler.UseLocalSchemaCheck(localSchemaCheck) }

func localSchemaCheck(crd *apiextensionsv1.CustomResourceDefinition, gvk schema.GroupVersionKind) (reconciler.CRSchema, error) {
	s, err := crcheck.New(crd, gvk)
	if err != nil {
		return nil, err
	}
	return s, nil
}
