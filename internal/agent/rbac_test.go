package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

const agentSA = "system:serviceaccount:vmo-cue-system:vmo-cue-agent"

// build builds a kustomization directory as `kubectl apply -k` would.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	res, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err)
	var out []*unstructured.Unstructured
	for _, r := range res.Resources() {
		data, err := r.MarshalJSON()
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(data))
		out = append(out, u)
	}
	return out
}

// TestRunsWithTheDeploymentsRights: deploy/agent, built with kustomize and applied to a real API
// server, runs the agent as its ServiceAccount (impersonated) with nothing but its ClusterRole: it
// syncs the example edge cluster (the stack's CRDs, namespaces, RBAC, workloads, VMs). The server's
// authorizer confirms what the role does not allow: Secrets, Pods, kinds the stack does not render.
func TestRunsWithTheDeploymentsRights(t *testing.T) {
	env := startClusters(t, edge)
	admin := env.Cluster(edge).Config()
	c := clientOf(t, admin)
	objs := build(t, "../../deploy/agent")
	var kinds []string
	for _, u := range objs {
		kinds = append(kinds, u.GetKind())
		if u.GetKind() == "ConfigMap" {
			require.NoError(t, unstructured.SetNestedField(u.Object, edge, "data", "cluster"))
		}
		require.NoError(t, c.Create(context.Background(), u), "%s %s", u.GetKind(), u.GetName())
	}
	assert.ElementsMatch(t, []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment"}, kinds)
	dep := &unstructured.Unstructured{}
	dep.SetAPIVersion("apps/v1")
	dep.SetKind("Deployment")
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: "vmo-cue-system", Name: "vmo-cue-agent"}, dep))
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	require.Len(t, containers, 1)
	sc := containers[0].(map[string]any)["securityContext"].(map[string]any)
	assert.Equal(t, true, sc["readOnlyRootFilesystem"])
	assert.Equal(t, false, sc["allowPrivilegeEscalation"])
	assert.Equal(t, []any{"ALL"}, sc["capabilities"].(map[string]any)["drop"])

	dir := t.TempDir()
	sa := rest4(admin)
	sa.Impersonate.UserName, sa.Impersonate.Groups = agentSA, []string{"system:serviceaccounts", "system:serviceaccounts:vmo-cue-system", "system:authenticated"}
	kc := writeKubeconfig(t, sa, "", filepath.Join(dir, "edge.kubeconfig"))
	r := newRepo(t)
	rev := r.commit("The canary store")
	startAgent(t, dir, "--kubeconfig", kc, "--repo", r.url(), "--interval", "1s", "--pending-timeout", "2s", "--prune")
	waitLocal(t, c, time.Minute, "InSync as the ServiceAccount", func(s clusterstatus.ClusterStatus) bool {
		return s.State == clusterstatus.InSync && s.Revision == "main@sha1:"+rev
	})
	var roles rbacv1.ClusterRoleList
	require.NoError(t, c.List(context.Background(), &roles, client.MatchingLabels{"vmo-cue.dev/cluster": edge}))
	assert.NotEmpty(t, roles.Items, "the stack's ClusterRoles")

	for _, tc := range []struct {
		group, resource, verb, namespace string
		allowed                          bool
	}{
		{"", "secrets", "get", "vmo-cue-system", false},
		{"", "secrets", "list", "", false},
		{"", "pods", "create", "vms", false},
		{"", "nodes", "delete", "", false},
		{"apps", "statefulsets", "create", "vms", false},
		{"storage.k8s.io", "storageclasses", "create", "", false},
		{"cdi.kubevirt.io", "datavolumes", "delete", "vms", false},
		{"kubevirt.io", "virtualmachineinstances", "delete", "vms", false},
		{"kubevirt.io", "virtualmachines", "patch", "vms", true},
		{"rbac.authorization.k8s.io", "clusterroles", "escalate", "", true},
		{"rbac.authorization.k8s.io", "clusterroles", "bind", "", true},
		{"rbac.authorization.k8s.io", "clusterrolebindings", "bind", "", false},
		{"", "configmaps", "patch", "vmo-cue-system", true},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: agentSA, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:vmo-cue-system", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: tc.group, Resource: tc.resource, Verb: tc.verb, Namespace: tc.namespace}}}
		require.NoError(t, c.Create(context.Background(), sar))
		assert.Equal(t, tc.allowed, sar.Status.Allowed, "%s %s.%s in %q", tc.verb, tc.resource, tc.group, tc.namespace)
	}
}

// TestHubComponentBuilds: deploy/agent with the hub component mounts the hub's kubeconfig Secret and
// joins the Fleet named in the ConfigMap.
func TestHubComponentBuilds(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, testfleet.CopyDir("../../deploy/agent", filepath.Join(dir, "agent")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "site"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site", "kustomization.yaml"), []byte("resources:\n- ../agent\ncomponents:\n- ../agent/hub\n"), 0o644))
	dir = filepath.Join(dir, "site")
	for _, u := range build(t, dir) {
		if u.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		args := containers[0].(map[string]any)["args"].([]any)
		assert.Contains(t, args, "--hub-kubeconfig=/etc/vmo-cue/hub/kubeconfig")
		assert.Contains(t, args, "--fleet=$(VMO_FLEET)")
		volumes, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "volumes")
		assert.Contains(t, volumes, map[string]any{"name": "hub", "secret": map[string]any{"secretName": "vmo-cue-hub", "defaultMode": int64(0o400)}})
		return
	}
	t.Fatal("no Deployment")
}
