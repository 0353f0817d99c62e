// Package crcheck checks a new custom resource as the API server's create does, with the server's own
// code (k8s.io/apiextensions-apiserver) and the cluster's own CRD: the same verdict and the same message
// as a server dry-run, without a request per object. It is apart from the reconciler, which gets it
// through reconciler.UseLocalSchemaCheck, because it links the API server's packages: the agent's
// binary, which leaves it out, stays small (its new objects are dry-run on the server).
package crcheck

import (
	"context"
	"fmt"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured/unstructuredscheme"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
)

// Schema checks a new custom resource as the API server's create does (the CRD handler of
// k8s.io/apiextensions-apiserver: decoding with unknown fields refused, pruning and defaulting, then
// the create strategy's validation: metadata, the OpenAPI schema, embedded objects, list types and
// x-kubernetes-validations rules), built from the cluster's own CRD: the same code gives the same
// verdict and the same message as the server's dry-run.
type Schema struct {
	gvk             schema.GroupVersionKind
	structural      *structuralschema.Structural
	preserveUnknown bool
	strategy        rest.RESTCreateStrategy
}

// New prepares the check of one served version of a CRD, as the server's CRD handler does.
func New(crd *apiextensionsv1.CustomResourceDefinition, gvk schema.GroupVersionKind) (*Schema, error) {
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if v := &crd.Spec.Versions[i]; v.Name == gvk.Version && v.Served {
			version = v
		}
	}
	if version == nil || crd.Spec.Names.Kind != gvk.Kind {
		return nil, fmt.Errorf("CRD %s does not serve %s", crd.Name, gvk)
	}
	val, err := apihelpers.GetSchemaForVersion(crd, gvk.Version)
	if err != nil || val == nil {
		return nil, fmt.Errorf("CRD %s: no schema for %s", crd.Name, gvk.Version)
	}
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(val, internal, nil); err != nil {
		return nil, err
	}
	s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	if !crd.Spec.PreserveUnknownFields {
		s = s.DeepCopy()
		if err := structuraldefaulting.PruneDefaults(s); err != nil {
			return nil, err
		}
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	subresources, err := apihelpers.GetSubresourcesForVersion(crd, gvk.Version)
	if err != nil {
		return nil, err
	}
	var status *apiextensions.CustomResourceSubresourceStatus
	var statusValidator apiservervalidation.SchemaValidator
	var scale *apiextensions.CustomResourceSubresourceScale
	if subresources != nil && subresources.Status != nil {
		status = &apiextensions.CustomResourceSubresourceStatus{}
		if err := apiextensionsv1.Convert_v1_CustomResourceSubresourceStatus_To_apiextensions_CustomResourceSubresourceStatus(subresources.Status, status, nil); err != nil {
			return nil, err
		}
		if statusSchema, ok := internal.OpenAPIV3Schema.Properties["status"]; ok {
			if statusValidator, _, err = apiservervalidation.NewSchemaValidator(&statusSchema); err != nil {
				return nil, err
			}
		}
	}
	if subresources != nil && subresources.Scale != nil {
		scale = &apiextensions.CustomResourceSubresourceScale{}
		if err := apiextensionsv1.Convert_v1_CustomResourceSubresourceScale_To_apiextensions_CustomResourceSubresourceScale(subresources.Scale, scale, nil); err != nil {
			return nil, err
		}
	}
	strategy := customresource.NewStrategy(unstructuredscheme.NewUnstructuredObjectTyper(), crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		gvk, validator, statusValidator, s, status, scale, version.SelectableFields)
	return &Schema{gvk: gvk, structural: s, preserveUnknown: crd.Spec.PreserveUnknownFields, strategy: strategy}, nil
}

// Validate checks the object's JSON (the bytes an apply sends) as the server's create would, and
// returns the server's error for it (nil if it would be accepted).
func (s *Schema) Validate(ctx context.Context, body []byte) error {
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, body)
	if err != nil {
		return s.decodeError(err)
	}
	u := obj.(*unstructured.Unstructured)
	// The request decoder's schema coercion (customresource_handler.go, unstructuredSchemaCoercer).
	objectMeta, foundMeta, unknown, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return s.decodeError(err)
	}
	if !s.preserveUnknown {
		unknown = append(unknown, structuralpruning.PruneWithOptions(u.Object, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
		structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, s.structural)
	}
	ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, u.Object, s.structural, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		return s.decodeError(ferr)
	}
	unknown = append(unknown, paths...)
	u.SetGroupVersionKind(s.gvk)
	if foundMeta {
		if err := schemaobjectmeta.SetObjectMeta(u.Object, objectMeta); err != nil {
			return s.decodeError(err)
		}
	}
	if len(unknown) > 0 {
		errs := make([]error, len(unknown))
		for i, p := range unknown {
			errs[i] = fmt.Errorf(`unknown field "%s"`, p)
		}
		return s.decodeError(runtime.NewStrictDecodingError(errs))
	}
	// The decoder's defaulting, then the create's preparation and validation (rest.BeforeCreate).
	structuraldefaulting.Default(u.Object, s.structural)
	rest.FillObjectMetaSystemFields(u)
	return rest.BeforeCreate(s.strategy, genericapirequest.WithNamespace(ctx, u.GetNamespace()), u)
}

// decodeError words a decoding error as the server's create handler does (transformDecodeError).
func (s *Schema) decodeError(err error) error {
	return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", s.gvk.Kind, s.gvk.Version, s.gvk.Kind, err))
}
