package fleet_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

func connect(t *testing.T, env *testcluster.Env, name string) client.Client {
	t.Helper()
	rc, err := reconciler.Connect(env.Cluster(name).Config())
	require.NoError(t, err)
	return rc.Client
}
