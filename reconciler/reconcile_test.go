package reconciler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

func loadCluster(t *testing.T, dir, name string) *validate.Cluster {
	t.Helper()
	r, err := desired.Load(dir, desired.Options{})
	require.NoError(t, err)
	c := r.Cluster(name)
	require.NotNil(t, c, "cluster %s", name)
	require.True(t, c.Valid(), "%v", c.Diags)
	return c
}

// desiredOf renders a validated cluster for the reconciler.
func desiredOf(tb testing.TB, vc *validate.Cluster) *reconciler.Desired {
	tb.Helper()
	d, err := desired.Render(vc)
	require.NoError(tb, err)
	return d
}

func TestApplyThenInSync(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "edge")
	vc := loadCluster(t, "../fleet", "edge-store-2")
	rc, err := reconciler.Connect(env.Cluster("edge").Config())
	require.NoError(t, err)
	ctx := context.Background()

	start := time.Now()
	res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", PendingTimeout: 5 * time.Second, Logf: t.Logf})
	require.NoError(t, err, "%v", res.Failed)
	t.Logf("first apply: %d objects in %s, %d requests", len(res.Applied), time.Since(start), res.Requests)
	assert.Empty(t, res.Pending)
	assert.Empty(t, res.Failed)
	assert.Len(t, res.Applied, len(desiredOf(t, vc).Objects), "every desired object applied")

	res2, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1"})
	require.NoError(t, err)
	assert.True(t, res2.InSync(), "%+v", res2)
	kinds := map[string]bool{}
	for _, it := range res.Applied {
		kinds[it.ID.Group+"/"+it.ID.Kind] = true
	}
	t.Logf("re-apply: %d requests for %d kinds", res2.Requests, len(kinds))
	assert.Equal(t, int64(len(kinds)+2), res2.Requests, "the inventory and identity GETs and one LIST per kind")
	assert.False(t, res2.Written)
}
