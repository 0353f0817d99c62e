package reconciler

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Before the first write every object is checked, all or nothing. The server's dry-run of an object
// runs its admission (webhooks, admission policies, quota, the namespace's state), its authorization
// and its validation. For a custom resource that this apply creates, and that no admission webhook
// or policy of the cluster matches, in a namespace without a ResourceQuota, what the dry-run adds is
// only the validation against the schema of the cluster's own CRD: vmo-cue runs that itself, with the
// API server's own code (reconciler/crcheck, given by UseLocalSchemaCheck), against the CRD read from the cluster (one GET per kind), and
// asks the server whether it may create the kind there (a SelfSubjectAccessReview per kind and
// namespace). Such objects need no request of their own; every other object keeps its dry-run. Where
// vmo-cue cannot read what it needs (webhooks, CRDs, namespaces, quotas: a least-privilege
// credential), every object is dry-run as before.

// CRSchema checks a new custom resource's JSON as the API server's create would: nil if accepted, else
// the server's error.
type CRSchema interface {
	Validate(ctx context.Context, body []byte) error
}

// CRSchemaFunc prepares the CRSchema of one served version of a CRD (crcheck.New).
type CRSchemaFunc func(crd *apiextensionsv1.CustomResourceDefinition, gvk schema.GroupVersionKind) (CRSchema, error)

var localSchemaCheck CRSchemaFunc

// UseLocalSchemaCheck lets the reconciler check new custom resources itself (see above) with f, for
// the rest of the process; without it every object is dry-run on the server. The vmo-cue binary
// calls it with reconciler/crcheck; the agent's binary does not, so that it does not link the API
// server's packages.
func UseLocalSchemaCheck(f CRSchemaFunc) { localSchemaCheck = f }

// admissionView is what the cluster's admission would do with a new custom resource.
type admissionView struct {
	// hooked reports whether an admission webhook or policy may see the creation of the resource.
	hooked func(gr schema.GroupResource) bool
	// active namespaces exist and are not being deleted; quota namespaces hold a ResourceQuota.
	active, quota map[string]bool
}

// checkLocally picks the items it can check without a request per object (see above) and returns
// the items left to the server's dry-run, and check, which checks the others and returns those
// refused (it may run while the server dry-runs the rest). created names the namespaces this apply
// creates.
func (c *Cluster) checkLocally(ctx context.Context, items []*Item, created map[string]bool, workers int) (rest []*Item, check func() []ObjectError) {
	none := func() []ObjectError { return nil }
	var candidates []*Item
	for _, it := range items {
		if (it.Action == Create || it.Action == Recreate) && it.ID.Group != "" && len(it.Object.GetOwnerReferences()) == 0 {
			candidates = append(candidates, it)
		} else {
			rest = append(rest, it)
		}
	}
	if len(candidates) == 0 || localSchemaCheck == nil {
		return items, none
	}
	// The access reviews need nothing of the admission view: they run while it is read.
	allowedCh := make(chan map[string]bool, 1)
	go func() { allowedCh <- c.allowed(ctx, candidates, workers) }()
	view, err := c.admission(ctx)
	if err != nil {
		<-allowedCh
		return items, none // the server checks them all
	}
	schemas := c.crSchemas(ctx, candidates, view, workers)
	allowed := <-allowedCh
	var local []*Item
	for _, it := range candidates {
		ns := it.Object.GetNamespace()
		s := schemas[it.Object.GroupVersionKind()]
		switch {
		case s == nil,
			ns != "" && !created[ns] && (!view.active[ns] || view.quota[ns]),
			!allowed[authKey(it)]:
			rest = append(rest, it)
		default:
			local = append(local, it)
		}
	}
	return rest, func() []ObjectError {
		var mu sync.Mutex
		var fails []ObjectError
		g := new(errgroup.Group)
		g.SetLimit(max(workers, 1))
		for _, it := range local {
			g.Go(func() error {
				if err := schemas[it.Object.GroupVersionKind()].Validate(ctx, it.body); err != nil {
					mu.Lock()
					fails = append(fails, ObjectError{Item: it, Err: err})
					mu.Unlock()
					return nil
				}
				it.checked = true
				return nil
			})
		}
		_ = g.Wait()
		return fails
	}
}

// admission reads the cluster's admission webhooks and policies, namespaces and quotas, all at once
// (one LIST each).
func (c *Cluster) admission(ctx context.Context) (*admissionView, error) {
	var mu sync.Mutex
	var rules []admissionregistrationv1.Rule
	add := func(r []admissionregistrationv1.Rule) {
		mu.Lock()
		rules = append(rules, r...)
		mu.Unlock()
	}
	view := &admissionView{active: map[string]bool{}, quota: map[string]bool{}, hooked: func(gr schema.GroupResource) bool {
		for _, r := range rules {
			if matches(r, gr) {
				return true
			}
		}
		return false
	}}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var vwc admissionregistrationv1.ValidatingWebhookConfigurationList
		if err := c.client().List(ctx, &vwc); err != nil {
			return err
		}
		for _, cfg := range vwc.Items {
			for _, w := range cfg.Webhooks {
				add(onCreate(w.Rules))
			}
		}
		return nil
	})
	g.Go(func() error {
		var mwc admissionregistrationv1.MutatingWebhookConfigurationList
		if err := c.client().List(ctx, &mwc); err != nil {
			return err
		}
		for _, cfg := range mwc.Items {
			for _, w := range cfg.Webhooks {
				add(onCreate(w.Rules))
			}
		}
		return nil
	})
	// Admission policies (validating and mutating, of whatever version the server serves), read as
	// unstructured: their matchConstraints.resourceRules have the shape of a webhook's rules. A
	// policy counts whether or not a binding uses it, and whatever its exclusions and conditions.
	for _, kind := range []string{"ValidatingAdmissionPolicy", "MutatingAdmissionPolicy"} {
		g.Go(func() error {
			for _, v := range []string{"v1", "v1beta1", "v1alpha1"} {
				gvk := schema.GroupVersionKind{Group: admissionregistrationv1.GroupName, Version: v, Kind: kind + "List"}
				if _, ok := c.Mapping(schema.GroupVersionKind{Group: gvk.Group, Version: v, Kind: kind}); !ok {
					continue
				}
				l := &unstructured.UnstructuredList{}
				l.SetGroupVersionKind(gvk)
				if err := c.client().List(ctx, l); err != nil {
					return err
				}
				for _, p := range l.Items {
					rr, _, _ := unstructured.NestedSlice(p.Object, "spec", "matchConstraints", "resourceRules")
					for _, r := range rr {
						var rule admissionregistrationv1.RuleWithOperations
						m, _ := r.(map[string]any)
						if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &rule); err != nil {
							return fmt.Errorf("%s %s: %w", kind, p.GetName(), err)
						}
						add(onCreate([]admissionregistrationv1.RuleWithOperations{rule}))
					}
				}
				return nil
			}
			return nil
		})
	}
	g.Go(func() error {
		nss, err := c.metadata().Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ns := range nss.Items {
			view.active[ns.Name] = ns.DeletionTimestamp == nil
		}
		return nil
	})
	g.Go(func() error {
		quotas, err := c.metadata().Resource(schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, q := range quotas.Items {
			view.quota[q.Namespace] = true
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return view, nil
}

// onCreate returns the rules of a webhook or policy that apply to a create.
func onCreate(rules []admissionregistrationv1.RuleWithOperations) []admissionregistrationv1.Rule {
	var out []admissionregistrationv1.Rule
	for _, r := range rules {
		for _, op := range r.Operations {
			if op == admissionregistrationv1.Create || op == admissionregistrationv1.OperationAll {
				out = append(out, r.Rule)
				break
			}
		}
	}
	return out
}

// matches reports whether a rule may match creates of the resource. It errs on the side of a match:
// versions and scope are not compared (a rule may match another version through matchPolicy
// Equivalent), and a rule naming a subresource of the resource counts.
func matches(r admissionregistrationv1.Rule, gr schema.GroupResource) bool {
	group := false
	for _, g := range r.APIGroups {
		if g == "*" || g == gr.Group {
			group = true
		}
	}
	if !group {
		return false
	}
	for _, res := range r.Resources {
		if name, _, _ := strings.Cut(res, "/"); name == "*" || name == gr.Resource {
			return true
		}
	}
	return false
}

// crSchemas reads the CRD of each kind among items that no webhook or policy matches, and returns
// the validators of those it can check (kinds whose CRD converts through a webhook are not: the
// server's dry-run calls it).
func (c *Cluster) crSchemas(ctx context.Context, items []*Item, view *admissionView, workers int) map[schema.GroupVersionKind]CRSchema {
	kinds := map[schema.GroupVersionKind]*meta.RESTMapping{}
	for _, it := range items {
		gvk := it.Object.GroupVersionKind()
		if _, seen := kinds[gvk]; seen {
			continue
		}
		if m, ok := c.Mapping(gvk); ok && !view.hooked(m.Resource.GroupResource()) {
			kinds[gvk] = m
		}
	}
	var mu sync.Mutex
	out := map[schema.GroupVersionKind]CRSchema{}
	g := new(errgroup.Group)
	g.SetLimit(max(workers, 1))
	for gvk, m := range kinds {
		g.Go(func() error {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
			if err := c.client().Get(ctx, client.ObjectKey{Name: m.Resource.GroupResource().String()}, u); err != nil {
				return nil // not a CRD (an aggregated API), or not readable: the server checks
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &crd); err != nil {
				return nil
			}
			if crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy == apiextensionsv1.WebhookConverter {
				return nil
			}
			s, err := localSchemaCheck(&crd, gvk)
			if err != nil {
				return nil
			}
			mu.Lock()
			out[gvk] = s
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// authKey names the kind and namespace of an item for the access reviews.
func authKey(it *Item) string {
	return it.ID.Group + "/" + it.ID.Kind + "/" + it.Object.GetNamespace()
}

// allowed asks the server, once per kind and namespace, whether this client may create and patch
// such objects there (what the dry-run's authorization would tell).
func (c *Cluster) allowed(ctx context.Context, items []*Item, workers int) map[string]bool {
	type target struct {
		res schema.GroupVersionResource
		ns  string
	}
	targets := map[string]target{}
	for _, it := range items {
		if m, ok := c.Mapping(it.Object.GroupVersionKind()); ok {
			ns := it.Object.GetNamespace()
			if m.Scope.Name() != meta.RESTScopeNameNamespace {
				ns = ""
			}
			targets[authKey(it)] = target{res: m.Resource, ns: ns}
		}
	}
	var mu sync.Mutex
	out := map[string]bool{}
	g := new(errgroup.Group)
	g.SetLimit(max(workers, 1))
	for key, t := range targets {
		g.Go(func() error {
			for _, verb := range []string{"create", "patch"} {
				r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
					ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: t.ns, Verb: verb, Group: t.res.Group, Version: t.res.Version, Resource: t.res.Resource},
				}}
				if err := c.client().Create(ctx, r); err != nil || !r.Status.Allowed {
					return nil
				}
			}
			mu.Lock()
			out[key] = true
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}
