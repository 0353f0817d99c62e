package testcluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crd is one CustomResourceDefinition to install, with what is needed to check that it is served.
type crd struct {
	obj      *unstructured.Unstructured
	resource schema.GroupVersionResource // the storage version's resource
}

// parseCRDs turns the CRDs into the objects to create, and finds the resource to list of each.
func parseCRDs(in []*apiextensionsv1.CustomResourceDefinition) ([]crd, error) {
	var out []crd
	for _, c := range in {
		if c == nil {
			continue
		}
		version := ""
		for _, v := range c.Spec.Versions {
			if v.Served && (version == "" || v.Storage) {
				version = v.Name
			}
		}
		if c.Spec.Group == "" || c.Spec.Names.Plural == "" || version == "" {
			return nil, fmt.Errorf("CRD %q: no group, plural or served version", c.Name)
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
		if err != nil {
			return nil, fmt.Errorf("CRD %q: %w", c.Name, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetAPIVersion("apiextensions.k8s.io/v1")
		u.SetKind("CustomResourceDefinition")
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		out = append(out, crd{obj: u, resource: schema.GroupVersionResource{Group: c.Spec.Group, Version: version, Resource: c.Spec.Names.Plural}})
	}
	return out, nil
}

// installCRDs creates the CRDs, waits until each is Established, and until its resources can be listed.
func installCRDs(ctx context.Context, cfg *rest.Config, crds []crd) error {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	errs := make([]error, len(crds))
	var wg sync.WaitGroup
	for i, c := range crds {
		wg.Go(func() { errs[i] = installCRD(ctx, client, c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func installCRD(ctx context.Context, client dynamic.Interface, c crd) error {
	name := c.obj.GetName()
	_, err := client.Resource(crdResource).Create(ctx, c.obj.DeepCopy(), metav1.CreateOptions{FieldManager: "vmo-cue-testcluster"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create CRD %s: %w", name, err)
	}
	for {
		got, err := client.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get CRD %s: %w", name, err)
		}
		established, reason := crdCondition(got, "Established")
		if established {
			break
		}
		if accepted, why := crdCondition(got, "NamesAccepted"); !accepted && why != "" {
			return fmt.Errorf("CRD %s: names not accepted: %s", name, why)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("CRD %s not Established (%s): %w", name, reason, err)
		}
	}
	// Established means the API server serves the resource; the first list proves it.
	for {
		_, err := client.Resource(c.resource).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("CRD %s Established but %s not served: %w", name, c.resource, err)
		}
	}
}

// crdCondition reports whether the condition is True; if it is False, why it is.
func crdCondition(obj *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == typ {
			if cm["status"] == "True" {
				return true, ""
			}
			msg, _ := cm["message"].(string)
			if cm["status"] == "False" {
				return false, msg
			}
		}
	}
	return false, ""
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
