package deploy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/vmo-cue/vmo-cue/deploy"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
)

const (
	namespace      = "vmo-cue-system"
	serviceAccount = "system:serviceaccount:vmo-cue-system:vmo-cue-controller"
)

// build runs kustomize on a base of this folder, as `kubectl apply -k` would.
func build(t *testing.T, base string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), base)
	require.NoError(t, err, "kustomize build %s", base)
	var out []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		m, err := r.Map()
		require.NoError(t, err)
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// TestCRDsBase: deploy/crds holds every CRD deploy.CRDs serves, and nothing else.
func TestCRDsBase(t *testing.T) {
	crds, err := deploy.CRDs()
	require.NoError(t, err)
	var want []string
	for _, c := range crds {
		want = append(want, "CustomResourceDefinition/"+c.Name)
	}
	require.ElementsMatch(t, []string{"CustomResourceDefinition/fleets.fleet.vmo-cue.dev",
		"CustomResourceDefinition/fleetclusters.fleet.vmo-cue.dev"}, want)
	require.ElementsMatch(t, want, names(build(t, "crds")))
}

// TestControllerBase builds deploy/controller, checks what it holds, applies every object to a real
// API server (server-side apply) with no warning — the namespace enforces and warns about the
// restricted Pod Security Standard, so a Deployment that breaks it is warned about — and checks the
// ServiceAccount's rights against the API server's own authorizer: what the controller needs, and
// nothing more.
func TestControllerBase(t *testing.T) {
	objs := build(t, "controller")
	require.Equal(t, []string{
		"Namespace/vmo-cue-system",
		"CustomResourceDefinition/fleetclusters.fleet.vmo-cue.dev",
		"CustomResourceDefinition/fleets.fleet.vmo-cue.dev",
		"ServiceAccount/vmo-cue-controller",
		"Role/vmo-cue-controller",
		"RoleBinding/vmo-cue-controller",
		"Deployment/vmo-cue-controller",
		"Service/vmo-cue-controller-metrics",
		"Service/vmo-cue-controller-webhook",
	}, names(objs), "no ClusterRole: the controller's rights end at its namespace")
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			require.Empty(t, o.GetNamespace(), o.GetName())
		default:
			require.Equal(t, namespace, o.GetNamespace(), "%s/%s", o.GetKind(), o.GetName())
		}
		require.Equal(t, "vmo-cue", o.GetLabels()["app.kubernetes.io/part-of"], "%s/%s", o.GetKind(), o.GetName())
	}
	dep := &appsv1.Deployment{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(objs[6].Object, dep))
	ctr := dep.Spec.Template.Spec.Containers[0]
	require.Equal(t, "ghcr.io/vmo-cue/vmo-cue:latest", ctr.Image)
	require.Equal(t, []string{"controller", "--leader-elect", "--metrics-bind-address=:8080", "--health-probe-bind-address=:9440", "--eval-memory=256MiB"}, ctr.Args)
	require.Equal(t, "/healthz", ctr.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/readyz", ctr.ReadinessProbe.HTTPGet.Path)
	require.False(t, ctr.Resources.Requests.Cpu().IsZero())
	require.False(t, ctr.Resources.Limits.Memory().IsZero())
	require.True(t, *ctr.SecurityContext.ReadOnlyRootFilesystem)
	require.Equal(t, "vmo-cue-controller", dep.Spec.Template.Spec.ServiceAccountName)

	env := testcluster.Start(t, "mgmt")
	cfg := env.Cluster("mgmt").Config()
	warnings := &warningLog{}
	cfg.WarningHandlerWithContext = warnings
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	for _, o := range objs {
		err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("deploy-test"), client.ForceOwnership)
		require.NoError(t, err, "apply %s/%s", o.GetKind(), o.GetName())
	}
	require.Empty(t, warnings.all(), "the API server warned")
	waitEstablished(t, c, "fleets.fleet.vmo-cue.dev", "fleetclusters.fleet.vmo-cue.dev")
	checkRights(t, kubernetes.NewForConfigOrDie(cfg))
}

// checkRights asks the API server whether the controller's ServiceAccount may do each thing.
func checkRights(t *testing.T, kube kubernetes.Interface) {
	type can struct {
		verb, group, resource, subresource, namespace string
		allowed                                       bool
	}
	const fleetGroup = "fleet.vmo-cue.dev"
	tests := []can{
		// What the controller does, in its namespace.
		{"watch", fleetGroup, "fleets", "", namespace, true},
		{"patch", fleetGroup, "fleets", "", namespace, true},
		{"patch", fleetGroup, "fleets", "status", namespace, true},
		{"update", fleetGroup, "fleets", "finalizers", namespace, true},
		{"create", fleetGroup, "fleetclusters", "", namespace, true},
		{"delete", fleetGroup, "fleetclusters", "", namespace, true},
		{"patch", fleetGroup, "fleetclusters", "status", namespace, true},
		{"list", "", "secrets", "", namespace, true},
		{"watch", "", "secrets", "", namespace, false},
		{"create", "", "events", "", namespace, true},
		{"patch", "events.k8s.io", "events", "", namespace, true},
		{"create", "coordination.k8s.io", "leases", "", namespace, true},
		{"update", "coordination.k8s.io", "leases", "", namespace, true},
		// Nothing more there.
		{"create", fleetGroup, "fleets", "", namespace, false},
		{"delete", fleetGroup, "fleets", "", namespace, false},
		{"update", fleetGroup, "fleets", "", namespace, false},
		{"update", fleetGroup, "fleetclusters", "finalizers", namespace, false},
		{"create", "", "secrets", "", namespace, false},
		{"update", "", "secrets", "", namespace, false},
		{"delete", "coordination.k8s.io", "leases", "", namespace, false},
		{"list", "", "configmaps", "", namespace, false},
		{"create", "", "pods", "", namespace, false},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", namespace, false},
		// Nothing elsewhere, nothing cluster-wide.
		{"list", fleetGroup, "fleets", "", "", false},
		{"list", fleetGroup, "fleets", "", "default", false},
		{"get", "", "secrets", "", "default", false},
		{"list", "", "secrets", "", "", false},
		{"create", "", "events", "", "default", false},
		{"list", "", "namespaces", "", "", false},
		{"get", "apiextensions.k8s.io", "customresourcedefinitions", "", "", false},
		{"impersonate", "", "serviceaccounts", "", namespace, false},
	}
	for _, tt := range tests {
		name := tt.verb + " " + tt.resource
		if tt.subresource != "" {
			name += "/" + tt.subresource
		}
		if tt.namespace != "" {
			name += " in " + tt.namespace
		}
		t.Run(name, func(t *testing.T) {
			review, err := kube.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User:   serviceAccount,
					Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
					ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tt.verb, Group: tt.group,
						Resource: tt.resource, Subresource: tt.subresource, Namespace: tt.namespace},
				},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			assert.Equal(t, tt.allowed, review.Status.Allowed, "allowed (%s)", review.Status.Reason)
		})
	}
}

// waitEstablished waits until the CRDs are served.
func waitEstablished(t *testing.T, c client.Client, crds ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, name := range crds {
		for {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: name}, crd))
			established := false
			for _, cond := range crd.Status.Conditions {
				established = established || (cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue)
			}
			if established {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("CRD %s not Established: %v", name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// warningLog collects the warnings the API server sends.
type warningLog struct {
	mu   sync.Mutex
	seen []string
}

func (w *warningLog) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warningLog) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}
