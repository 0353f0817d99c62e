package desired

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/render"
)

// TestApplyPolicyAtRender: every cluster of the example fleet renders through the default apply
// policy (its VMs, the namespaces of its VMs and networks, the stack), and an object the policy refuses
// stops the cluster's Render — what apply, sync and the controller take — so nothing is applied.
func TestApplyPolicyAtRender(t *testing.T) {
	res, err := Load(filepath.Join("..", "..", "fleet"), Options{})
	require.NoError(t, err)
	require.NotEmpty(t, res.Clusters)
	for _, c := range res.Clusters {
		_, err := Render(c)
		assert.NoError(t, err, c.Name)
	}
	c := res.Clusters[0]
	objs, err := Objects(c)
	require.NoError(t, err)
	crb := render.Object{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": "ops-admin"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}}
	err = checkPolicy(c, append(objs, crb))
	require.ErrorIs(t, err, ErrPolicy)
	assert.EqualError(t, err, "cluster "+c.Name+": rbac.authorization.k8s.io/ClusterRoleBinding ops-admin binds cluster-admin: never applied from git (rule cluster-admin): refused by the cluster's apply policy (policy: apply): nothing applied")
	secret := render.Object{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db", "namespace": c.Namespace}}
	assert.ErrorIs(t, checkPolicy(c, append(objs, secret)), ErrPolicy)
}
