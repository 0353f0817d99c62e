package testcluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
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

// installCRDs creates the CRDs, waits until each is Established, and until its resources can be
// listed. It watches the CRDs rather than polling them: a CRD of the stack is large, and reading it
// again and again costs the API server more than the install itself.
func installCRDs(ctx context.Context, cfg *rest.Config, crds []crd) error {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	errs := make([]error, len(crds))
	var wg sync.WaitGroup
	for i, c := range crds {
		wg.Go(func() {
			_, err := client.Resource(crdResource).Create(ctx, c.obj.DeepCopy(), metav1.CreateOptions{FieldManager: "vmo-cue-testcluster"})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				errs[i] = fmt.Errorf("create CRD %s: %w", c.obj.GetName(), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := waitEstablished(ctx, client, crds); err != nil {
		return err
	}
	// Established means the API server serves the resource; a first list proves it.
	for i, c := range crds {
		wg.Go(func() {
			for {
				_, err := client.Resource(c.resource).List(ctx, metav1.ListOptions{Limit: 1})
				if err == nil {
					return
				}
				if err := sleep(ctx, 50*time.Millisecond); err != nil {
					errs[i] = fmt.Errorf("CRD %s Established but %s not served: %w", c.obj.GetName(), c.resource, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitEstablished lists the CRDs, then watches them until all of crds are Established.
func waitEstablished(ctx context.Context, client dynamic.Interface, crds []crd) error {
	pending := map[string]bool{}
	for _, c := range crds {
		pending[c.obj.GetName()] = true
	}
	why := map[string]string{}
	check := func(u *unstructured.Unstructured) error {
		if !pending[u.GetName()] {
			return nil
		}
		if ok, _ := crdCondition(u, "Established"); ok {
			delete(pending, u.GetName())
			return nil
		}
		if accepted, msg := crdCondition(u, "NamesAccepted"); !accepted && msg != "" {
			return fmt.Errorf("CRD %s: names not accepted: %s", u.GetName(), msg)
		}
		_, why[u.GetName()] = crdCondition(u, "Established")
		return nil
	}
	for len(pending) > 0 {
		list, err := client.Resource(crdResource).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list CRDs: %w", err)
		}
		for i := range list.Items {
			if err := check(&list.Items[i]); err != nil {
				return err
			}
		}
		if len(pending) == 0 {
			break
		}
		w, err := client.Resource(crdResource).Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				return notEstablished(pending, why, ctx.Err())
			}
			continue // list and watch again
		}
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			if err := check(u); err != nil {
				w.Stop()
				return err
			}
			if len(pending) == 0 {
				break
			}
		}
		w.Stop()
		if ctx.Err() != nil && len(pending) > 0 {
			return notEstablished(pending, why, ctx.Err())
		}
	}
	return nil
}

func notEstablished(pending map[string]bool, why map[string]string, err error) error {
	var names []string
	for n := range pending {
		names = append(names, fmt.Sprintf("%s (%s)", n, why[n]))
	}
	sort.Strings(names)
	return fmt.Errorf("CRDs not Established: %s: %w", strings.Join(names, ", "), err)
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
